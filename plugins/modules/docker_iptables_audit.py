#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: docker_iptables_audit
short_description: Audit Docker's iptables rules, settings and versions against known issues (read-only)
version_added: 1.0.0
description:
  - Collects how Docker is installed and configured (engine API, package database, C(daemon.json),
    C(docker.service) and its drop-ins, rootless user units), the iptables version and backend, the rules
    of both iptables backends, and the br_netfilter verdict of M(nodeprep.netfilter.br_netfilter_facts).
  - Checks them against one table of known issues and against the chains, jumps, MASQUERADE and DNAT rules
    Docker must have, and returns the result as O(ignore:findings) plus a O(ignore:summary).
  - Read-only. Commands run from argument lists, never through a shell; see the notes for which ones and when.
  - "Finding codes: AUDIT_UNPRIVILEGED, DOCKER_NOT_INSTALLED, PACKAGE_DB_UNREADABLE, DOCKER_VERSION_UNKNOWN, DOCKER_ENGINE_NOT_RUNNING, DOCKER_ROOTLESS,
    DOCKER_IPTABLES_DISABLED, DOCKER_FIREWALL_BACKEND_NFTABLES, IPTABLES_NOT_FOUND, IPTABLES_READ_FAILED,
    DAEMON_JSON_INVALID, DOCKERD_FLAG_CONFLICT, DOCKER_BR_NETFILTER_REQUIRED_NO_ESCAPE,
    DOCKER_BR_NETFILTER_REQUIRED, DOCKER_BR_NETFILTER_ERROR_IGNORED, DOCKER_IGNORE_BR_NETFILTER_ERROR_SET,
    DOCKER_IGNORE_BR_NETFILTER_ERROR_DELIBERATE, DOCKER_USERLAND_PROXY_BR_NETFILTER_UNCHECKED,
    DOCKER_27_3_BR_NETFILTER_DETECTION, DOCKER_28_0_0_ROOTLESS_SLIRP4NETNS, IPTABLES_1_8_11_1_DEBIAN,
    DOCKER_RULES_ABSENT, DOCKER_CHAINS_IN_INACTIVE_BACKEND, IPTABLES_RULES_IN_BOTH_BACKENDS, DOCKER_CHAIN_MISSING,
    DOCKER_JUMP_MISSING, DOCKER_USER_NOT_FIRST, DOCKER_MASQUERADE_MISSING, DOCKER_DNAT_MISSING,
    DOCKER_DNAT_MISSING_PROXIED.
    Their conditions, severities and references are in C(plugins/module_utils/_known_issues.py)."
  - The br_netfilter findings come from the same decision the C(nodeprep.netfilter.docker_br_netfilter_compat) role
    acts on (C(plugins/module_utils/_br_netfilter_need.py)), which models each Docker release's bridge driver per
    setting; a DOCKER_IGNORE_BR_NETFILTER_ERROR drop-in that role wrote with C(mode=always) is reported as deliberate.
  - While dockerd cannot start (an invalid daemon.json, a flag given twice, or br_netfilter missing where dockerd needs
    it) and the engine does not answer, the rules a failed start left behind are not audited; the cause is reported.
  - With userland-proxy on (the default) a published port whose DNAT rule is gone still answers through docker-proxy, so
    that is DOCKER_DNAT_MISSING_PROXIED (medium); with userland-proxy=false it is DOCKER_DNAT_MISSING (high)."
  - IPv6 is audited like IPv4 (chains, jumps, MASQUERADE per IPv6 subnet, DNAT per port published on C(::)) from
    C(ip6tables-save) of the same backend, wherever dockerd writes ip6tables rules (C(ip6tables) in daemon.json or
    on its command line; by default from Docker 27.0 on; never with C(iptables=false)) and the engine lists a network
    with C(EnableIPv6) and an IPv6 subnet. Without the engine that is reported as unknown in
    O(ignore:summary.ip6tables), not guessed. IPv6 findings carry C(family=ipv6) in their evidence and name
    ip6tables in their message; the known-issues table says per row which families it applies to."
author:
  - nodeprep.netfilter developers (!UNKNOWN)
extends_documentation_fragment:
  - nodeprep.netfilter._attributes
  - nodeprep.netfilter._attributes.info_module
  - nodeprep.netfilter._attributes.platform_linux
options:
  fail_on:
    description:
      - Fail the task when a finding has this severity or a higher one (V(info) < V(low) < V(medium) < V(high)).
      - V(none) never fails; the findings are returned either way.
    type: str
    choices: [none, low, medium, high]
    default: none
  root:
    description:
      - Directory to read the host's files from (package database, units, C(daemon.json), C(/proc) for
        br_netfilter). For tests and chroots.
      - Commands, the Docker socket, C(/proc/net/route) and C(/proc/net/ip_tables_names) always belong to
        the running host (or to O(netns)).
    type: path
    default: /
  netns:
    description:
      - Name of a network namespace (as created by C(ip netns add NAME)) to audit instead of the host's.
      - The module enters it with C(setns(2)) before reading anything, like C(ip netns exec NAME), so every
        iptables command and C(/proc/net) read sees that namespace.
      - The engine at O(docker_socket) is still asked; set O(query_engine=false) unless that engine runs in
        the namespace, or its networks and containers will be compared with rules they do not own.
    type: str
  docker_socket:
    description:
      - Unix socket of the Docker Engine API. The engine is asked for its version, info, networks and
        running containers; no C(docker) CLI is started.
    type: path
    default: /var/run/docker.sock
  query_engine:
    description:
      - Ask the Docker Engine API. When V(false), the Docker version comes from the package database
        and expected networks and published ports are derived from the rules themselves.
    type: bool
    default: true
  iptables_binary:
    description:
      - Name or absolute path of the C(iptables) binary whose backend Docker uses. C(iptables-nft-save)
        and C(iptables-legacy-save) are looked up next to it first, then in E(PATH).
      - A value other than the default that names no executable is an error (the audit never falls back to
        another iptables). With the default, a host without iptables gets the finding C(IPTABLES_NOT_FOUND).
    type: str
    default: iptables
  br_netfilter:
    description:
      - Include the br_netfilter verdict (the same facts as M(nodeprep.netfilter.br_netfilter_facts)) so that
        one module call per host covers the whole audit.
    type: bool
    default: true
notes:
  - "Subprocesses: C(iptables --version) (always, when iptables exists), C(iptables-nft-save) (when installed),
    C(iptables-legacy-save) (only when C(/proc/net/ip_tables_names) lists a table),
    C(ip6tables-nft-save) or C(ip6tables-legacy-save) (once, for the backend C(iptables --version) names; legacy
    only when C(/proc/net/ip6_tables_names) lists a table), C(dockerd --version)
    (only when neither the engine nor the package database knows the version), C(rpm -q) (only without
    C(/var/lib/dpkg/status)). The save commands run without C(-t): C(iptables-legacy-save -t nat) would
    create the legacy nat table as a side effect."
  - "Deadlines: every command above has an overall deadline of 30 seconds; at the deadline it is killed with its
    whole process group (it then shows in O(ignore:commands) with rc 124 and becomes an C(IPTABLES_READ_FAILED)
    finding), and a command writing more than 16 MiB is killed the same way (rc 125). The Docker Engine API
    has an overall deadline of 10 seconds per request and 20 seconds for all its requests together, and its
    replies are capped at 16 MiB. No subprocess or socket can hold the task longer than that."
  - Rootless Docker keeps its rules inside RootlessKit's network namespace; they are reported as
    C(DOCKER_ROOTLESS) but not audited.
seealso:
  - module: nodeprep.netfilter.br_netfilter_facts
"""

EXAMPLES = r"""
- name: Audit Docker and iptables
  nodeprep.netfilter.docker_iptables_audit:
  register: docker_audit

- name: Show the findings
  ansible.builtin.debug:
    msg: "{{ docker_audit.findings | map(attribute='message') | list }}"

- name: Fail the play on any medium or high finding
  nodeprep.netfilter.docker_iptables_audit:
    fail_on: medium

- name: React to one finding code
  ansible.builtin.debug:
    msg: "Published ports lost their DNAT rules: restart dockerd"
  when: "'DOCKER_DNAT_MISSING' in docker_audit.summary.codes or 'DOCKER_DNAT_MISSING_PROXIED' in docker_audit.summary.codes"

- name: Audit the rules inside a network namespace
  nodeprep.netfilter.docker_iptables_audit:
    netns: ci-docker
"""

RETURN = r"""
findings:
  description:
    - One entry per problem found, most severe first, as C({code, severity, message, evidence, remediation, reference}).
    - C(severity) is V(info), V(low), V(medium) or V(high); C(code) is stable; C(evidence) holds the values the
      check used; C(reference) is a list of URLs.
  returned: always
  type: list
  elements: dict
  sample:
    - code: DOCKER_DNAT_MISSING
      severity: high
      message: "No DNAT rule for host port 8080 (tcp) to 172.17.0.2:80 (container web): with userland-proxy=false nothing
        else forwards that port, so the container is unreachable on it."
      evidence: {"port": 8080, "port_text": "host port 8080", "proto": "tcp", "destination": "172.17.0.2:80",
                 "container": "container web", "expected_from": "engine"}
      remediation: Restart dockerd or the container; ...
      reference: ["https://github.com/moby/moby/issues/49667"]
summary:
  description:
    - What was audited. Keys include C(docker_present), C(docker_version), C(docker_version_source),
      C(engine_running), C(settings) (effective icc, userland-proxy, iptables, ...) and C(settings_sources),
      C(ignore_br_netfilter_error), C(br_netfilter_state), C(br_netfilter_needed_by), C(br_netfilter_escape_hatch)
      (V(not_needed), V(needed), V(impossible), V(unknown) or V(null)), C(br_netfilter_escape_hatch_mode) (V(auto) or
      V(always) when the role's drop-in sets the variable), C(iptables_version),
      C(iptables_backend), C(iptables_package_version), C(backends_read), C(docker_chains) (per backend and table),
      C(networks_checked), C(published_ports_checked), C(rule_checks) (V(done) or why skipped), C(ip6tables)
      (C(enabled) V(true), V(false) or V(null) for unknown, C(enabled_why), C(networks_checked) or V(unknown),
      C(published_ports_checked), C(docker_chains), C(rule_checks)), C(packages_known), C(counts)
      (per severity), C(highest_severity) and C(codes).
  returned: always
  type: dict
br_netfilter:
  description: The br_netfilter facts (see M(nodeprep.netfilter.br_netfilter_facts)), or V(null) when not gathered.
  returned: always
  type: dict
br_netfilter_error:
  description: Why the br_netfilter facts could not be gathered (V(null) when they were or were not asked for).
  returned: always
  type: str
commands:
  description: The commands run, as C({argv, rc, seconds}), in order.
  returned: always
  type: list
  elements: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nodeprep.netfilter.plugins.module_utils._br_netfilter import gather_br_netfilter_facts
from ansible_collections.nodeprep.netfilter.plugins.module_utils._docker_audit import audit, failing
from ansible_collections.nodeprep.netfilter.plugins.module_utils._docker_collect import (
    COMMAND_TIMEOUT,
    bounded_runner,
    collect,
)
from ansible_collections.nodeprep.netfilter.plugins.module_utils._netns import NetnsError, enter_netns


def _which(module):
    def which(name):
        if os.path.isabs(name):
            return name if os.access(name, os.X_OK) else None
        return module.get_bin_path(name)
    return which


def main():
    module = AnsibleModule(
        argument_spec=dict(
            fail_on=dict(type="str", default="none", choices=["none", "low", "medium", "high"]),
            root=dict(type="path", default="/"),
            netns=dict(type="str"),
            docker_socket=dict(type="path", default="/var/run/docker.sock"),
            query_engine=dict(type="bool", default=True),
            iptables_binary=dict(type="str", default="iptables"),
            br_netfilter=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if not os.path.isdir(params["root"]):
        module.fail_json(msg="root %r is not a directory" % params["root"])
    which = _which(module)
    # An explicit binary that does not exist must not silently become the host's default iptables.
    if params["iptables_binary"] != "iptables" and which(params["iptables_binary"]) is None:
        module.fail_json(msg="iptables_binary %r is not an executable (searched PATH and the sbin directories)"
                         % params["iptables_binary"])
    if params["netns"]:
        try:
            enter_netns(params["netns"])
        except NetnsError as exc:
            module.fail_json(msg=str(exc))

    def no_engine(socket_path):
        return {"socket": socket_path, "socket_present": None, "reachable": False, "error": "query_engine=false",
                "info": None, "networks": None, "containers": None}

    collected = collect(
        # Not module.run_command: it has no deadline. Each command is killed (with its process group) after
        # COMMAND_TIMEOUT seconds and its output capped, so a stuck iptables-nft-save cannot hold the task.
        root=params["root"], run=bounded_runner(COMMAND_TIMEOUT), which=which,
        query_engine=None if params["query_engine"] else no_engine,  # None: the engine client only where a socket is
        gather_br=gather_br_netfilter_facts if params["br_netfilter"] else None,
        socket_path=params["docker_socket"], iptables_binary=params["iptables_binary"],
    )
    result = audit(collected)
    output = dict(changed=False, findings=result["findings"], summary=result["summary"],
                  br_netfilter=collected["br_netfilter"], br_netfilter_error=collected["br_netfilter_error"],
                  commands=collected["commands"])
    if collected.get("br_netfilter_error"):
        module.warn("br_netfilter facts could not be gathered: %s" % collected["br_netfilter_error"])
    bad = failing(result["findings"], params["fail_on"])
    if bad:
        codes = sorted(set(item["code"] for item in bad))
        module.fail_json(msg="%d finding(s) at or above %s: %s" % (len(bad), params["fail_on"], ", ".join(codes)),
                         **output)
    module.exit_json(**output)


if __name__ == "__main__":
    main()
