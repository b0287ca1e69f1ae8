# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Collection with an injected command runner: which commands run, when, and what happens on errors."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from ansible_collections.nodeprep.netfilter.plugins.module_utils._docker_audit import audit
from ansible_collections.nodeprep.netfilter.plugins.module_utils._docker_api import query_engine
from ansible_collections.nodeprep.netfilter.plugins.module_utils._docker_collect import (
    bounded_runner,
    collect,
    collect_packages,
    parse_privileges,
    query_engine_if_socket,
    sanitize_containers,
    sanitize_networks,
)
from ansible_collections.nodeprep.netfilter.plugins.module_utils._rootfs import RootFS

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "docker")
D28 = "docker-28.5.2-trixie.dump3-icc-false-br_netfilter-loaded-publish-8080.iptables-save.txt"
ROUTE = ("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
         "docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n")


def read_fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


class FakeHost(object):
    """Binaries that exist, and what each argv prints."""

    def __init__(self, binaries, outputs):
        self.binaries = binaries
        self.outputs = outputs
        self.calls = []

    def which(self, name):
        return self.binaries.get(name)

    def run(self, argv):
        self.calls.append(argv)
        result = self.outputs.get(tuple(argv))
        if result is None:
            raise OSError(2, "No such file or directory: %r" % argv[0])
        return result


NFT_HOST = {
    "iptables": "/usr/sbin/iptables",
    "iptables-nft-save": "/usr/sbin/iptables-nft-save",
    "iptables-legacy-save": "/usr/sbin/iptables-legacy-save",
}


def no_engine(socket_path):
    return {"socket": socket_path, "socket_present": False, "reachable": False, "error": "no socket",
            "info": None, "networks": None, "containers": None}


@pytest.fixture
def host_tree(tmp_path):
    root = tmp_path / "root"
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_text(
        "Package: docker.io\nStatus: install ok installed\nVersion: 28.5.2+dfsg4-5\n\n"
        "Package: iptables\nStatus: install ok installed\nVersion: 1.8.11-2\n")
    (root / "etc/docker").mkdir(parents=True)
    (root / "etc/docker/daemon.json").write_text('{"icc": false}')
    (tmp_path / "route").write_text(ROUTE)
    (tmp_path / "names").write_text("")
    return tmp_path


def run_collect(tmp_path, host, names="", **kwargs):
    (tmp_path / "names").write_text(names)
    return collect(root=str(tmp_path / "root"), run=host.run, which=host.which, query_engine=no_engine,
                   route_path=str(tmp_path / "route"), names_path=str(tmp_path / "names"), **kwargs)


def test_nft_host_without_legacy_tables_runs_two_commands_and_audits_clean(host_tree):
    host = FakeHost(NFT_HOST, {
        ("/usr/sbin/iptables", "--version"): (0, "iptables v1.8.11 (nf_tables)\n", ""),
        ("/usr/sbin/iptables-nft-save",): (0, read_fixture(D28), ""),
    })
    collected = run_collect(host_tree, host, gather_br=lambda root: {"state": "loaded",
                                                                     "bridge_nf_call_iptables_present": True})
    assert host.calls == [["/usr/sbin/iptables", "--version"], ["/usr/sbin/iptables-nft-save"]]
    assert collected["iptables"]["saves"]["legacy"]["skipped"].startswith("no table in")
    assert collected["routes"] == [{"iface": "docker0", "subnet": "172.17.0.0/16"}]
    assert collected["packages"]["installed"]["docker.io"]["version"] == "28.5.2+dfsg4-5"
    assert collected["docker"]["daemon_json"]["explicit"] == {"icc": False}
    assert [command["argv"] for command in collected["commands"]] == host.calls
    result = audit(collected)
    assert [finding["code"] for finding in result["findings"]] == ["DOCKER_ENGINE_NOT_RUNNING"]
    assert result["summary"]["rule_checks"] == "done"


def test_existing_legacy_tables_are_read_without_dash_t(host_tree):
    host = FakeHost(NFT_HOST, {
        ("/usr/sbin/iptables", "--version"): (0, "iptables v1.8.11 (nf_tables)\n", ""),
        ("/usr/sbin/iptables-nft-save",): (0, "", ""),
        ("/usr/sbin/iptables-legacy-save",): (0, "*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n", ""),
    })
    collected = run_collect(host_tree, host, names="nat\n")
    assert host.calls[-1] == ["/usr/sbin/iptables-legacy-save"]
    assert collected["iptables"]["legacy_table_names"] == ["nat"]


def test_failing_save_command_is_recorded_not_raised(host_tree):
    host = FakeHost(NFT_HOST, {
        ("/usr/sbin/iptables", "--version"): (0, "iptables v1.8.11 (nf_tables)\n", ""),
        ("/usr/sbin/iptables-nft-save",): (
            4, "", "iptables-nft-save v1.8.11 (nf_tables): Could not fetch rule set generation id: "
                   "Permission denied (you must be root)\n"),
    })
    collected = run_collect(host_tree, host)
    error = collected["iptables"]["saves"]["nf_tables"]["error"]
    assert error.startswith("iptables-nft-save exited 4: iptables-nft-save v1.8.11")
    assert "Permission denied" in error
    result = audit(collected)
    assert "IPTABLES_READ_FAILED" in [finding["code"] for finding in result["findings"]]


def test_missing_iptables_runs_nothing_and_becomes_a_finding(host_tree):
    host = FakeHost({}, {})
    collected = run_collect(host_tree, host)
    assert host.calls == []
    assert collected["iptables"]["binary"] is None
    assert "IPTABLES_NOT_FOUND" in [finding["code"] for finding in audit(collected)["findings"]]


def test_binary_that_vanishes_between_lookup_and_run_is_rc_127(host_tree):
    host = FakeHost(NFT_HOST, {})
    collected = run_collect(host_tree, host)
    assert collected["commands"][0]["rc"] == 127
    assert collected["iptables"]["version_error"].startswith("[Errno 2]")


def test_legacy_active_backend_also_reads_nft_to_find_split_rules(host_tree):
    host = FakeHost(dict(NFT_HOST, **{"iptables-legacy": "/usr/sbin/iptables-legacy"}), {
        ("/usr/sbin/iptables-legacy", "--version"): (0, "iptables v1.8.11 (legacy)\n", ""),
        ("/usr/sbin/iptables-nft-save",): (0, "", ""),
        ("/usr/sbin/iptables-legacy-save",): (0, "", ""),
    })
    collected = run_collect(host_tree, host, names="filter\nnat\n", iptables_binary="iptables-legacy")
    assert host.calls == [["/usr/sbin/iptables-legacy", "--version"], ["/usr/sbin/iptables-nft-save"],
                          ["/usr/sbin/iptables-legacy-save"]]


def test_dockerd_version_is_asked_only_when_nothing_else_knows(host_tree):
    root = host_tree / "root"
    (root / "var/lib/dpkg/status").write_text("")  # static binary install: no package
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/dockerd").write_text("")
    host = FakeHost({}, {("/usr/bin/dockerd", "--version"): (0, "Docker version 27.3.1, build 41ca978\n", "")})
    collected = run_collect(host_tree, host, run_dockerd_version=True)
    assert host.calls == [["/usr/bin/dockerd", "--version"]]
    summary = audit(collected)["summary"]
    assert (summary["docker_version"], summary["docker_version_source"]) == ("27.3.1", "dockerd --version")
    # under a fixture root the host's dockerd is not asked by default
    host2 = FakeHost({}, {})
    run_collect(host_tree, host2)
    assert host2.calls == []


def test_failing_br_netfilter_gathering_is_reported(host_tree):
    def broken(root):
        raise RuntimeError("cannot read /proc/sys/kernel/osrelease")
    collected = run_collect(host_tree, FakeHost({}, {}), gather_br=broken)
    assert collected["br_netfilter"] is None
    assert collected["br_netfilter_error"] == "RuntimeError: cannot read /proc/sys/kernel/osrelease"


def test_rpm_is_queried_only_without_a_dpkg_database(tmp_path):
    host = FakeHost({"rpm": "/usr/bin/rpm"}, {})

    def run(argv):
        host.calls.append(argv)
        return 1, "docker-ce\t3:27.3.1-1.el9\npackage moby-engine is not installed\n", ""

    packages = collect_packages(RootFS(str(tmp_path)), run, host.which, allow_rpm=True)
    assert packages["manager"] == "rpm"
    assert packages["installed"] == {"docker-ce": {"version": "3:27.3.1-1.el9"}}
    assert host.calls[0][:3] == ["/usr/bin/rpm", "-q", "--qf"]
    assert "docker-ce" in host.calls[0] and "iptables" in host.calls[0]
    assert collect_packages(RootFS(str(tmp_path)), run, host.which, allow_rpm=False)["manager"] is None


def test_collect_refuses_to_run_without_a_binary_finder():
    with pytest.raises(ValueError, match="needs a binary finder"):
        collect(root="/")


STATUS_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "proc_self_status"


@pytest.mark.parametrize("capture, expected", [
    ("root-debian12-host.txt", {"uid": 0, "cap_net_admin": True, "cap_dac_read_search": True}),
    ("nobody-debian12-host.txt", {"uid": 65534, "cap_net_admin": False, "cap_dac_read_search": False}),
    ("root-without-cap-net-admin.txt", {"uid": 0, "cap_net_admin": False, "cap_dac_read_search": True}),
])
def test_privileges_from_real_proc_self_status(capture, expected):
    assert parse_privileges((STATUS_FIXTURES / capture).read_text()) == expected


@pytest.mark.parametrize("text", [None, "", "Name:\tcat\n", "Uid:\t0\t0\t0\t0\nCapEff:\tzz\n",
                                  "CapEff:\t0000000000001000\n"])
def test_privileges_unknown_when_status_says_nothing_usable(text):
    assert parse_privileges(text) is None


def test_collect_reads_privileges_from_the_status_path(host_tree):
    host = FakeHost({}, {})
    collected = run_collect(host_tree, host, status_path=str(STATUS_FIXTURES / "nobody-debian12-host.txt"))
    assert collected["privileges"]["cap_net_admin"] is False
    assert "AUDIT_UNPRIVILEGED" in audit(collected)["summary"]["codes"]


def test_missing_socket_gives_what_the_engine_client_gives_without_importing_it(tmp_path):
    missing = str(tmp_path / "docker.sock")
    assert query_engine_if_socket(missing) == query_engine(missing)
    assert query_engine_if_socket(missing)["error"] == "no socket at %s" % missing


def test_existing_socket_is_asked_through_the_engine_client(tmp_path):
    path = tmp_path / "docker.sock"
    path.write_text("")  # not a listening socket: the client's connect fails and says so
    result = query_engine_if_socket(str(path))
    assert result["socket_present"] is True
    assert result["reachable"] is False
    assert "no socket" not in result["error"]


# --- engine replies of the wrong shape: a finding or a named error, never a traceback --------------------------

INFO_28 = read_fixture("docker-28.5.2-trixie.info.json")
GOOD_NETWORK = {"Name": "bridge", "Id": "0123456789abcdef", "Driver": "bridge",
                "Options": {"com.docker.network.bridge.name": "docker0"},
                "IPAM": {"Config": [{"Subnet": "172.17.0.0/16"}]}}
GOOD_CONTAINER = {"Names": ["/web"], "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.2"}}},
                  "Ports": [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}]}


def engine_answering(info=None, networks=None, containers=None):
    import json

    def query(socket_path):
        return {"socket": socket_path, "socket_present": True, "reachable": True, "error": None,
                "info": json.loads(INFO_28) if info is None else info,
                "networks": [GOOD_NETWORK] if networks is None else networks,
                "containers": [GOOD_CONTAINER] if containers is None else containers}
    return query


def collect_with_engine(host_tree, query):
    host = FakeHost(NFT_HOST, {
        ("/usr/sbin/iptables", "--version"): (0, "iptables v1.8.11 (nf_tables)\n", ""),
        ("/usr/sbin/iptables-nft-save",): (0, read_fixture(D28), ""),
    })
    (host_tree / "names").write_text("")
    return collect(root=str(host_tree / "root"), run=host.run, which=host.which, query_engine=query,
                   route_path=str(host_tree / "route"), names_path=str(host_tree / "names"))


def test_well_formed_engine_replies_pass_through_unchanged_in_meaning(host_tree):
    collected = collect_with_engine(host_tree, engine_answering())
    engine = collected["docker"]["engine"]
    assert engine["error"] is None
    assert engine["networks"][0]["Options"] == {"com.docker.network.bridge.name": "docker0"}
    assert engine["containers"][0]["Ports"][0]["PublicPort"] == 8080
    summary = audit(collected)["summary"]
    assert summary["docker_version"] == "28.5.2"


@pytest.mark.parametrize("networks, containers, named", [
    ([dict(GOOD_NETWORK, Options=["com.docker.network.bridge.name", "docker0"])], None,
     "networks[0].Options is list"),
    ([dict(GOOD_NETWORK, IPAM={"Config": "172.17.0.0/16"})], None, "networks[0].IPAM.Config is str"),
    ([dict(GOOD_NETWORK, Id=12345, IPAM={"Config": [None, 7, {"Subnet": 172}]})], None, None),
    (["bridge"], None, "networks[0] is str"),
    ({"bridge": GOOD_NETWORK}, None, "GET /networks is dict"),
    (None, [dict(GOOD_CONTAINER, Ports=[{"PublicPort": "http", "PrivatePort": 80}])],
     "containers[0] publishes port 'http', which is not a port number"),
    (None, [dict(GOOD_CONTAINER, Ports=[{"PublicPort": 99999999, "PrivatePort": "x"}])],
     "containers[0] publishes port '99999999'"),
    (None, [dict(GOOD_CONTAINER, Ports=[{"PublicPort": True}])], "containers[0] publishes port 'True'"),
    (None, [dict(GOOD_CONTAINER, Ports="8080->80/tcp")], "containers[0].Ports is str"),
    (None, [dict(GOOD_CONTAINER, Names=[None, 3], NetworkSettings={"Networks": ["bridge"]})], None),
    (None, [dict(GOOD_CONTAINER, Ports=[{"PublicPort": 8080, "IP": ["::"], "Type": 6}])], None),
    (None, "no containers", "GET /containers/json is str"),
])
def test_wrongly_typed_engine_fields_are_dropped_and_named(host_tree, networks, containers, named):
    collected = collect_with_engine(host_tree, engine_answering(networks=networks, containers=containers))
    engine = collected["docker"]["engine"]
    if named:
        assert named in engine["error"]
        assert engine["error"].startswith("unexpected engine reply: ")
    result = audit(collected)  # the real consumer: must not raise
    assert result["summary"]["docker_version"] == "28.5.2"
    assert engine["reachable"] is True


def test_a_published_port_given_as_digits_is_still_checked(host_tree):
    containers = [dict(GOOD_CONTAINER, Ports=[{"IP": "0.0.0.0", "PrivatePort": "80", "PublicPort": "8080"}])]
    engine = collect_with_engine(host_tree, engine_answering(containers=containers))["docker"]["engine"]
    assert engine["containers"][0]["Ports"] == [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080}]
    assert engine["error"] is None


@pytest.mark.parametrize("info, named", [
    (["28.5.2"], "GET /info is list"),
    ({"ServerVersion": 28.5}, "info.ServerVersion is float"),
    ({"ServerVersion": "28.5.2", "SecurityOptions": "name=rootless", "Warnings": 3, "FirewallBackend": "nftables",
      "BridgeNfIptables": "yes"}, "info.SecurityOptions is str"),
])
def test_an_info_reply_of_the_wrong_shape_is_named_and_audited(host_tree, info, named):
    collected = collect_with_engine(host_tree, engine_answering(info=info))
    engine = collected["docker"]["engine"]
    assert named in engine["error"]
    summary = audit(collected)["summary"]
    if isinstance(info, dict) and isinstance(info.get("ServerVersion"), str):
        assert summary["docker_version"] == "28.5.2"
        assert engine["info"]["SecurityOptions"] == []  # a string is not a list of options: no false "rootless"
    else:
        # no usable ServerVersion: the version comes from the package instead, and the engine error says why
        assert summary["docker_version_source"] == "package docker.io"
    assert engine["reachable"] is (not isinstance(info, list))  # a list is no /info answer at all


def test_many_bad_fields_are_counted_not_all_listed(host_tree):
    containers = [dict(GOOD_CONTAINER, Ports=[{"PublicPort": "p%d" % i}]) for i in range(200)]
    engine = collect_with_engine(host_tree, engine_answering(containers=containers))["docker"]["engine"]
    assert engine["error"].endswith("; and 195 more")
    assert len(engine["error"]) < 1000


@pytest.mark.parametrize("status", [
    pytest.param(b"\x00\x01\x02garbage\x00", id="binary"),
    pytest.param(b"Package: docker.io\r\nStatus: install ok installed\r\nVersion: 28.5.2+dfsg4-5\r\n", id="crlf"),
    pytest.param(b"this is not a status file\n", id="no-stanza"),
])
def test_corrupt_dpkg_status_is_an_unknown_package_set_not_nothing_installed(host_tree, status):
    root = host_tree / "root"
    (root / "var/lib/dpkg/status").write_bytes(status)
    (root / "etc/docker/daemon.json").unlink()  # no other Docker trace: only the package database could tell
    collected = run_collect(host_tree, FakeHost({}, {}))
    assert collected["packages"]["unknown"] is True
    result = audit(collected)
    codes = [finding["code"] for finding in result["findings"]]
    assert "DOCKER_NOT_INSTALLED" not in codes
    assert codes == ["PACKAGE_DB_UNREADABLE"]
    assert "/var/lib/dpkg/status" in result["findings"][0]["message"]
    assert result["summary"]["packages_known"] is False


def test_dpkg_status_that_is_a_directory_is_unknown_too(host_tree):
    root = host_tree / "root"
    (root / "var/lib/dpkg/status").unlink()
    (root / "var/lib/dpkg/status").mkdir()
    result = audit(run_collect(host_tree, FakeHost({}, {})))
    assert "PACKAGE_DB_UNREADABLE" in result["summary"]["codes"]
    assert "DOCKER_NOT_INSTALLED" not in result["summary"]["codes"]


def test_healthy_empty_dpkg_status_still_concludes_docker_is_not_installed(host_tree):
    root = host_tree / "root"
    (root / "var/lib/dpkg/status").write_text("")
    (root / "etc/docker/daemon.json").unlink()
    result = audit(run_collect(host_tree, FakeHost({}, {})))
    assert result["summary"]["codes"] == ["DOCKER_NOT_INSTALLED"]
    assert result["summary"]["packages_known"] is True


def test_ip6tables_is_read_once_from_the_backend_iptables_uses(host_tree):
    host = FakeHost(dict(NFT_HOST, **{"ip6tables-nft-save": "/usr/sbin/ip6tables-nft-save",
                                      "ip6tables-legacy-save": "/usr/sbin/ip6tables-legacy-save"}), {
        ("/usr/sbin/iptables", "--version"): (0, "iptables v1.8.11 (nf_tables)\n", ""),
        ("/usr/sbin/iptables-nft-save",): (0, read_fixture(D28), ""),
        ("/usr/sbin/ip6tables-nft-save",): (0, "*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n", ""),
    })
    collected = run_collect(host_tree, host)
    assert host.calls == [["/usr/sbin/iptables", "--version"], ["/usr/sbin/iptables-nft-save"],
                          ["/usr/sbin/ip6tables-nft-save"]]
    assert list(collected["iptables"]["saves6"]) == ["nf_tables"]
    assert collected["iptables"]["saves6"]["nf_tables"]["text"].startswith("*nat")


def test_legacy_ip6tables_is_not_read_when_no_legacy_ip6_table_exists(host_tree):
    host = FakeHost({"iptables-legacy": "/usr/sbin/iptables-legacy",
                     "iptables-legacy-save": "/usr/sbin/iptables-legacy-save",
                     "ip6tables-legacy-save": "/usr/sbin/ip6tables-legacy-save"}, {
        ("/usr/sbin/iptables-legacy", "--version"): (0, "iptables v1.8.11 (legacy)\n", ""),
        ("/usr/sbin/iptables-legacy-save",): (0, "", ""),
    })
    (host_tree / "names6").write_text("")
    collected = run_collect(host_tree, host, names="filter\n", iptables_binary="iptables-legacy",
                            names6_path=str(host_tree / "names6"))
    assert ["/usr/sbin/ip6tables-legacy-save"] not in host.calls
    assert collected["iptables"]["saves6"]["legacy"]["skipped"].startswith("no table in")
    (host_tree / "names6").write_text("nat\n")
    host.outputs[("/usr/sbin/ip6tables-legacy-save",)] = (0, "", "")
    run_collect(host_tree, host, names="filter\n", iptables_binary="iptables-legacy",
                names6_path=str(host_tree / "names6"))
    assert host.calls[-1] == ["/usr/sbin/ip6tables-legacy-save"]


def test_engine_replies_keep_what_the_ipv6_audit_reads():
    notes = []
    networks = sanitize_networks([{"Name": "n6", "Id": "a" * 64, "Driver": "bridge", "EnableIPv6": True,
                                   "IPAM": {"Config": [{"Subnet": "fd00:6::/64"}]}}], notes)
    assert networks[0]["EnableIPv6"] is True and networks[0]["IPAM"]["Config"] == [{"Subnet": "fd00:6::/64"}]
    containers = sanitize_containers([{"Names": ["/web6"], "NetworkSettings": {"Networks": {"n6": {
        "IPAddress": "172.18.0.2", "GlobalIPv6Address": "fd00:6::2"}}},
        "Ports": [{"IP": "::", "PrivatePort": 80, "PublicPort": 8086, "Type": "tcp"}]}], notes)
    assert containers[0]["NetworkSettings"]["Networks"]["n6"] == {
        "IPAddress": "172.18.0.2", "GlobalIPv6Address": "fd00:6::2"}
    assert notes == []


def test_a_hanging_save_command_is_killed_at_the_deadline_and_reported(host_tree):
    """The module's runner on a real process: a stuck iptables-nft-save costs the deadline, not the task."""
    bindir = host_tree / "bin"
    bindir.mkdir()
    (bindir / "iptables").write_text("#!/bin/sh\necho 'iptables v1.8.11 (nf_tables)'\n")
    (bindir / "iptables-nft-save").write_text("#!/bin/sh\nsleep 30\n")
    for script in bindir.iterdir():
        script.chmod(0o755)
    binaries = dict((path.name, str(path)) for path in bindir.iterdir())
    started = time.monotonic()
    collected = collect(root=str(host_tree / "root"), run=bounded_runner(timeout=0.5), which=binaries.get,
                        query_engine=no_engine, route_path=str(host_tree / "route"),
                        names_path=str(host_tree / "names"))
    assert time.monotonic() - started < 10
    assert [command["rc"] for command in collected["commands"]] == [0, 124]
    assert collected["iptables"]["saves"]["nf_tables"]["error"].startswith("iptables-nft-save exited 124")
    finding = [item for item in audit(collected)["findings"] if item["code"] == "IPTABLES_READ_FAILED"]
    assert finding and "did not finish within 0.5 s and was killed" in finding[0]["message"]
