#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# The work is done by the action plugin of the same name, on the controller; this file documents it.

from __future__ import annotations

DOCUMENTATION = r"""
module: audit_report
short_description: Aggregate fleet audit results into a table and JSON, Markdown and HTML reports
version_added: 1.0.0
description:
  - Runs on the controller only (an action plugin); it contacts no host and costs no round trip.
  - Reads the result that an audit task registered on each host in O(hosts) (normally the result of
    M(nodeprep.netfilter.docker_iptables_audit), which carries the br_netfilter facts too; a
    M(nodeprep.netfilter.br_netfilter_facts) result works as well).
  - Prints a summary table (host, status, br_netfilter state, ready now, ready after reboot, Docker, iptables,
    worst finding), then each host's sysctls (live, after reboot, winning file and line) and findings with their
    remediation.
  - Writes C(report.json) (schema in C(docs/audit-report-schema.md)), C(report.md) and a self-contained
    C(report.html) (no network assets) under O(dest). Both lead with a summary (hosts by verdict, status and worst
    severity) and the findings grouped by code, each with its remediation and references once, then the hosts. The
    HTML filters by severity, code and host name, and shows a host's sysctls and findings when it is selected;
    it stays fast for thousands of hosts.
  - Text that comes from the hosts (names, errors, messages, paths) is escaped for HTML, Markdown and the terminal.
  - Unreachable hosts, hosts where the audit failed and hosts without a result are listed with a C(high) finding
    (C(HOST_UNREACHABLE), C(AUDIT_FAILED), C(AUDIT_NOT_RUN)), so O(fail_on) treats an unknown host like a broken one.
  - A name in O(hosts) that the inventory does not know is reported like a host without a result (C(AUDIT_NOT_RUN)),
    with a warning naming it.
  - Fails, after writing the reports, when any host has a finding at or above O(fail_on) (unless O(fail_task=false)).
author:
  - nodeprep.netfilter developers (!UNKNOWN)
options:
  hosts:
    description:
      - The hosts to report on, in report order, usually C(ansible_play_hosts_all).
    type: list
    elements: str
    required: true
  result_var:
    description:
      - Name of the variable each host registered the audit result in.
    type: str
    default: nodeprep_audit_result
  fail_on:
    description:
      - Fail when any host has a finding of this severity or worse. V(none) never fails.
      - Severities, lowest first, are V(info), V(low), V(medium), V(high).
    type: str
    choices: [none, info, low, medium, high]
    default: high
  dest:
    description:
      - Directory on the controller for the report files; created if missing. A relative path is relative to the
        working directory of C(ansible-playbook).
    type: path
    default: reports
  formats:
    description:
      - Which files to write. V(json) is C(report.json), V(md) is C(report.md), V(html) is C(report.html).
    type: list
    elements: str
    choices: [html, json, md]
    default: [json, md, html]
  title:
    description:
      - Title of the Markdown and HTML reports.
    type: str
  show_table:
    description:
      - Print the summary table on the terminal.
    type: bool
    default: true
  show_details:
    description:
      - Print each host's sysctls and findings below the table.
    type: bool
    default: true
  fail_task:
    description:
      - Fail this task when the verdict is V(fail). With V(false) the task reports the verdict in its result and
        a later task decides (the audit playbook first publishes the summary with M(ansible.builtin.set_stats)).
    type: bool
    default: true
attributes:
  action:
    support: full
    description: Runs as an action plugin on the controller.
  async:
    support: none
    description: Cannot run asynchronously.
  check_mode:
    support: full
    description: In check mode the table is printed and the verdict applied, but no file is written.
  diff_mode:
    support: none
    description: Shows no diff.
  platform:
    platforms: all
    support: full
    description: Runs on the controller.
notes:
  - Use it once per play, with C(run_once) and C(delegate_to) V(localhost), after the task that registers
    O(result_var).
seealso:
  - module: nodeprep.netfilter.docker_iptables_audit
  - module: nodeprep.netfilter.br_netfilter_facts
"""

EXAMPLES = r"""
- name: Audit every host (one round trip each)
  nodeprep.netfilter.br_netfilter_facts:
  register: nodeprep_audit_result
  ignore_unreachable: true
  ignore_errors: true

- name: Write the fleet report on the controller
  nodeprep.netfilter.audit_report:
    hosts: "{{ ansible_play_hosts_all }}"
    fail_on: medium
    dest: /var/tmp/audit
  run_once: true
  delegate_to: localhost
"""

RETURN = r"""
verdict:
  description: V(fail) when a host reaches O(fail_on), otherwise V(pass).
  returned: always
  type: str
  sample: fail
failing_hosts:
  description: Hosts with a finding at or above O(fail_on).
  returned: always
  type: list
  elements: str
  sample: [node-3]
summary:
  description: The C(summary) object of C(report.json) (host counts by status, ready, findings by severity).
  returned: always
  type: dict
paths:
  description: The files written, by format (empty in check mode).
  returned: always
  type: dict
  sample: {"json": "/work/reports/report.json", "md": "/work/reports/report.md", "html": "/work/reports/report.html"}
"""
