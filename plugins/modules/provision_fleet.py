#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# The work is done by the action plugin of the same name, on the controller; this file documents it.

from __future__ import annotations

DOCUMENTATION = r"""
module: provision_fleet
short_description: Controller side of the provisioning playbook (input check, batch numbers, fleet report)
version_added: 1.1.0
description:
  - Runs on the controller only (an action plugin); it contacts no host and costs no round trip.
  - Used by the C(nodeprep.netfilter.provision) playbook, see C(docs/provisioning.md).
  - O(phase=validate) judges every targeted host's inputs (C(provision_profile), C(provision_pin_presets) and the
    package_pin role's pin variables) and the play-wide settings, and fails, naming every problem, before any
    host is touched. Pins are judged by the same code the package_pin role runs on the host, with what needs no
    host (a version pinned twice, pinned and forbidden, known bad, malformed).
  - O(phase=start) numbers the batch that starts now; register it with C(run_once) so every host of the batch has it.
  - O(phase=finish) builds the fleet report (before and after per host; what changed, what was fixed, what
    remains), prints it, writes C(provision.json) (schema in C(docs/provision-report-schema.md)),
    C(provision.md) and C(provision.html) under O(dest), and returns the hosts of the batch that failed their
    post-check in RV(batch_failed).
author:
  - nodeprep.netfilter developers (!UNKNOWN)
options:
  phase:
    description: What to do, see the description.
    type: str
    required: true
    choices: [validate, start, finish]
  hosts:
    description:
      - Every targeted host. With O(phase=validate), the hosts whose inputs are checked; otherwise the play's
        hosts (C(ansible_play_hosts_all)), in report order.
    type: list
    elements: str
    required: true
  batch:
    description: The hosts of the current batch (C(ansible_play_batch) at its start).
    type: list
    elements: str
    default: []
  default_profile:
    description: The profile of hosts that set no C(provision_profile).
    type: str
    choices: [docker_host, k8s_node, verify_only]
    default: docker_host
  settings:
    description:
      - With O(phase=validate), the play-wide settings C(serial), C(max_fail_percentage), C(order), C(reboot),
        C(fail_on), C(health_retries) and C(health_delay).
    type: dict
    default: {}
  fail_on:
    description: The post-check threshold; a host with a finding this severe or worse after provisioning fails.
    type: str
    choices: [none, info, low, medium, high]
    default: high
  dest:
    description: Controller directory for the report files; created if missing.
    type: path
    default: reports
  formats:
    description: Which files to write.
    type: list
    elements: str
    choices: [html, json, md]
    default: [json, md, html]
  title:
    description: Title of the Markdown and HTML reports.
    type: str
  show_details:
    description: Print each provisioned host's changes, fixed and remaining findings below the table.
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
    description: >-
      In check mode the report is written too, marked C(check_mode), with the verdict V(dry_run): it describes
      what the run would do and changes no host. Only an error (a role refusing a host) fails a host in check mode.
  diff_mode:
    support: none
    description: Shows no diff.
  platform:
    platforms: all
    support: full
    description: Runs on the controller.
notes:
  - Reads, per host, the variables the provisioning playbook registers (C(nodeprep_provision_before),
    C(nodeprep_provision_after), C(nodeprep_provision_batch), C(nodeprep_provision_error),
    C(nodeprep_provision_restart), C(nodeprep_provision_health), C(nodeprep_provision_reboot)).
seealso:
  - module: nodeprep.netfilter.audit_report
  - module: nodeprep.netfilter.docker_iptables_audit
"""

EXAMPLES = r"""
- name: Refuse bad input before any host is touched
  nodeprep.netfilter.provision_fleet:
    phase: validate
    hosts: "{{ query('ansible.builtin.inventory_hostnames', 'all') }}"
    settings:
      serial: [1, "20%"]
      max_fail_percentage: 0
      order: inventory
      reboot: none
      fail_on: high
      health_retries: 12
      health_delay: 5
  run_once: true
"""

RETURN = r"""
batch:
  description: With O(phase=start), the number of the batch that starts now (1 is the canary batch).
  returned: phase is start
  type: int
  sample: 1
canary:
  description: With O(phase=start), whether this is the first batch.
  returned: phase is start
  type: bool
started_at:
  description: With O(phase=start), the controller's UTC time the batch started at.
  returned: phase is start
  type: str
  sample: "2026-11-28T07:00:00.000Z"
errors:
  description: With O(phase=validate), every problem found.
  returned: phase is validate
  type: list
  elements: str
verdict:
  description: With O(phase=finish), the fleet's verdict so far (V(pass), V(fail), V(in_progress), V(dry_run)).
  returned: phase is finish
  type: str
batch_failed:
  description: With O(phase=finish), the hosts of O(batch) that failed their post-check.
  returned: phase is finish
  type: list
  elements: str
problems:
  description: With O(phase=finish), per host of O(batch), why it failed (empty lists for hosts that passed).
  returned: phase is finish
  type: dict
failing_hosts:
  description: With O(phase=finish), every host that failed so far.
  returned: phase is finish
  type: list
  elements: str
summary:
  description: With O(phase=finish), the C(summary) object of C(provision.json).
  returned: phase is finish
  type: dict
paths:
  description: With O(phase=finish), the files written, by format.
  returned: phase is finish
  type: dict
"""
