# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Docker's IPv6 rules (ip6tables) audited like IPv4, on real captures of a dockerd with an IPv6 network."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.nodeprep.netfilter.plugins.module_utils._docker_audit import (
    audit,
    ip6tables_enabled,
    ipv6_networks,
    ipv6_published,
)
from ansible_collections.nodeprep.netfilter.plugins.module_utils._docker_collect import sanitize_engine
from ansible_collections.nodeprep.netfilter.plugins.module_utils._known_issues import BOTH, KNOWN_ISSUES, issue

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "docker")
N6 = "docker-20.10.24-bookworm.ip6tables-true-network-n6-publish-8086"
DNAT6 = "-A DOCKER ! -i br-2b69a2e004dc -p tcp -m tcp --dport 8086 -j DNAT --to-destination [fd00:6::2]:80\n"
MASQ6 = "-A POSTROUTING -s fd00:6::/64 ! -o br-2b69a2e004dc -j MASQUERADE\n"


def read(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


def without(text, line):
    assert line in text  # the derived case really differs from the capture
    return text.replace(line, "")


def host(ip6=None, daemon=None, version="20.10.24", engine=True, networks=None, containers=None,
         package="20.10.24+dfsg1-1+deb12u1+b6"):
    """The captured host as ``collect`` would hand it to ``audit``: ``daemon`` is daemon.json, ``ip6`` the ip6 dump."""
    explicit = {"ip6tables": True} if daemon is None else dict(daemon)
    info = json.loads(read("docker-20.10.24-bookworm.info.json"))
    info["ServerVersion"] = version
    raw = {"socket": "/var/run/docker.sock", "socket_present": engine, "reachable": engine,
           "error": None if engine else "connection refused",
           "info": info if engine else None,
           "networks": (json.loads(read(N6 + ".networks.json")) if networks is None else networks) if engine else None,
           "containers": (json.loads(read(N6 + ".containers.json")) if containers is None else containers)
           if engine else None}
    text6 = read(N6 + ".ip6tables-save.txt") if ip6 is None else ip6
    return {
        "packages": {"manager": "dpkg", "installed": {"docker.io": {"version": package},
                                                      "iptables": {"version": "1.8.9-2"}}},
        "docker": {
            "dockerd_path": "/usr/sbin/dockerd", "cli_path": None, "dockerd_version_output": None,
            "engine": sanitize_engine(raw),  # the boundary the module passes replies through
            "daemon_json": {"path": "/etc/docker/daemon.json", "present": bool(explicit), "settings": {},
                            "explicit": explicit, "error": None},
            "systemd": {"unit": "/usr/lib/systemd/system/docker.service", "masked": False, "dropins": [],
                        "environment": {}, "environment_sources": {}, "environment_files": [],
                        "exec_start": "/usr/sbin/dockerd -H fd://"},
            "rootless": [],
        },
        "iptables": {"binary": "/usr/sbin/iptables", "version_output": "iptables v1.8.9 (nf_tables)",
                     "version_error": None, "legacy_table_names": [],
                     "saves": {"nf_tables": {"binary": "/usr/sbin/iptables-nft-save", "error": None,
                                             "text": read(N6 + ".iptables-save.txt")}},
                     "saves6": {"nf_tables": {"binary": "/usr/sbin/ip6tables-nft-save", "error": None, "text": text6}}},
        "routes": [{"iface": "br-2b69a2e004dc", "subnet": "172.18.0.0/16"}],
        "br_netfilter": {"state": "builtin", "bridge_nf_call_iptables_present": True,
                         "bridge_sysctl_dir_present": True, "ready": True, "problems": []},
        "br_netfilter_error": None,
    }


def ipv6_findings(result):
    return [finding for finding in result["findings"] if finding["evidence"].get("family") == "ipv6"]


def test_captured_docker_20_10_with_ip6tables_and_an_ipv6_network_is_clean_and_audited():
    result = audit(host())
    assert result["findings"] == []
    ip6 = result["summary"]["ip6tables"]
    assert ip6["rule_checks"] == "done"
    assert (ip6["enabled"], ip6["enabled_why"]) == (True, "ip6tables=true")
    assert [(net["name"], net["bridge"], net["subnets"]) for net in ip6["networks_checked"]] == [
        ("n6", "br-2b69a2e004dc", ["fd00:6::/64"])]
    assert ip6["published_ports_checked"] == 1
    # No DOCKER-USER in ip6tables before 24.0 (moby #42477): its absence there is not a finding.
    assert "DOCKER-USER" not in ip6["docker_chains"]["filter"]


@pytest.mark.parametrize("userland_proxy, code, severity", [
    (None, "DOCKER_DNAT_MISSING_PROXIED", "medium"),
    (False, "DOCKER_DNAT_MISSING", "high"),
])
def test_a_missing_ip6tables_dnat_rule_is_reported_for_ipv6(userland_proxy, code, severity):
    daemon = {"ip6tables": True}
    if userland_proxy is not None:
        daemon["userland-proxy"] = userland_proxy
    result = audit(host(ip6=without(read(N6 + ".ip6tables-save.txt"), DNAT6), daemon=daemon))
    assert [finding["code"] for finding in result["findings"]] == [code]
    finding = result["findings"][0]
    assert finding["severity"] == severity
    assert finding["evidence"]["family"] == "ipv6"
    assert finding["evidence"]["port"] == 8086
    assert finding["evidence"]["destination"] == "[fd00:6::2]:80"
    assert finding["evidence"]["container"] == "container web6"
    assert finding["message"].startswith("No ip6tables DNAT rule for host port 8086 (tcp) to [fd00:6::2]:80")


def test_a_missing_ip6tables_masquerade_is_reported_for_the_ipv6_subnet():
    result = audit(host(ip6=without(read(N6 + ".ip6tables-save.txt"), MASQ6)))
    assert [finding["code"] for finding in result["findings"]] == ["DOCKER_MASQUERADE_MISSING"]
    evidence = result["findings"][0]["evidence"]
    assert (evidence["family"], evidence["subnet"], evidence["network"]) == ("ipv6", "fd00:6::/64", "n6")


def test_flushed_ip6tables_while_the_engine_runs_is_rules_absent_for_ipv6():
    result = audit(host(ip6="*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"))
    assert [finding["code"] for finding in result["findings"]] == ["DOCKER_RULES_ABSENT"]
    assert result["findings"][0]["evidence"]["family"] == "ipv6"
    assert "nf_tables ip6tables rules" in result["findings"][0]["message"]


def test_docker_user_is_expected_in_ip6tables_from_24_0():
    result = audit(host(version="24.0.7", package="24.0.7+dfsg-1"))
    found = sorted((finding["code"], finding["evidence"].get("chain") or finding["evidence"].get("to_chain"))
                   for finding in ipv6_findings(result))
    assert found == [("DOCKER_CHAIN_MISSING", "DOCKER-USER"), ("DOCKER_JUMP_MISSING", "DOCKER-USER")]
    assert all(finding["evidence"]["expected_for"] == "Docker >= 24.0.0" for finding in ipv6_findings(result))


def test_ipv6_rules_are_not_checked_when_dockerd_writes_none():
    broken = without(read(N6 + ".ip6tables-save.txt"), DNAT6)
    # Docker 20.10 defaults to ip6tables=false: a missing IPv6 DNAT is then expected, not a finding.
    result = audit(host(ip6=broken, daemon={}))
    assert ipv6_findings(result) == []
    assert result["summary"]["ip6tables"]["rule_checks"] == (
        "skipped: dockerd writes no ip6tables rules (default before Docker 27.0.0)")


def test_without_the_engine_ipv6_networks_are_unknown_not_guessed():
    result = audit(host(ip6=without(read(N6 + ".ip6tables-save.txt"), DNAT6), engine=False))
    assert ipv6_findings(result) == []
    ip6 = result["summary"]["ip6tables"]
    assert ip6["networks_checked"] == "unknown"
    assert ip6["rule_checks"] == "skipped: unknown whether a Docker network has IPv6: the engine did not list its networks"


def test_network_without_enable_ipv6_expects_no_ipv6_rules():
    networks = json.loads(read(N6 + ".networks.json"))
    for network in networks:
        network["EnableIPv6"] = False
    result = audit(host(ip6="", networks=networks))
    assert result["findings"] == []
    assert result["summary"]["ip6tables"]["rule_checks"] == "skipped: no Docker network has IPv6"


@pytest.mark.parametrize("settings, version, expected", [
    ({"iptables": True, "ip6tables": None}, "28.5.2", (True, "default since Docker 27.0.0")),
    ({"iptables": True, "ip6tables": None}, "27.0.3", (True, "default since Docker 27.0.0")),
    ({"iptables": True, "ip6tables": None}, "26.1.5", (False, "default before Docker 27.0.0")),
    ({"iptables": True, "ip6tables": False}, "28.5.2", (False, "ip6tables=false")),
    ({"iptables": True, "ip6tables": True}, "20.10.24", (True, "ip6tables=true")),
    ({"iptables": False, "ip6tables": True}, "28.5.2", (False, "iptables=false turns off ip6tables too")),
    ({"iptables": True, "ip6tables": None}, None, (None, "Docker's version is unknown, so the ip6tables default is too")),
])
def test_ip6tables_setting_and_its_default_by_version(settings, version, expected):
    assert ip6tables_enabled(settings, version) == expected


def test_ipv6_networks_need_enable_ipv6_and_an_ipv6_subnet():
    base = {"Name": "n", "Id": "c" * 64, "Driver": "bridge", "Options": {}, "Internal": False}
    assert ipv6_networks([dict(base, EnableIPv6=True, IPAM={"Config": [{"Subnet": "172.20.0.0/16"}]})]) == []
    assert ipv6_networks([dict(base, EnableIPv6=False, IPAM={"Config": [{"Subnet": "fd00:1::/64"}]})]) == []
    found = ipv6_networks([dict(base, EnableIPv6=True,
                                IPAM={"Config": [{"Subnet": "172.20.0.0/16"}, {"Subnet": "fd00:1::/64"}]},
                                Options={"com.docker.network.bridge.gateway_mode_ipv6": "routed"})])
    assert found == [{"name": "n", "bridge": "br-cccccccccccc", "subnets": ["fd00:1::/64"], "masquerade": False}]


def test_ipv6_networks_and_ports_come_out_by_name_whatever_order_the_engine_lists_them():
    def network(name, ident):
        return {"Name": name, "Id": ident * 64, "Driver": "bridge", "Options": {}, "Internal": False,
                "EnableIPv6": True, "IPAM": {"Config": [{"Subnet": "fd00:%s::/64" % ident}]}}

    def container(name, network_name, port):
        return {"Names": ["/" + name], "NetworkSettings": {"Networks": {network_name: {"GlobalIPv6Address": "fd00::2"}}},
                "Ports": [{"PublicPort": port, "PrivatePort": 80, "Type": "tcp", "IP": "::"}]}

    listed = [network("n6", "6"), network("a6", "a")]
    assert [net["name"] for net in ipv6_networks(listed)] == ["a6", "n6"]
    assert ipv6_networks(listed) == ipv6_networks(list(reversed(listed)))
    running = [container("web9", "n6", 8089), container("web6", "a6", 8086)]
    published = ipv6_published(running, ipv6_networks(listed))
    assert [(port["container"], port["host_port"]) for port in published] == [("web6", 8086), ("web9", 8089)]
    assert published == ipv6_published(list(reversed(running)), ipv6_networks(listed))


def test_the_table_decides_which_families_a_row_applies_to():
    broken = host(ip6=without(read(N6 + ".ip6tables-save.txt"), DNAT6))
    row = dict(issue("DOCKER_DNAT_MISSING_PROXIED"))
    assert [finding["code"] for finding in audit(broken, issues=[row])["findings"]] == ["DOCKER_DNAT_MISSING_PROXIED"]
    row["families"] = ("ipv4",)
    assert audit(broken, issues=[row])["findings"] == []


def test_every_row_names_its_families_and_rule_rows_cover_ipv6_unless_ipv4_only_by_design():
    ipv4_only = {"DOCKER_CHAINS_IN_INACTIVE_BACKEND", "IPTABLES_RULES_IN_BOTH_BACKENDS"}
    for row in KNOWN_ISSUES:
        assert row["families"] and set(row["families"]) <= set(BOTH), row["code"]
        if row["kind"] == "rules":
            assert (row["families"] == BOTH) != (row["code"] in ipv4_only), row["code"]


def test_unreadable_ip6tables_is_a_read_failure_named_as_ipv6():
    data = host()
    data["iptables"]["saves6"]["nf_tables"] = {"binary": "/usr/sbin/ip6tables-nft-save", "text": None,
                                               "error": "ip6tables-nft-save exited 4: Permission denied"}
    result = audit(data)
    assert [finding["code"] for finding in result["findings"]] == ["IPTABLES_READ_FAILED"]
    assert result["findings"][0]["message"] == (
        "Could not read the nf_tables (ip6tables) rules: ip6tables-nft-save exited 4: Permission denied.")
    assert result["summary"]["ip6tables"]["rule_checks"] == "skipped: the ip6tables rules of the nf_tables backend could not be read"
