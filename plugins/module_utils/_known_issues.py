# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Every finding ``docker_iptables_audit`` can report, as data. No Ansible import.

``KNOWN_ISSUES`` is the one table of finding codes. The module, its
documentation and the unit tests all read it. A row says:

* ``code``: stable identifier, safe to ``when:`` on.
* ``kind``: ``status`` (what could be audited), ``config`` (a setting dockerd
  refuses or that drops isolation), ``version`` (a known bug of a release) or
  ``rules`` (derived from the live iptables rules).
* ``component`` and ``versions``: the affected range, or None for any version.
  ``docker`` is compared on the upstream version (``27.3.1``); ``iptables-deb``
  on the full Debian package version of ``iptables`` (``1.8.11-1``). A range is
  ``{"exact": [...]}`` or ``{"min": inclusive, "before": exclusive}``.
* ``condition``: the name of a predicate in ``_docker_audit.CONDITIONS``; it
  returns one evidence dict per occurrence (none: no finding).
* ``families``: the address families the row applies to (``BOTH`` or ``IPV4``); see ``BOTH`` below.
* ``severity``: info, low, medium or high.
* ``message`` (may use ``{placeholders}`` filled from the evidence),
  ``remediation`` and ``reference`` (list of URLs).

``EXPECTED_CHAINS`` and ``EXPECTED_JUMPS`` say which chains and jumps each
Docker release creates with its iptables firewall backend, in iptables and, where
dockerd's ip6tables is on and a network has IPv6, in ip6tables alike (measured on
Docker 28.5.2, see VM-NOTES).
"""

from __future__ import annotations

SEVERITIES = ("info", "low", "medium", "high")

#: ``families`` of a row: the address families it concerns. Rule checks run per family (iptables for IPv4,
#: ip6tables for IPv6, from the same backend) and tag their evidence with ``family``; the audit drops evidence of a
#: family the row does not list. A row whose evidence names no family is about the host or dockerd as a whole.
BOTH = ("ipv4", "ipv6")
#: IPv4 only: the other backend is read for iptables alone, and the br_netfilter decision models
#: bridge-nf-call-iptables (not -ip6tables).
IPV4 = ("ipv4",)

MOBY = "https://github.com/moby/moby/"
MOBY_BLOB = MOBY + "blob/"

KNOWN_ISSUES = [
    # --- status: what could be audited -----------------------------------
    {
        "code": "AUDIT_UNPRIVILEGED",
        "kind": "status",
        "families": BOTH,
        "component": None,
        "versions": None,
        "condition": "audit_unprivileged",
        "severity": "high",
        "message": "The audit ran as uid {uid} without {missing}: iptables rules and root-only files cannot be "
                   "read, so this host was not really audited.",
        "remediation": "Run the audit with privilege escalation (the nodeprep.netfilter.audit playbook uses become; "
                       "give the audit user sudo, or set ansible_become_method/ansible_become_user for this host).",
        "reference": ["https://docs.ansible.com/ansible/latest/playbook_guide/playbooks_privilege_escalation.html"],
    },
    {
        "code": "DOCKER_NOT_INSTALLED",
        "kind": "status",
        "families": BOTH,
        "component": None,
        "versions": None,
        "condition": "docker_not_installed",
        "severity": "info",
        "message": "No Docker engine found: no engine package, dockerd binary, docker.service unit, "
                   "reachable API socket or Docker iptables chains.",
        "remediation": "Nothing to do unless this host should run Docker.",
        "reference": [],
    },
    {
        "code": "PACKAGE_DB_UNREADABLE",
        "kind": "status",
        "families": BOTH,
        "component": None,
        "versions": None,
        "condition": "package_db_unreadable",
        "severity": "medium",
        "message": "The package database cannot be trusted ({error}): which Docker and iptables packages are "
                   "installed is unknown, so package-based version checks were skipped and 'Docker not installed' "
                   "is not concluded from it.",
        "remediation": "Restore the dpkg status file (dpkg keeps backups in /var/backups/dpkg.status.*) and audit again.",
        "reference": ["https://manpages.debian.org/dpkg"],
    },
    {
        "code": "DOCKER_VERSION_UNKNOWN",
        "kind": "status",
        "families": BOTH,
        "component": None,
        "versions": None,
        "condition": "docker_version_unknown",
        "severity": "low",
        "message": "Docker is present ({signals}) but its version could not be determined; "
                   "version-specific checks were skipped.",
        "remediation": "Start the engine or install Docker from a package so the audit can read the version.",
        "reference": [],
    },
    {
        "code": "DOCKER_ENGINE_NOT_RUNNING",
        "kind": "status",
        "families": BOTH,
        "component": None,
        "versions": None,
        "condition": "docker_engine_not_running",
        "severity": "info",
        "message": "Docker is installed but its API at {socket} did not answer ({error}); "
                   "rules were only checked if Docker chains exist.",
        "remediation": "Start docker.service if it should be running, then audit again.",
        "reference": [],
    },
    {
        "code": "DOCKER_ROOTLESS",
        "kind": "status",
        "families": BOTH,
        "component": None,
        "versions": None,
        "condition": "docker_rootless",
        "severity": "info",
        "message": "Rootless Docker is set up for user {user} (port driver {port_driver}); its rules live "
                   "in RootlessKit's network namespace and are not audited here.",
        "remediation": "Audit the rootless namespace separately if needed.",
        "reference": ["https://docs.docker.com/engine/security/rootless/"],
    },
    {
        "code": "DOCKER_IPTABLES_DISABLED",
        "kind": "status",
        "families": BOTH,
        "component": None,
        "versions": None,
        "condition": "docker_iptables_disabled",
        "severity": "low",
        "message": "dockerd runs with iptables=false ({source}): Docker creates no rules, so published "
                   "ports and masquerading depend entirely on your own firewall.",
        "remediation": "Remove \"iptables\": false unless the host firewall deliberately replaces Docker's rules.",
        "reference": ["https://docs.docker.com/engine/network/packet-filtering-firewalls/"],
    },
    {
        "code": "DOCKER_FIREWALL_BACKEND_NFTABLES",
        "kind": "status",
        "families": BOTH,
        "component": None,
        "versions": None,
        "condition": "docker_firewall_backend_nftables",
        "severity": "info",
        "message": "dockerd uses the {backend} firewall backend ({source}); its rules are not iptables "
                   "chains, so the chain, jump, MASQUERADE and DNAT checks were skipped.",
        "remediation": "Inspect Docker's nftables tables with 'nft list ruleset'.",
        "reference": ["https://docs.docker.com/engine/network/firewall-nftables/"],
    },
    {
        "code": "IPTABLES_NOT_FOUND",
        "kind": "status",
        "families": BOTH,
        "component": None,
        "versions": None,
        "condition": "iptables_not_found",
        "severity": "medium",
        "message": "Docker is present but no iptables binary was found ({detail}); dockerd cannot "
                   "program its rules and the rule checks were skipped.",
        "remediation": "Install the iptables package (Debian: apt-get install iptables).",
        "reference": [],
    },
    {
        "code": "IPTABLES_READ_FAILED",
        "kind": "status",
        "families": BOTH,
        "component": None,
        "versions": None,
        "condition": "iptables_read_failed",
        "severity": "medium",
        "message": "Could not read the {backend} rules: {error}.",
        "remediation": "Run the audit as root (iptables-save needs CAP_NET_ADMIN) and check the iptables installation.",
        "reference": [],
    },
    # --- config: settings dockerd refuses or that drop isolation ----------
    {
        "code": "DAEMON_JSON_INVALID",
        "kind": "config",
        "families": BOTH,
        "component": None,
        "versions": None,
        "condition": "daemon_json_invalid",
        "severity": "high",
        "message": "{path} is invalid ({error}); dockerd refuses to start with it.",
        "remediation": "Fix the file; 'dockerd --validate --config-file {path}' checks it.",
        "reference": ["https://docs.docker.com/reference/cli/dockerd/#daemon-configuration-file"],
    },
    {
        "code": "DOCKERD_FLAG_CONFLICT",
        "kind": "config",
        "families": BOTH,
        "component": None,
        "versions": None,
        "condition": "dockerd_flag_conflict",
        "severity": "high",
        "message": "'{setting}' is set both on dockerd's command line ({unit}) and in {path}; dockerd "
                   "refuses to start when a directive is given both ways.",
        "remediation": "Keep the setting in one place (prefer daemon.json) and drop the flag from ExecStart.",
        "reference": ["https://docs.docker.com/reference/cli/dockerd/#daemon-configuration-file"],
    },
    {
        "code": "DOCKER_BR_NETFILTER_REQUIRED_NO_ESCAPE",
        "kind": "config",
        "families": IPV4,
        "component": "docker",
        "versions": {"before": "27.5.1"},
        "condition": "br_netfilter_fails_no_escape",
        "severity": "high",
        "message": "Docker {version} with {needed_by} needs br_netfilter, and {why}: {what_fails}, and this "
                   "version has no DOCKER_IGNORE_BR_NETFILTER_ERROR escape hatch{env_note}.",
        "remediation": "Make br_netfilter available and load it (remove the modprobe.d block), or upgrade "
                       "Docker to >= 27.5.1, or set icc/userland-proxy back to their defaults.",
        "reference": [MOBY + "pull/49306", MOBY + "issues/49240"],
    },
    {
        "code": "DOCKER_BR_NETFILTER_REQUIRED",
        "kind": "config",
        "families": IPV4,
        "component": "docker",
        "versions": {"min": "27.5.1"},
        "condition": "br_netfilter_fails_not_ignored",
        "severity": "high",
        "message": "Docker {version} with {needed_by} needs br_netfilter, and {why}: {what_fails} with "
                   "'cannot restrict inter-container communication or run without the userland proxy'.",
        "remediation": "Make br_netfilter available and load it; only if that is impossible set "
                       "DOCKER_IGNORE_BR_NETFILTER_ERROR=1 in a docker.service drop-in (the "
                       "nodeprep.netfilter.docker_br_netfilter_compat role does), accepting lost isolation.",
        "reference": [MOBY + "pull/49306", MOBY + "issues/49240"],
    },
    {
        "code": "DOCKER_BR_NETFILTER_ERROR_IGNORED",
        "kind": "config",
        "families": IPV4,
        "component": "docker",
        "versions": {"min": "27.5.1"},
        "condition": "br_netfilter_fails_ignored",
        "severity": "medium",
        "message": "DOCKER_IGNORE_BR_NETFILTER_ERROR=1 ({source}) lets Docker {version} start with {needed_by} "
                   "although {why}: inter-container isolation is NOT enforced, and with "
                   "userland-proxy=false containers cannot reach published ports of their own network.",
        "remediation": "Make br_netfilter available and remove DOCKER_IGNORE_BR_NETFILTER_ERROR, or accept "
                       "and document the lost isolation.",
        "reference": [MOBY + "pull/49306", "https://docs.docker.com/engine/release-notes/27/#2751"],
    },
    {
        "code": "DOCKER_IGNORE_BR_NETFILTER_ERROR_SET",
        "kind": "config",
        "families": BOTH,
        "component": None,
        "versions": None,
        "condition": "ignore_br_netfilter_env_set_not_needed",
        "severity": "low",
        "message": "DOCKER_IGNORE_BR_NETFILTER_ERROR={value} is set ({source}) but is not needed now ({why}); "
                   "if br_netfilter later becomes unavailable, Docker will silently run without isolation.",
        "remediation": "Remove the variable from docker.service's environment unless the host cannot load br_netfilter "
                       "(the nodeprep.netfilter.docker_br_netfilter_compat role removes its own drop-in in mode auto, "
                       "and marks a deliberate one with mode always).",
        "reference": [MOBY + "pull/49306"],
    },
    {
        "code": "DOCKER_IGNORE_BR_NETFILTER_ERROR_DELIBERATE",
        "kind": "config",
        "families": BOTH,
        "component": None,
        "versions": None,
        "condition": "ignore_br_netfilter_env_deliberate",
        "severity": "info",
        "message": "DOCKER_IGNORE_BR_NETFILTER_ERROR=1 is set deliberately by docker_br_netfilter_compat (mode "
                   "always, {source}) and is not needed now ({why}); icc=false networks created later start "
                   "without isolation wherever br_netfilter cannot be loaded.",
        "remediation": "Nothing to do if that is intended; set docker_br_netfilter_compat_mode: auto to install "
                       "the drop-in only where something needs it.",
        "reference": [MOBY + "pull/49306"],
    },
    {
        "code": "DOCKER_USERLAND_PROXY_BR_NETFILTER_UNCHECKED",
        "kind": "config",
        "families": IPV4,
        "component": "docker",
        "versions": {"before": "27.4.0"},
        "condition": "userland_proxy_without_br_netfilter",
        "severity": "medium",
        "message": "{why}. dockerd runs, but with userland-proxy=false a container that connects to a port "
                   "published by a container of its own network gets its replies from the wrong address.",
        "remediation": "Load and persist br_netfilter before dockerd starts (the nodeprep.netfilter.br_netfilter "
                       "role), or upgrade Docker to >= 27.4.0, which checks br_netfilter for userland-proxy=false.",
        "reference": [MOBY_BLOB + "v27.3.1/libnetwork/drivers/bridge/bridge_linux.go#L882-L884",
                      MOBY_BLOB + "v26.1.5/libnetwork/drivers/bridge/bridge_linux.go#L424-L430",
                      MOBY + "pull/48664", MOBY + "pull/48685"],
    },
    # --- version: known bugs of releases ----------------------------------
    {
        "code": "DOCKER_27_3_BR_NETFILTER_DETECTION",
        "kind": "version",
        "families": IPV4,
        "component": "docker",
        "versions": {"exact": ["27.3.0", "27.3.1"]},
        "condition": "docker_27_3_bridge_dir_check_fails",
        "severity": "high",
        "message": "Docker {version} with {needed_by}: {why} ('cannot restrict inter-container communication: "
                   "ensure that the br_netfilter kernel module is loaded'); {what_fails}.",
        "remediation": "Upgrade Docker to >= 27.4.0, which checks bridge-nf-call-iptables itself, or load and persist "
                       "br_netfilter before dockerd starts (the nodeprep.netfilter.br_netfilter role).",
        "reference": [MOBY_BLOB + "v27.3.1/libnetwork/drivers/bridge/setup_bridgenetfiltering.go#L50-L66",
                      MOBY + "issues/48948", MOBY + "pull/48960", MOBY + "pull/48966"],
    },
    {
        "code": "DOCKER_28_0_0_ROOTLESS_SLIRP4NETNS",
        "kind": "version",
        "families": BOTH,
        "component": "docker",
        "versions": {"exact": ["28.0.0"]},
        "condition": "rootless_slirp4netns_port_driver",
        "severity": "high",
        "message": "Docker 28.0.0 rootless with the slirp4netns port driver (user {user}) cannot publish ports: "
                   "'protocol \"tcp\" is not supported by the RootlessKit port driver \"slirp4netns\"'.",
        "remediation": "Upgrade Docker to >= 28.0.1, or switch DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER to builtin.",
        "reference": [MOBY + "issues/49499", MOBY + "pull/49514"],
    },
    {
        "code": "IPTABLES_1_8_11_1_DEBIAN",
        "kind": "version",
        "families": BOTH,
        "component": "iptables-deb",
        "versions": {"min": "1.8.11-1", "before": "1.8.11-2"},
        "condition": "docker_uses_iptables",
        "severity": "high",
        "message": "Debian iptables {iptables_version} leaves Docker's rules incomplete (containers "
                   "unreachable, e.g. after a reboot or with userland-proxy=false).",
        "remediation": "Upgrade iptables to 1.8.11-2 or later (or hold 1.8.10) and restart dockerd.",
        "reference": [MOBY + "issues/48844", MOBY + "issues/49667"],
    },
    # --- rules: derived from the live iptables rules ----------------------
    {
        "code": "DOCKER_RULES_ABSENT",
        "kind": "rules",
        "families": BOTH,
        "component": None,
        "versions": None,
        "condition": "docker_rules_absent",
        "severity": "high",
        "message": "The Docker engine is running but no Docker chain exists in the {backend} {tool} rules: "
                   "something flushed them (a firewall reload, iptables -F, nft flush ruleset).",
        "remediation": "Restart dockerd to recreate its rules, and make the firewall service leave Docker's chains alone.",
        "reference": ["https://docs.docker.com/engine/network/packet-filtering-firewalls/"],
    },
    {
        "code": "DOCKER_CHAINS_IN_INACTIVE_BACKEND",
        "kind": "rules",
        "families": IPV4,
        "component": None,
        "versions": None,
        "condition": "docker_chains_in_inactive_backend",
        "severity": "high",
        "message": "Docker chains {chains} exist in the {backend} backend, but 'iptables' uses {active}: the "
                   "rules are split across legacy and nft.",
        "remediation": "Pick one backend (update-alternatives --set iptables ...), flush the other one's Docker "
                       "chains and restart dockerd.",
        "reference": [MOBY + "issues/46147"],
    },
    {
        "code": "IPTABLES_RULES_IN_BOTH_BACKENDS",
        "kind": "rules",
        "families": IPV4,
        "component": None,
        "versions": None,
        "condition": "rules_in_both_backends",
        "severity": "medium",
        "message": "Both iptables backends hold rules ({detail}); packets traverse both rule sets, so a DROP in "
                   "either one affects containers.",
        "remediation": "Move every tool (Docker, kube-proxy, firewall scripts) to the same backend.",
        "reference": ["https://wiki.nftables.org/wiki-nftables/index.php/Legacy_xtables_tools"],
    },
    {
        "code": "DOCKER_CHAIN_MISSING",
        "kind": "rules",
        "families": BOTH,
        "component": None,
        "versions": None,
        "condition": "docker_chain_missing",
        "severity": "high",
        "message": "Chain {chain} is missing from the {tool} {table} table (expected for {expected_for}).",
        "remediation": "Restart dockerd to recreate its chains; find what deleted them.",
        "reference": [MOBY + "pull/49518"],
    },
    {
        "code": "DOCKER_JUMP_MISSING",
        "kind": "rules",
        "families": BOTH,
        "component": None,
        "versions": None,
        "condition": "docker_jump_missing",
        "severity": "high",
        "message": "No jump from {from_chain} to {to_chain} in the {tool} {table} table: traffic bypasses Docker's rules.",
        "remediation": "Restart dockerd to recreate its jumps; check firewall scripts that rewrite built-in chains.",
        "reference": ["https://docs.docker.com/engine/network/packet-filtering-firewalls/"],
    },
    {
        "code": "DOCKER_USER_NOT_FIRST",
        "kind": "rules",
        "families": BOTH,
        "component": None,
        "versions": None,
        "condition": "docker_user_not_first",
        "severity": "medium",
        "message": "The jump to DOCKER-USER is rule {position} of {tool} FORWARD, not rule 1: rules before it bypass "
                   "DOCKER-USER.",
        "remediation": "Restart dockerd (it re-inserts the jump first) or move the rules you added to FORWARD "
                       "into DOCKER-USER.",
        "reference": ["https://docs.docker.com/engine/network/packet-filtering-firewalls/#add-iptables-policies-before-dockers-rules"],
    },
    {
        "code": "DOCKER_MASQUERADE_MISSING",
        "kind": "rules",
        "families": BOTH,
        "component": None,
        "versions": None,
        "condition": "docker_masquerade_missing",
        "severity": "high",
        "message": "No {tool} MASQUERADE rule for {subnet} leaving via anything but {bridge} (network {network}): "
                   "containers there cannot reach outside.",
        "remediation": "Restart dockerd to recreate its nat rules.",
        "reference": ["https://docs.docker.com/engine/network/packet-filtering-firewalls/"],
    },
    {
        "code": "DOCKER_DNAT_MISSING",
        "kind": "rules",
        "families": BOTH,
        "component": None,
        "versions": None,
        "condition": "docker_dnat_missing_unproxied",
        "severity": "high",
        "message": "No {tool} DNAT rule for {port_text} ({proto}) to {destination} ({container}): with userland-proxy=false "
                   "nothing else forwards that port, so the container is unreachable on it.",
        "remediation": "Restart dockerd or the container; if it recurs after reboots check the iptables "
                       "package (Debian 1.8.11-1) and firewall services started after Docker.",
        "reference": [MOBY + "issues/49667"],
    },
    {
        "code": "DOCKER_DNAT_MISSING_PROXIED",
        "kind": "rules",
        "families": BOTH,
        "component": None,
        "versions": None,
        "condition": "docker_dnat_missing_proxied",
        "severity": "medium",
        "message": "No {tool} DNAT rule for {port_text} ({proto}) to {destination} ({container}): the port still "
                   "answers through docker-proxy (userland-proxy is on), but the container sees docker-proxy's "
                   "address instead of the client's, and the port stops answering if docker-proxy exits.",
        "remediation": "Restart dockerd or the container; if it recurs after reboots check the iptables "
                       "package (Debian 1.8.11-1) and firewall services started after Docker.",
        "reference": [MOBY + "issues/49667", "https://docs.docker.com/engine/network/packet-filtering-firewalls/"],
    },
]

#: Chains Docker's iptables backend creates. ``since`` is the first Docker
#: release that creates the chain (None: every release this audit knows).
#: ``ipv6_since``, where given, replaces ``since`` for ip6tables: DOCKER-USER (and the jump to it) came to
#: ip6tables later (moby issue #42477, fixed by PR #44706, first in 24.0; measured absent with Docker 20.10.24 and
#: ip6tables=true, present with 28.5.2).
DOCKER_USER_IPV6_SINCE = "24.0.0"
EXPECTED_CHAINS = [
    {"table": "nat", "chain": "DOCKER", "since": None},
    {"table": "filter", "chain": "DOCKER", "since": None},
    {"table": "filter", "chain": "DOCKER-USER", "since": None, "ipv6_since": DOCKER_USER_IPV6_SINCE},
    {"table": "filter", "chain": "DOCKER-ISOLATION-STAGE-1", "since": None},
    {"table": "filter", "chain": "DOCKER-ISOLATION-STAGE-2", "since": None},
    {"table": "filter", "chain": "DOCKER-FORWARD", "since": "28.0.1"},
    {"table": "filter", "chain": "DOCKER-BRIDGE", "since": "28.0.1"},
    {"table": "filter", "chain": "DOCKER-CT", "since": "28.0.1"},
]

#: Jumps from built-in chains. ``before``: last release range that has it.
EXPECTED_JUMPS = [
    {"table": "nat", "from": "PREROUTING", "to": "DOCKER", "since": None, "before": None},
    {"table": "nat", "from": "OUTPUT", "to": "DOCKER", "since": None, "before": None},
    {"table": "filter", "from": "FORWARD", "to": "DOCKER-USER", "since": None, "before": None,
     "ipv6_since": DOCKER_USER_IPV6_SINCE},
    {"table": "filter", "from": "FORWARD", "to": "DOCKER-ISOLATION-STAGE-1", "since": None, "before": "28.0.1"},
    {"table": "filter", "from": "FORWARD", "to": "DOCKER-FORWARD", "since": "28.0.1", "before": None},
]


def issue(code):
    """The table row of ``code`` (KeyError when unknown)."""
    for row in KNOWN_ISSUES:
        if row["code"] == code:
            return row
    raise KeyError(code)
