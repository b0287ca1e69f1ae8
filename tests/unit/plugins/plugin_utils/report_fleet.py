# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Registered results for the report tests: the fixture trees they use, and results of hosts that failed."""

from __future__ import annotations

HEALTHY = "derived-trixie-6.12-persisted-k8s"
FALSE_POSITIVE = "derived-trixie-6.12-false-positive"
BRIDGE_ONLY = "trixie-6.12-state-b-bridge-only"
BLOCKED = "derived-trixie-6.12-blocked-install-false"
NOW = "2025-01-02T03:04:05Z"

UNREACHABLE = {
    "unreachable": True, "changed": False,
    "msg": "Task failed: Failed to connect to the host via ssh: ssh: connect to host 10.9.9.9 port 22: No route to host",
}
FAILED = {
    "failed": True, "changed": False, "rc": 127, "module_stdout": "",
    "module_stderr": "/bin/sh: 1: /usr/bin/python3: not found\n",
    "msg": "The module interpreter '/usr/bin/python3' was not found.",
}


def audit_module_result(facts):
    """Shape of nodeprep.netfilter.docker_iptables_audit's result (see _docker_audit.summarize)."""
    return {
        "changed": False,
        "br_netfilter": facts,
        "findings": [
            {"code": "DOCKER_ICC_WITHOUT_BR_NETFILTER", "severity": "high",
             "message": "icc=false needs br_netfilter", "evidence": {"icc": False},
             "remediation": "Load br_netfilter.", "reference": ["https://github.com/moby/moby/pull/49306"]},
            {"code": "DEBIAN_IPTABLES_1_8_11_1", "severity": "medium", "message": "iptables 1.8.11-1",
             "evidence": {}, "remediation": "Upgrade to 1.8.11-2.", "reference": ["https://github.com/moby/moby/issues/49667"]},
        ],
        "summary": {
            "docker_present": True, "docker_version": "28.5.2", "docker_version_source": "engine",
            "docker_package": "docker.io", "docker_package_version": "28.5.2+dfsg4-5", "engine_running": True,
            "rootless_users": [], "settings": {"icc": False}, "ignore_br_netfilter_error": False,
            "iptables_binary": "/usr/sbin/iptables", "iptables_version": "1.8.11", "iptables_backend": "nf_tables",
            "iptables_package_version": "1.8.11-1", "backends_read": ["nf_tables"], "rule_checks": "done",
        },
    }
