# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The audit on real iptables-save dumps of dockerd 26.1.5 and 28.5.2 (Debian
trixie, iptables 1.8.11 nf_tables) and on broken variants derived from them."""

from __future__ import annotations

import json
import os
import string

import pytest

from ansible_collections.nodeprep.netfilter.plugins.module_utils import _docker_audit
from ansible_collections.nodeprep.netfilter.plugins.module_utils._docker_audit import (
    HOST_CONDITIONS,
    audit,
    failing,
)
from ansible_collections.nodeprep.netfilter.plugins.module_utils._br_netfilter_need import dropin_content
from ansible_collections.nodeprep.netfilter.plugins.module_utils._docker_checks import DOCKER_CONDITIONS
from ansible_collections.nodeprep.netfilter.plugins.module_utils._known_issues import (
    EXPECTED_CHAINS,
    KNOWN_ISSUES,
    SEVERITIES,
)

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "docker")

D28_DEFAULTS = "docker-28.5.2-trixie.dump1-defaults-br_netfilter-unloadable"
D28_IGNORED = "docker-28.5.2-trixie.dump2-icc-false-ignore-br_netfilter-error-network-n1"
D28_PUBLISH = "docker-28.5.2-trixie.dump3-icc-false-br_netfilter-loaded-publish-8080"
D26_DEFAULTS = "docker-26.1.5-trixie.dump1-defaults-br_netfilter-unloadable"
D26_FAILED = "docker-26.1.5-trixie.failed-start-icc-false-br_netfilter-unloadable"
D26_PUBLISH = "docker-26.1.5-trixie.dump2-icc-false-br_netfilter-loaded-publish-8080"

ROUTES = [
    {"iface": "eth0", "subnet": "10.0.2.0/24"},
    {"iface": "docker0", "subnet": "172.17.0.0/16"},
    {"iface": "br-6d8e2700cbce", "subnet": "172.18.0.0/16"},
]


def dump(name):
    with open(os.path.join(FIXTURES, name + ".iptables-save.txt")) as handle:
        return handle.read()


def info(version):
    with open(os.path.join(FIXTURES, "docker-%s-trixie.info.json" % version)) as handle:
        return json.load(handle)


def br(state, key_present=None, bridge_dir=None):
    if key_present is None:
        key_present = state in ("loaded", "builtin")
    if bridge_dir is None:
        bridge_dir = key_present
    return {"state": state, "bridge_nf_call_iptables_present": key_present, "bridge_sysctl_dir_present": bridge_dir,
            "ready": key_present, "problems": []}


def deliberate(data):
    """``data`` with DOCKER_IGNORE_BR_NETFILTER_ERROR=1 set by the compat role's drop-in written in mode always."""
    path = "/etc/systemd/system/docker.service.d/10-br-netfilter.conf"
    systemd = data["docker"]["systemd"]
    systemd["environment"]["DOCKER_IGNORE_BR_NETFILTER_ERROR"] = "1"
    systemd["environment_sources"]["DOCKER_IGNORE_BR_NETFILTER_ERROR"] = path + ":6"
    systemd["dropins"] = [path]
    systemd["dropin_first_lines"] = {path: dropin_content("always").splitlines()[0]}
    return data


def collected(nft=None, legacy=None, package=("docker.io", "28.5.2+dfsg4-5"), iptables_pkg="1.8.11-2",
              daemon=None, environment=None, br_facts=None, engine=None, routes=None, rootless=None,
              iptables_binary="/usr/sbin/iptables", version_output="iptables v1.8.11 (nf_tables)",
              exec_start="/usr/sbin/dockerd -H fd:// $DOCKER_OPTS", manager="dpkg", saves=None,
              daemon_error=None):
    installed = {}
    if package:
        installed[package[0]] = {"version": package[1]}
    if iptables_pkg:
        installed["iptables"] = {"version": iptables_pkg}
    if saves is None:
        saves = {}
        if nft is not None:
            saves["nf_tables"] = {"binary": "/usr/sbin/iptables-nft-save", "text": dump(nft) if nft else "", "error": None}
        if legacy is not None:
            saves["legacy"] = {"binary": "/usr/sbin/iptables-legacy-save",
                               "text": dump(legacy) if legacy else "", "error": None}
    explicit = dict(daemon or {})
    settings = {"icc": True, "userland-proxy": True, "iptables": True, "ip6tables": None,
                "ip-forward": True, "firewall-backend": None, "bridge": None}
    settings.update(explicit)
    environment = dict(environment or {})
    return {
        "packages": {"manager": manager, "installed": installed},
        "docker": {
            "dockerd_path": "/usr/sbin/dockerd" if package else None,
            "cli_path": None,
            "dockerd_version_output": None,
            "engine": engine or {"socket": "/var/run/docker.sock", "socket_present": False, "reachable": False,
                                 "error": "no socket at /var/run/docker.sock", "info": None,
                                 "networks": None, "containers": None},
            "daemon_json": {"path": "/etc/docker/daemon.json", "present": bool(explicit) or bool(daemon_error),
                            "settings": settings, "explicit": explicit, "error": daemon_error},
            "systemd": {"unit": "/usr/lib/systemd/system/docker.service" if package else None, "masked": False,
                        "dropins": [], "environment": environment,
                        "environment_sources": dict((k, "/etc/systemd/system/docker.service.d/override.conf:3")
                                                    for k in environment),
                        "environment_files": [], "exec_start": exec_start if package else None},
            "rootless": list(rootless or []),
        },
        "iptables": {"binary": iptables_binary, "version_output": version_output if iptables_binary else None,
                     "version_error": None, "saves": saves, "legacy_table_names": []},
        "routes": ROUTES if routes is None else routes,
        "br_netfilter": br("builtin") if br_facts is None else br_facts,
        "br_netfilter_error": None,
    }


def running_engine(version="28.5.2", networks=None, containers=None):
    return {"socket": "/var/run/docker.sock", "socket_present": True, "reachable": True, "error": None,
            "info": info(version), "networks": networks, "containers": containers}


def codes(result):
    return sorted(finding["code"] for finding in result["findings"])


def only(result, code):
    found = [finding for finding in result["findings"] if finding["code"] == code]
    assert found, "no %s in %s" % (code, codes(result))
    return found


# --- real dumps: the healthy situations produce no finding ---------------------

@pytest.mark.parametrize("name,package,daemon,environment,br_state", [
    (D28_DEFAULTS, ("docker.io", "28.5.2+dfsg4-5"), None, None, "blocked"),
    (D28_PUBLISH, ("docker.io", "28.5.2+dfsg4-5"), {"icc": False}, None, "loaded"),
    (D26_DEFAULTS, ("docker.io", "26.1.5+dfsg1-9+deb13u1"), None, None, "blocked"),
    (D26_PUBLISH, ("docker.io", "26.1.5+dfsg1-9+deb13u1"), {"icc": False}, None, "loaded"),
])
def test_real_dumps_of_healthy_docker_hosts_have_no_findings(name, package, daemon, environment, br_state):
    version = package[1].split("+")[0]
    result = audit(collected(nft=name, package=package, daemon=daemon, environment=environment,
                             br_facts=br(br_state), engine=running_engine(version)))
    assert result["findings"] == []
    summary = result["summary"]
    assert summary["rule_checks"] == "done"
    assert summary["docker_version"] == version
    assert summary["docker_version_source"] == "engine"
    assert summary["iptables_backend"] == "nf_tables"
    assert summary["highest_severity"] is None


def test_docker_28_with_icc_false_and_escape_hatch_warns_that_isolation_is_lost():
    result = audit(collected(nft=D28_IGNORED, daemon={"icc": False},
                             environment={"DOCKER_IGNORE_BR_NETFILTER_ERROR": "1"},
                             br_facts=br("blocked"), engine=running_engine("28.5.2")))
    assert codes(result) == ["DOCKER_BR_NETFILTER_ERROR_IGNORED"]
    finding = result["findings"][0]
    assert finding["severity"] == "medium"
    assert "isolation is NOT enforced" in finding["message"]
    assert "28.5.2" in finding["message"] and "icc=false" in finding["message"]
    assert finding["evidence"]["source"] == "/etc/systemd/system/docker.service.d/override.conf:3"
    # both bridges of the dump were checked for MASQUERADE, with subnets from the routes
    checked = dict((net["bridge"], net["subnets"]) for net in result["summary"]["networks_checked"])
    assert checked == {"docker0": ["172.17.0.0/16"], "br-6d8e2700cbce": ["172.18.0.0/16"]}


def test_docker_26_failed_start_with_icc_false_and_blocked_br_netfilter():
    result = audit(collected(nft=D26_FAILED, package=("docker.io", "26.1.5+dfsg1-9+deb13u1"),
                             daemon={"icc": False}, br_facts=br("blocked")))
    # The rules the failed start left behind (DOCKER-USER at rule 5 of FORWARD) are not audited while the cause stands.
    assert codes(result) == ["DOCKER_BR_NETFILTER_REQUIRED_NO_ESCAPE", "DOCKER_ENGINE_NOT_RUNNING"]
    assert [finding["severity"] for finding in result["findings"]] == ["high", "info"]  # most severe first
    no_escape = only(result, "DOCKER_BR_NETFILTER_REQUIRED_NO_ESCAPE")[0]
    assert no_escape["message"] == (
        "Docker 26.1.5 with icc=false needs br_netfilter, and br_netfilter is blocked: dockerd fails to start, and "
        "this version has no DOCKER_IGNORE_BR_NETFILTER_ERROR escape hatch.")
    assert result["summary"]["rule_checks"] == ("skipped: dockerd cannot start (DOCKER_BR_NETFILTER_REQUIRED_NO_ESCAPE); "
                                                "the rules a failed start left behind are not audited")
    assert result["summary"]["docker_version_source"] == "package docker.io"
    assert result["summary"]["br_netfilter_escape_hatch"] == "impossible"


def test_left_behind_rules_are_audited_again_once_the_cause_is_gone():
    # Same rules, br_netfilter now loadable: dockerd can start, so a stale order is worth reporting.
    result = audit(collected(nft=D26_FAILED, package=("docker.io", "26.1.5+dfsg1-9+deb13u1"),
                             daemon={"icc": False}, br_facts=br("loadable")))
    assert codes(result) == ["DOCKER_ENGINE_NOT_RUNNING", "DOCKER_USER_NOT_FIRST"]
    not_first = only(result, "DOCKER_USER_NOT_FIRST")[0]
    assert (not_first["evidence"]["position"], not_first["evidence"]["first_rule"]) == (
        5, "-A FORWARD -j DOCKER-ISOLATION-STAGE-1")


@pytest.mark.parametrize("daemon,exec_start,cause", [
    (None, "/usr/bin/dockerd --icc=false --icc=false", None),
    ({"iptables": True}, "/usr/bin/dockerd --iptables=true", "DOCKERD_FLAG_CONFLICT"),
])
def test_a_configuration_dockerd_refuses_also_stops_the_rule_checks(daemon, exec_start, cause):
    result = audit(collected(nft=D26_FAILED, package=("docker.io", "26.1.5+dfsg1-9+deb13u1"), daemon=daemon,
                             exec_start=exec_start, br_facts=br("loaded")))
    assert ("DOCKER_USER_NOT_FIRST" in codes(result)) is (cause is None)
    if cause:
        assert result["summary"]["rule_checks"].startswith("skipped: dockerd cannot start (%s)" % cause)


# --- derived (broken) variants ---------------------------------------------------

def test_removed_docker_ct_chain_is_reported_for_docker_28():
    result = audit(collected(nft="derived-docker-28.5.2-trixie.dump3-no-DOCKER-CT-chain", daemon={"icc": False},
                             br_facts=br("loaded"), engine=running_engine("28.5.2")))
    assert codes(result) == ["DOCKER_CHAIN_MISSING"]
    finding = result["findings"][0]
    assert finding["evidence"]["chain"] == "DOCKER-CT"
    assert finding["evidence"]["table"] == "filter"
    assert finding["message"] == "Chain DOCKER-CT is missing from the iptables filter table (expected for Docker >= 28.0.1)."


def test_removed_docker_user_chain_and_jump_are_reported_for_docker_26():
    result = audit(collected(nft="derived-docker-26.1.5-trixie.dump2-no-DOCKER-USER-chain",
                             package=("docker.io", "26.1.5+dfsg1-9+deb13u1"), daemon={"icc": False},
                             br_facts=br("loaded"), engine=running_engine("26.1.5")))
    assert codes(result) == ["DOCKER_CHAIN_MISSING", "DOCKER_JUMP_MISSING"]
    assert only(result, "DOCKER_CHAIN_MISSING")[0]["evidence"]["chain"] == "DOCKER-USER"
    jump = only(result, "DOCKER_JUMP_MISSING")[0]["evidence"]
    assert (jump["table"], jump["from_chain"], jump["to_chain"]) == ("filter", "FORWARD", "DOCKER-USER")


@pytest.mark.parametrize("name,version", [
    ("derived-docker-28.5.2-trixie.dump3-dnat-8080-removed", "28.5.2"),
    ("derived-docker-26.1.5-trixie.dump2-dnat-8080-removed", "26.1.5"),
])
def test_removed_dnat_of_a_published_port_is_reported_from_the_filter_rules(name, version):
    package = ("docker.io", "28.5.2+dfsg4-5" if version == "28.5.2" else "26.1.5+dfsg1-9+deb13u1")
    result = audit(collected(nft=name, package=package, daemon={"icc": False}, br_facts=br("loaded"),
                             engine=running_engine(version)))
    assert codes(result) == ["DOCKER_DNAT_MISSING_PROXIED"]
    evidence = result["findings"][0]["evidence"]
    assert evidence["destination"] == "172.17.0.2:80"
    assert evidence["proto"] == "tcp"
    assert evidence["expected_from"] == "rules"
    assert evidence["port"] is None
    assert result["findings"][0]["message"].startswith(
        "No iptables DNAT rule for a published port (tcp) to 172.17.0.2:80 (admitted by filter chain DOCKER)")


def test_removed_dnat_is_reported_with_the_container_and_host_port_when_the_engine_lists_containers():
    containers = [{"Names": ["/web"], "Ports": [
        {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
        {"IP": "::", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}],
        "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.2"}}}}]
    healthy = audit(collected(nft=D28_PUBLISH, daemon={"icc": False}, br_facts=br("loaded"),
                              engine=running_engine("28.5.2", containers=containers)))
    assert healthy["findings"] == []
    assert healthy["summary"]["published_ports_checked"] == 1  # the IPv6 binding belongs to ip6tables
    broken = audit(collected(nft="derived-docker-28.5.2-trixie.dump3-dnat-8080-removed", daemon={"icc": False},
                             br_facts=br("loaded"), engine=running_engine("28.5.2", containers=containers)))
    assert codes(broken) == ["DOCKER_DNAT_MISSING_PROXIED"]
    finding = broken["findings"][0]
    assert finding["evidence"]["container"] == "container web"
    assert finding["evidence"]["port"] == 8080
    assert finding["severity"] == "medium"
    assert finding["message"] == (
        "No iptables DNAT rule for host port 8080 (tcp) to 172.17.0.2:80 (container web): the port still answers through "
        "docker-proxy (userland-proxy is on), but the container sees docker-proxy's address instead of the client's, "
        "and the port stops answering if docker-proxy exits.")


def test_without_the_userland_proxy_a_missing_dnat_makes_the_port_unreachable():
    containers = [{"Names": ["/web"], "Ports": [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}],
                   "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.2"}}}}]
    result = audit(collected(nft="derived-docker-28.5.2-trixie.dump3-dnat-8080-removed",
                             daemon={"icc": False, "userland-proxy": False}, br_facts=br("loaded"),
                             engine=running_engine("28.5.2", containers=containers)))
    assert codes(result) == ["DOCKER_DNAT_MISSING"]
    finding = result["findings"][0]
    assert finding["severity"] == "high"
    assert finding["message"] == (
        "No iptables DNAT rule for host port 8080 (tcp) to 172.17.0.2:80 (container web): with userland-proxy=false nothing "
        "else forwards that port, so the container is unreachable on it.")


def test_stale_dnat_to_an_old_container_address_does_not_count():
    # the rule still exists, but points at the address the container had before a restart
    containers = [{"Names": ["/web"], "Ports": [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}],
                   "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.3"}}}}]
    result = audit(collected(nft=D28_PUBLISH, daemon={"icc": False}, br_facts=br("loaded"),
                             engine=running_engine("28.5.2", containers=containers)))
    assert codes(result) == ["DOCKER_DNAT_MISSING_PROXIED"]
    assert result["findings"][0]["evidence"]["destination"] == "172.17.0.3:80"


def test_dnat_for_another_protocol_does_not_count():
    containers = [{"Names": ["/dns"], "Ports": [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "udp"}],
                   "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.2"}}}}]
    result = audit(collected(nft=D28_PUBLISH, daemon={"icc": False}, br_facts=br("loaded"),
                             engine=running_engine("28.5.2", containers=containers)))
    assert codes(result) == ["DOCKER_DNAT_MISSING_PROXIED"]
    assert result["findings"][0]["evidence"]["proto"] == "udp"


def test_masquerade_for_a_different_subnet_of_the_same_bridge_does_not_count():
    routes = [{"iface": "docker0", "subnet": "172.30.0.0/16"}]  # bridge re-addressed, rule left behind
    result = audit(collected(nft=D28_DEFAULTS, br_facts=br("blocked"), engine=running_engine("28.5.2"), routes=routes))
    masq = only(result, "DOCKER_MASQUERADE_MISSING")
    assert [(item["evidence"]["bridge"], item["evidence"]["subnet"]) for item in masq] == [("docker0", "172.30.0.0/16")]


def test_removed_prerouting_jump_is_reported():
    result = audit(collected(nft="derived-docker-28.5.2-trixie.dump3-no-prerouting-jump", daemon={"icc": False},
                             br_facts=br("loaded"), engine=running_engine("28.5.2")))
    assert codes(result) == ["DOCKER_JUMP_MISSING"]
    evidence = result["findings"][0]["evidence"]
    assert (evidence["table"], evidence["from_chain"], evidence["to_chain"]) == ("nat", "PREROUTING", "DOCKER")


@pytest.mark.parametrize("routes,subnet", [
    (ROUTES, "172.18.0.0/16"),
    ([], "(subnet unknown: any source)"),
])
def test_removed_masquerade_is_reported_for_that_bridge_only(routes, subnet):
    result = audit(collected(nft="derived-docker-28.5.2-trixie.dump2-masquerade-172.18-removed",
                             daemon={"icc": False}, environment={"DOCKER_IGNORE_BR_NETFILTER_ERROR": "1"},
                             br_facts=br("blocked"), engine=running_engine("28.5.2"), routes=routes))
    masq = only(result, "DOCKER_MASQUERADE_MISSING")
    assert [(item["evidence"]["bridge"], item["evidence"]["subnet"]) for item in masq] == [("br-6d8e2700cbce", subnet)]


@pytest.mark.parametrize("removed", [
    "-A DOCKER-BRIDGE -o docker0 -j DOCKER",  # the bridge is still named by nat's RETURN rule
    "-A DOCKER -i docker0 -j RETURN",  # the bridge is still named by filter's DOCKER-BRIDGE rule
])
def test_bridges_are_found_from_either_nat_or_filter_rules(removed):
    data = collected(nft=D28_DEFAULTS, br_facts=br("blocked"), engine=running_engine("28.5.2"))
    text = data["iptables"]["saves"]["nf_tables"]["text"]
    assert removed + "\n" in text
    data["iptables"]["saves"]["nf_tables"]["text"] = text.replace(removed + "\n", "")
    result = audit(data)
    assert [net["bridge"] for net in result["summary"]["networks_checked"]] == ["docker0"]
    assert result["findings"] == []


def test_masquerade_expectations_come_from_the_engine_when_it_lists_networks():
    networks = [
        {"Name": "bridge", "Id": "f" * 64, "Driver": "bridge", "Internal": False,
         "IPAM": {"Config": [{"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}]},
         "Options": {"com.docker.network.bridge.name": "docker0"}},
        {"Name": "n1", "Id": "6d8e2700cbce" + "0" * 52, "Driver": "bridge", "Internal": False,
         "IPAM": {"Config": [{"Subnet": "172.18.0.0/16"}, {"Subnet": "fd00::/64"}]},
         "Options": {"com.docker.network.bridge.enable_icc": "false"}},
        {"Name": "internal", "Id": "a" * 64, "Driver": "bridge", "Internal": True,
         "IPAM": {"Config": [{"Subnet": "172.19.0.0/16"}]}, "Options": {}},
        {"Name": "host", "Id": "b" * 64, "Driver": "host", "IPAM": {"Config": []}, "Options": {}},
    ]
    result = audit(collected(nft="derived-docker-28.5.2-trixie.dump2-masquerade-172.18-removed",
                             daemon={"icc": False}, environment={"DOCKER_IGNORE_BR_NETFILTER_ERROR": "1"},
                             br_facts=br("blocked"), engine=running_engine("28.5.2", networks=networks), routes=[]))
    masq = only(result, "DOCKER_MASQUERADE_MISSING")
    assert [item["evidence"] for item in masq] == [{
        "network": "n1", "bridge": "br-6d8e2700cbce", "subnet": "172.18.0.0/16", "expected_from": "engine",
        "family": "ipv4", "tool": "iptables"}]


def test_rules_split_across_legacy_and_nft_are_reported():
    result = audit(collected(nft="derived-docker-28.5.2-trixie.dump1-split.nf_tables",
                             legacy="derived-docker-28.5.2-trixie.dump1-split.legacy",
                             br_facts=br("blocked"), engine=running_engine("28.5.2"), routes=[]))
    assert codes(result) == ["DOCKER_CHAINS_IN_INACTIVE_BACKEND", "DOCKER_CHAIN_MISSING", "DOCKER_JUMP_MISSING",
                             "DOCKER_JUMP_MISSING", "DOCKER_MASQUERADE_MISSING", "IPTABLES_RULES_IN_BOTH_BACKENDS"]
    split = only(result, "DOCKER_CHAINS_IN_INACTIVE_BACKEND")[0]
    assert split["evidence"] == {"backend": "legacy", "active": "nf_tables", "chains": "nat/DOCKER"}
    assert split["severity"] == "high"
    both = only(result, "IPTABLES_RULES_IN_BOTH_BACKENDS")[0]
    assert both["evidence"]["detail"] == "legacy: 4 rules; nf_tables: 11 rules"
    assert only(result, "DOCKER_CHAIN_MISSING")[0]["evidence"]["chain"] == "DOCKER"
    assert result["summary"]["backends_read"] == ["legacy", "nf_tables"]


def test_docker_chains_only_in_the_inactive_backend_skip_the_per_chain_checks():
    result = audit(collected(nft="", legacy=D28_DEFAULTS, br_facts=br("blocked"), engine=running_engine("28.5.2")))
    assert codes(result) == ["DOCKER_CHAINS_IN_INACTIVE_BACKEND"]
    assert result["summary"]["rule_checks"] == "skipped: no Docker chain in the active backend"


def test_the_chain_table_follows_the_docker_version():
    # Docker 26's layout audited as if it came from 28.5.2: the 28.0.1+ chains and jump are missing
    result = audit(collected(nft=D26_DEFAULTS, br_facts=br("blocked")))
    missing = sorted(item["evidence"]["chain"] for item in only(result, "DOCKER_CHAIN_MISSING"))
    assert missing == sorted(row["chain"] for row in EXPECTED_CHAINS if row["since"] == "28.0.1")
    jumps = [item["evidence"]["to_chain"] for item in only(result, "DOCKER_JUMP_MISSING")]
    assert jumps == ["DOCKER-FORWARD"]


def test_unknown_docker_version_checks_only_version_independent_chains():
    result = audit(collected(nft=D28_DEFAULTS, package=None, br_facts=br("blocked")))
    assert codes(result) == ["DOCKER_VERSION_UNKNOWN"]
    assert "Docker chains in the iptables rules" in result["findings"][0]["message"]
    assert result["summary"]["rule_checks"] == "done"


# --- known issues by version -----------------------------------------------------

BRIDGE_DIR_ONLY = {"key_present": False, "bridge_dir": True}  # /proc/sys/net/bridge without bridge-nf-call-iptables


@pytest.mark.parametrize("version,daemon,state,environment,expected", [
    # 27.3: icc=false loads br_netfilter itself when /proc/sys/net/bridge is absent ...
    ("27.3.1", {"icc": False}, "loadable", None, []),
    # ... and fails when only the directory exists (setup_bridgenetfiltering.go#L50-L66)
    ("27.3.1", {"icc": False}, ("loadable", BRIDGE_DIR_ONLY), None, ["DOCKER_27_3_BR_NETFILTER_DETECTION"]),
    ("27.3.0", {"icc": False}, ("loadable", BRIDGE_DIR_ONLY), None, ["DOCKER_27_3_BR_NETFILTER_DETECTION"]),
    # 27.3: userland-proxy=false is not checked, and nothing loads br_netfilter for it
    ("27.3.0", {"userland-proxy": False}, "loadable", None, ["DOCKER_USERLAND_PROXY_BR_NETFILTER_UNCHECKED"]),
    ("27.3.1", {"userland-proxy": False}, "loaded", None, []),
    ("27.3.1", None, "loadable", None, []),
    ("27.4.0", {"icc": False}, "loadable", None, []),
    ("27.4.0", {"icc": False}, ("loadable", BRIDGE_DIR_ONLY), None, []),  # 27.4 stats the key itself
    ("27.3.1", {"icc": False}, "loaded", None, []),
    ("27.3.1", {"icc": False}, "blocked", None, ["DOCKER_BR_NETFILTER_REQUIRED_NO_ESCAPE"]),
    ("27.5.0", {"icc": False}, "blocked", {"DOCKER_IGNORE_BR_NETFILTER_ERROR": "1"},
     ["DOCKER_BR_NETFILTER_REQUIRED_NO_ESCAPE"]),
    ("27.5.1", {"icc": False}, "blocked", {"DOCKER_IGNORE_BR_NETFILTER_ERROR": "1"},
     ["DOCKER_BR_NETFILTER_ERROR_IGNORED"]),
    ("27.5.1", {"userland-proxy": False}, "unavailable", None, ["DOCKER_BR_NETFILTER_REQUIRED"]),
    ("28.5.2", {"icc": False}, "blocked", {"DOCKER_IGNORE_BR_NETFILTER_ERROR": "true"},
     ["DOCKER_BR_NETFILTER_REQUIRED"]),  # only "1" is the documented value
    # before 27.3 userland-proxy=false is not checked: dockerd starts, hairpin NAT is broken
    ("26.1.5", {"userland-proxy": False}, "blocked", None, ["DOCKER_USERLAND_PROXY_BR_NETFILTER_UNCHECKED"]),
    ("26.1.5", {"userland-proxy": False}, "loadable", None, []),  # loaded at start
    ("26.1.5", None, "blocked", None, []),  # default settings: nothing needs br_netfilter
    ("26.1.5", {"icc": False}, ("loadable", BRIDGE_DIR_ONLY), None, ["DOCKER_BR_NETFILTER_REQUIRED_NO_ESCAPE"]),
    ("26.1.5", {"icc": False, "iptables": False}, "blocked", None, ["DOCKER_IPTABLES_DISABLED"]),
    ("28.5.2", None, "builtin", {"DOCKER_IGNORE_BR_NETFILTER_ERROR": "1"}, ["DOCKER_IGNORE_BR_NETFILTER_ERROR_SET"]),
    ("28.5.2", None, "blocked", {"DOCKER_IGNORE_BR_NETFILTER_ERROR": "1"}, ["DOCKER_IGNORE_BR_NETFILTER_ERROR_SET"]),
])
def test_br_netfilter_rules_by_docker_version(version, daemon, state, environment, expected):
    facts = br(state[0], **state[1]) if isinstance(state, tuple) else br(state)
    result = audit(collected(nft="", package=("docker-ce", "5:%s-1~debian.12~bookworm" % version), daemon=daemon,
                             environment=environment, br_facts=facts))
    found = sorted(set(codes(result)) - {"DOCKER_ENGINE_NOT_RUNNING"})
    assert found == sorted(expected)


def test_no_escape_finding_says_the_variable_is_ignored_by_that_version():
    result = audit(collected(nft="", package=("docker-ce", "5:27.5.0-1~debian.12~bookworm"), daemon={"icc": False},
                             environment={"DOCKER_IGNORE_BR_NETFILTER_ERROR": "1"}, br_facts=br("blocked")))
    finding = only(result, "DOCKER_BR_NETFILTER_REQUIRED_NO_ESCAPE")[0]
    assert "(DOCKER_IGNORE_BR_NETFILTER_ERROR=1 is set but ignored)" in finding["message"]


@pytest.mark.parametrize("version,port_driver,expected", [
    ("28.0.0", "slirp4netns", ["DOCKER_28_0_0_ROOTLESS_SLIRP4NETNS", "DOCKER_ROOTLESS"]),
    ("28.0.1", "slirp4netns", ["DOCKER_ROOTLESS"]),
    ("28.0.0", "builtin", ["DOCKER_ROOTLESS"]),
])
def test_docker_28_0_0_rootless_with_slirp4netns_port_driver(version, port_driver, expected):
    rootless = [{"user": "alice", "uid": 1000, "unit": "/home/alice/.config/systemd/user/docker.service",
                 "port_driver": port_driver, "port_driver_source": "override.conf", "enabled": True}]
    result = audit(collected(nft="", package=("docker-ce", "5:%s-1~debian.12~bookworm" % version),
                             rootless=rootless))
    assert sorted(set(codes(result)) - {"DOCKER_ENGINE_NOT_RUNNING"}) == sorted(expected)


@pytest.mark.parametrize("iptables_pkg,manager,expected", [
    ("1.8.11-1", "dpkg", True),
    ("1.8.11-1+b1", "dpkg", True),
    ("1.8.11-2", "dpkg", False),
    ("1.8.10-4", "dpkg", False),
    ("1.8.11-1", "rpm", False),  # the bug is in Debian's package
])
def test_debian_iptables_1_8_11_1_is_flagged_and_1_8_11_2_is_not(iptables_pkg, manager, expected):
    result = audit(collected(nft=D28_DEFAULTS, iptables_pkg=iptables_pkg, manager=manager, br_facts=br("blocked"),
                             engine=running_engine("28.5.2")))
    assert ("IPTABLES_1_8_11_1_DEBIAN" in codes(result)) is expected
    if expected:
        assert "Debian iptables %s leaves" % iptables_pkg in only(result, "IPTABLES_1_8_11_1_DEBIAN")[0]["message"]


# --- status and configuration -----------------------------------------------------

def test_host_without_docker_reports_only_docker_not_installed():
    result = audit(collected(nft="", package=None))
    assert codes(result) == ["DOCKER_NOT_INSTALLED"]
    assert result["findings"][0]["severity"] == "info"
    assert result["summary"]["docker_present"] is False
    assert result["summary"]["rule_checks"] == "skipped: Docker not installed"


def test_host_without_docker_and_without_iptables_is_a_clean_report():
    result = audit(collected(package=None, iptables_binary=None, saves={}))
    assert codes(result) == ["DOCKER_NOT_INSTALLED"]
    assert result["summary"]["iptables_binary"] is None


def test_docker_without_iptables_binary_is_a_finding_not_a_crash():
    result = audit(collected(iptables_binary=None, saves={}, br_facts=br("builtin")))
    assert "IPTABLES_NOT_FOUND" in codes(result)
    assert result["summary"]["rule_checks"] == "skipped: no iptables binary"


def test_failed_iptables_save_is_reported_with_its_error():
    saves = {"nf_tables": {"binary": "/usr/sbin/iptables-nft-save", "text": None,
                           "error": "iptables-nft-save exited 4: Permission denied (you must be root)"}}
    result = audit(collected(saves=saves, engine=running_engine("28.5.2")))
    finding = only(result, "IPTABLES_READ_FAILED")[0]
    assert finding["message"] == ("Could not read the nf_tables rules: iptables-nft-save exited 4: "
                                  "Permission denied (you must be root).")
    assert result["summary"]["rule_checks"] == "skipped: the active iptables backend's rules could not be read"


def test_garbage_iptables_save_output_is_reported_not_raised():
    saves = {"nf_tables": {"binary": "/usr/sbin/iptables-nft-save", "text": "*filter\n-A X -j Y\n", "error": None}}
    result = audit(collected(saves=saves))
    assert "unparsable iptables-save output: line 2" in only(result, "IPTABLES_READ_FAILED")[0]["message"]


def test_running_engine_without_any_docker_chain_means_the_rules_were_flushed():
    result = audit(collected(nft="", engine=running_engine("28.5.2")))
    assert codes(result) == ["DOCKER_RULES_ABSENT"]


def test_invalid_daemon_json_is_high():
    result = audit(collected(nft="", daemon_error="invalid JSON: Expecting ',' delimiter: line 1 column 14"))
    finding = only(result, "DAEMON_JSON_INVALID")[0]
    assert finding["severity"] == "high"
    assert "/etc/docker/daemon.json is invalid (invalid JSON" in finding["message"]


def test_flag_and_daemon_json_setting_the_same_directive_conflict():
    result = audit(collected(nft="", daemon={"icc": False}, exec_start="/usr/bin/dockerd -H fd:// --icc=false"))
    finding = only(result, "DOCKERD_FLAG_CONFLICT")[0]
    assert finding["evidence"]["setting"] == "icc"
    assert result["summary"]["settings_sources"]["icc"].startswith("ExecStart flag")


def test_flag_alone_sets_the_effective_value():
    result = audit(collected(nft="", exec_start="/usr/bin/dockerd --userland-proxy=false", br_facts=br("blocked"),
                             package=("docker-ce", "5:28.5.2-1~debian.12~bookworm")))
    assert result["summary"]["settings"]["userland-proxy"] is False
    assert "DOCKER_BR_NETFILTER_REQUIRED" in codes(result)


def test_nftables_firewall_backend_skips_iptables_rule_checks():
    engine = running_engine("28.5.2")
    engine["info"] = dict(engine["info"], FirewallBackend={"Driver": "nftables"})
    result = audit(collected(nft="", engine=engine))
    assert codes(result) == ["DOCKER_FIREWALL_BACKEND_NFTABLES"]
    assert result["summary"]["rule_checks"] == "skipped: dockerd uses the nftables firewall backend"


def test_missing_br_netfilter_facts_do_not_invent_br_findings():
    data = collected(nft=D28_PUBLISH, daemon={"icc": False}, engine=running_engine("28.5.2"))
    data["br_netfilter"] = None
    data["br_netfilter_error"] = "ImportError: no module named _br_netfilter"
    result = audit(data)
    assert result["findings"] == []
    assert result["summary"]["br_netfilter_state"] is None


# --- fail_on ----------------------------------------------------------------------

def test_fail_on_selects_findings_at_or_above_the_threshold():
    findings = [{"code": "A", "severity": "info"}, {"code": "B", "severity": "medium"}, {"code": "C", "severity": "high"}]
    assert failing(findings, "none") == []
    assert [item["code"] for item in failing(findings, "low")] == ["B", "C"]
    assert [item["code"] for item in failing(findings, "medium")] == ["B", "C"]
    assert [item["code"] for item in failing(findings, "high")] == ["C"]
    with pytest.raises(ValueError, match="fail_on must be one of none, info, low, medium, high"):
        failing(findings, "critical")


# --- the table itself ---------------------------------------------------------------

def test_known_issue_rows_are_complete_and_codes_unique():
    seen = set()
    for row in KNOWN_ISSUES:
        assert row["code"] not in seen
        seen.add(row["code"])
        assert row["severity"] in SEVERITIES
        assert row["kind"] in ("status", "config", "version", "rules")
        assert (row["condition"] in HOST_CONDITIONS) != (row["condition"] in DOCKER_CONDITIONS)
        assert row["message"] and row["remediation"]
        assert all(ref.startswith("https://") for ref in row["reference"])
        if row["kind"] == "version":
            assert row["component"] and row["versions"] and row["reference"]


# One scenario per code: every row of the table is exercised by at least one input.
SCENARIOS = {
    "AUDIT_UNPRIVILEGED": lambda: dict(collected(nft=""), privileges={"uid": 1000, "cap_net_admin": False,
                                                                      "cap_dac_read_search": False}),
    "DOCKER_NOT_INSTALLED": lambda: collected(nft="", package=None),
    "PACKAGE_DB_UNREADABLE": lambda: dict(collected(nft="", package=None), packages={
        "manager": "dpkg", "installed": {}, "unknown": True,
        "error": "/var/lib/dpkg/status is binary (it holds NUL bytes), not a dpkg status file"}),
    "DOCKER_VERSION_UNKNOWN": lambda: collected(nft=D28_DEFAULTS, package=None),
    "DOCKER_ENGINE_NOT_RUNNING": lambda: collected(nft=""),
    "DOCKER_ROOTLESS": lambda: collected(nft="", rootless=[{"user": "bob", "port_driver": "builtin"}]),
    "DOCKER_IPTABLES_DISABLED": lambda: collected(nft="", daemon={"iptables": False}),
    "DOCKER_FIREWALL_BACKEND_NFTABLES": lambda: collected(nft="", daemon={"firewall-backend": "nftables"}),
    "IPTABLES_NOT_FOUND": lambda: collected(iptables_binary=None, saves={}),
    "IPTABLES_READ_FAILED": lambda: collected(saves={"legacy": {"binary": "x", "text": None, "error": "boom"}}),
    "DAEMON_JSON_INVALID": lambda: collected(nft="", daemon_error="invalid JSON"),
    "DOCKERD_FLAG_CONFLICT": lambda: collected(nft="", daemon={"iptables": True},
                                               exec_start="/usr/bin/dockerd --iptables=true"),
    "DOCKER_BR_NETFILTER_REQUIRED_NO_ESCAPE": lambda: collected(nft="", package=("docker.io", "26.1.5+dfsg1-9"),
                                                                daemon={"icc": False}, br_facts=br("blocked")),
    "DOCKER_BR_NETFILTER_REQUIRED": lambda: collected(nft="", daemon={"icc": False}, br_facts=br("unavailable")),
    "DOCKER_BR_NETFILTER_ERROR_IGNORED": lambda: collected(nft="", daemon={"icc": False}, br_facts=br("blocked"),
                                                           environment={"DOCKER_IGNORE_BR_NETFILTER_ERROR": "1"}),
    "DOCKER_IGNORE_BR_NETFILTER_ERROR_SET": lambda: collected(nft="", environment={"DOCKER_IGNORE_BR_NETFILTER_ERROR": "1"}),
    "DOCKER_IGNORE_BR_NETFILTER_ERROR_DELIBERATE": lambda: deliberate(collected(nft="", br_facts=br("loadable"))),
    "DOCKER_USERLAND_PROXY_BR_NETFILTER_UNCHECKED": lambda: collected(
        nft="", package=("docker.io", "26.1.5+dfsg1-9"), daemon={"userland-proxy": False}, br_facts=br("blocked")),
    "DOCKER_27_3_BR_NETFILTER_DETECTION": lambda: collected(nft="", package=("docker-ce", "5:27.3.1-1~debian.12~bookworm"),
                                                            daemon={"icc": False},
                                                            br_facts=br("loadable", False, True)),
    "DOCKER_28_0_0_ROOTLESS_SLIRP4NETNS": lambda: collected(nft="", package=("docker-ce", "5:28.0.0-1~debian.12~bookworm"),
                                                            rootless=[{"user": "bob", "port_driver": "slirp4netns"}]),
    "IPTABLES_1_8_11_1_DEBIAN": lambda: collected(nft="", iptables_pkg="1.8.11-1"),
    "DOCKER_RULES_ABSENT": lambda: collected(nft="", engine=running_engine("28.5.2")),
    "DOCKER_CHAINS_IN_INACTIVE_BACKEND": lambda: collected(nft="", legacy=D28_DEFAULTS),
    "IPTABLES_RULES_IN_BOTH_BACKENDS": lambda: collected(nft=D28_DEFAULTS, legacy=D26_DEFAULTS),
    "DOCKER_CHAIN_MISSING": lambda: collected(nft="derived-docker-28.5.2-trixie.dump3-no-DOCKER-CT-chain"),
    "DOCKER_JUMP_MISSING": lambda: collected(nft="derived-docker-28.5.2-trixie.dump3-no-prerouting-jump"),
    "DOCKER_USER_NOT_FIRST": lambda: collected(nft=D26_FAILED, package=("docker.io", "26.1.5+dfsg1-9")),
    "DOCKER_MASQUERADE_MISSING": lambda: collected(nft="derived-docker-28.5.2-trixie.dump2-masquerade-172.18-removed"),
    "DOCKER_DNAT_MISSING": lambda: collected(nft="derived-docker-28.5.2-trixie.dump3-dnat-8080-removed",
                                             daemon={"userland-proxy": False}),
    "DOCKER_DNAT_MISSING_PROXIED": lambda: collected(nft="derived-docker-28.5.2-trixie.dump3-dnat-8080-removed"),
}


def test_every_known_issue_has_a_scenario():
    assert sorted(SCENARIOS) == sorted(row["code"] for row in KNOWN_ISSUES)


@pytest.mark.parametrize("code", sorted(SCENARIOS))
def test_scenario_produces_its_code_with_a_fully_formatted_message(code):
    result = audit(SCENARIOS[code]())
    found = only(result, code)
    row = [item for item in KNOWN_ISSUES if item["code"] == code][0]
    placeholders = [name for _t, name, _f, _c in string.Formatter().parse(row["message"]) if name]
    for finding in found:
        assert finding["severity"] == row["severity"]
        assert finding["reference"] == row["reference"]
        for name in placeholders:
            assert name in finding["evidence"], "%s: evidence lacks %r" % (code, name)
        assert "{" not in finding["message"]


@pytest.mark.parametrize("code", sorted(SCENARIOS))
def test_scenario_result_is_the_same_as_with_every_condition_evaluated(code, monkeypatch):
    """Skipping the Docker-only conditions where no Docker trace is (conditions_for) changes no result."""
    gated = audit(SCENARIOS[code]())
    monkeypatch.setattr(_docker_audit, "conditions_for", lambda ctx: dict(HOST_CONDITIONS, **DOCKER_CONDITIONS))
    assert audit(SCENARIOS[code]()) == gated


def test_unprivileged_audit_is_high_and_names_the_missing_capabilities():
    unprivileged = dict(collected(nft=""), privileges={"uid": 0, "cap_net_admin": False, "cap_dac_read_search": True})
    finding = only(audit(unprivileged), "AUDIT_UNPRIVILEGED")[0]
    assert finding["severity"] == "high"
    assert finding["evidence"] == {"uid": 0, "missing": "CAP_NET_ADMIN"}
    assert "become" in finding["remediation"]
    privileged = dict(collected(nft=""), privileges={"uid": 0, "cap_net_admin": True, "cap_dac_read_search": True})
    assert "AUDIT_UNPRIVILEGED" not in audit(privileged)["summary"]["codes"]
    # A collection without /proc/self/status (an old capture) says nothing about privilege.
    assert "AUDIT_UNPRIVILEGED" not in audit(collected(nft=""))["summary"]["codes"]
