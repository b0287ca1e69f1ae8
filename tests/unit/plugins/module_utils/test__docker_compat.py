# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The docker_br_netfilter_compat role's host side, and the role's decision followed by the audit of the same host."""

from __future__ import annotations

import copy
import json
import os

import pytest

from ansible_collections.nodeprep.netfilter.plugins.module_utils import _docker_compat as compat
from ansible_collections.nodeprep.netfilter.plugins.module_utils._br_netfilter_need import dropin_content
from ansible_collections.nodeprep.netfilter.plugins.module_utils._docker_audit import audit
from ansible_collections.nodeprep.netfilter.plugins.module_utils._docker_collect import collect

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "docker")
DROPIN = compat.DROPIN_PATH
OLD_DROPIN = ("# Managed by nodeprep.netfilter.docker_br_netfilter_compat: br_netfilter is unavailable or blocked on this "
              "host.\n[Service]\nEnvironment=DOCKER_IGNORE_BR_NETFILTER_ERROR=1\n")  # written by release 1.0.0


class FakeRunner(object):
    def __init__(self, outputs):
        self.outputs = outputs
        self.calls = []

    def __call__(self, argv):
        self.calls.append(argv)
        return self.outputs[argv[0]]


def which_all(name):
    return "/usr/bin/" + name


def which_none(_name):
    return None


def br(state, key=None, directory=None):
    if key is None:
        key = state in ("loaded", "builtin")
    return {"state": state, "bridge_nf_call_iptables_present": key,
            "bridge_sysctl_dir_present": key if directory is None else directory}


def compat_root(tmp_path, dropin=None, daemon_json=None, version="28.5.2+dfsg4-5"):
    root = tmp_path / "root"
    (root / "var" / "lib" / "dpkg").mkdir(parents=True)
    (root / "var" / "lib" / "dpkg" / "status").write_text(
        "Package: docker.io\nStatus: install ok installed\nVersion: %s\nArchitecture: amd64\n\n" % version)
    (root / "usr" / "lib" / "systemd" / "system").mkdir(parents=True)
    (root / "usr" / "lib" / "systemd" / "system" / "docker.service").write_text(
        "[Service]\nExecStart=/usr/sbin/dockerd -H fd://\n")
    if dropin is not None:
        (root / "etc" / "systemd" / "system" / "docker.service.d").mkdir(parents=True)
        (root / "etc" / "systemd" / "system" / "docker.service.d" / "10-br-netfilter.conf").write_text(dropin)
    if daemon_json is not None:
        (root / "etc" / "docker").mkdir(parents=True)
        (root / "etc" / "docker" / "daemon.json").write_text(daemon_json)
    return str(root)


# --- moved from _pins with the decision: inputs, drop-in, running service -------------------------------------------

def test_compat_from_host_reads_the_package_version_and_warns_about_isolation(tmp_path):
    result = compat.compat_from_host("blocked", root=compat_root(tmp_path, daemon_json='{"icc": false}'))
    assert (result["action"], result["docker_version"], result["docker_version_source"]) == (
        "present", "28.5.2", "package docker.io (dpkg)")
    assert result["dropin"] == {"path": DROPIN, "present": False, "managed": False,
                                "content": dropin_content("auto"), "dir_exists": False}
    assert result["daemon"]["icc"] is False
    assert "inter-container isolation (icc=false, networks with enable_icc=false) is NOT enforced" in result["notes"][0]


def test_compat_from_host_with_default_settings_installs_nothing(tmp_path):
    result = compat.compat_from_host("blocked", root=compat_root(tmp_path))
    assert (result["action"], result["needed"], result["code"]) == ("absent", False, None)


def test_flags_on_execstart_decide_like_daemon_json(tmp_path):
    root = compat_root(tmp_path)
    with open(os.path.join(root, "usr/lib/systemd/system/docker.service"), "w") as handle:
        handle.write("[Service]\nExecStart=/usr/sbin/dockerd -H fd:// --userland-proxy=false\n")
    result = compat.compat_from_host("unavailable", root=root)
    assert (result["action"], result["needed_by"]) == ("present", ["userland-proxy=false"])


def test_compat_from_host_recognises_its_own_drop_in_and_spares_a_foreign_one(tmp_path):
    ours = compat.compat_from_host("loadable", root=compat_root(tmp_path / "a", dropin=dropin_content("auto")))
    assert ours["action"] == "absent" and ours["dropin"]["managed"] is True and ours["dropin"]["dir_exists"] is True
    older = compat.compat_from_host("loadable", root=compat_root(tmp_path / "c", dropin=OLD_DROPIN))
    assert older["dropin"]["managed"] is True
    foreign = compat.compat_from_host("loadable", root=compat_root(
        tmp_path / "b", dropin="[Service]\nEnvironment=DOCKER_IGNORE_BR_NETFILTER_ERROR=1\n"))
    assert foreign["dropin"]["managed"] is False
    assert foreign["notes"][0].endswith("10-br-netfilter.conf exists but was not written by this role; it is left in place.")


@pytest.mark.parametrize("br_state,environ,pending", [
    ("blocked", b"PATH=/usr/bin\0", True),  # drop-in wanted, dockerd runs without it
    ("blocked", b"PATH=/usr/bin\0DOCKER_IGNORE_BR_NETFILTER_ERROR=1\0", False),
    ("loadable", b"DOCKER_IGNORE_BR_NETFILTER_ERROR=1\0", True),  # drop-in gone, dockerd still has it
    ("loadable", b"DOCKER_IGNORE_BR_NETFILTER_ERROR=\0", False),  # empty means unset for dockerd
])
def test_compat_from_host_compares_the_running_environment(tmp_path, br_state, environ, pending):
    run = FakeRunner({"/usr/bin/systemctl": (0, "LoadState=loaded\nActiveState=active\nMainPID=4242\n", "")})
    result = compat.compat_from_host(br_state, docker_version="28.5.2",
                                     root=compat_root(tmp_path, daemon_json='{"icc": false}'), run=run,
                                     which=which_all, read_bytes={"/proc/4242/environ": environ}.get,
                                     inspect_service=True)
    assert run.calls == [["/usr/bin/systemctl", "show", "-p", "ActiveState", "-p", "SubState", "-p", "MainPID",
                          "-p", "LoadState", "docker.service"]]
    assert result["service"]["main_pid"] == 4242 and result["service"]["active_state"] == "active"
    assert result["restart_pending"] is pending


def test_compat_from_host_leaves_a_tree_s_service_and_engine_alone(tmp_path):
    run = FakeRunner({})
    asked = []
    result = compat.compat_from_host("blocked", docker_version="28.5.2", root=compat_root(tmp_path), run=run,
                                     which=which_all, query_engine=asked.append)
    assert run.calls == [] and asked == []
    assert result["service"]["active_state"] is None and result["restart_pending"] is False


def test_compat_from_host_starts_a_failed_docker_once_the_drop_in_allows_it(tmp_path):
    run = FakeRunner({"/usr/bin/systemctl": (0, "LoadState=loaded\nActiveState=failed\nMainPID=0\n", "")})
    result = compat.compat_from_host("blocked", root=compat_root(tmp_path, daemon_json='{"icc": false}'), run=run,
                                     which=which_all, inspect_service=True)
    assert result["service"]["main_pid"] is None and result["restart_pending"] is True


def test_compat_from_host_warns_when_another_file_still_sets_the_variable(tmp_path):
    root = compat_root(tmp_path)
    os.makedirs(os.path.join(root, "etc/systemd/system/docker.service.d"))
    with open(os.path.join(root, "etc/systemd/system/docker.service.d/override.conf"), "w") as handle:
        handle.write("[Service]\nEnvironment=DOCKER_IGNORE_BR_NETFILTER_ERROR=1\n")
    result = compat.compat_from_host("loaded", root=root)
    assert result["action"] == "absent"
    assert result["notes"] == ["DOCKER_IGNORE_BR_NETFILTER_ERROR is still set for docker.service by "
                               "/etc/systemd/system/docker.service.d/override.conf; remove it there if br_netfilter "
                               "is now available."]


def test_engine_networks_with_icc_false_count_when_the_engine_answers(tmp_path):
    networks = [{"Name": "bridge", "Driver": "bridge", "Options": {"com.docker.network.bridge.default_bridge": "true"}},
                {"Name": "n1", "Id": "a" * 64, "Driver": "bridge",
                 "Options": {"com.docker.network.bridge.enable_icc": "false"}}]
    answer = {"reachable": True, "networks": networks}
    result = compat.compat_from_host("blocked", root=compat_root(tmp_path), inspect_service=True,
                                     query_engine=lambda socket: answer)
    assert (result["action"], result["failure"], result["networks_icc_false"]) == ("present", "network", ["n1"])
    silent = compat.compat_from_host("blocked", root=compat_root(tmp_path / "x"), inspect_service=True,
                                     query_engine=lambda socket: {"reachable": False, "networks": None})
    assert silent["action"] == "absent" and silent["networks_known"] is False


def test_docker_26_refusal_names_the_version_the_fix_and_the_moby_source(tmp_path):
    result = compat.compat_from_host("blocked", root=compat_root(tmp_path, daemon_json='{"icc": false}',
                                                                 version="26.1.5+dfsg1-9+deb13u1"))
    assert result["action"] == "fail" and result["code"] == "DOCKER_BR_NETFILTER_REQUIRED_NO_ESCAPE"
    assert result["reason"].startswith("Docker 26.1.5 predates DOCKER_IGNORE_BR_NETFILTER_ERROR=1 (honoured from 27.5.1)")
    assert result["remediation"].startswith("Upgrade Docker to >= 27.5.1 (the nodeprep.netfilter.package_pin role")
    assert "https://github.com/moby/moby/pull/49306" in result["reference"]
    assert any("v26.1.5/libnetwork/drivers/bridge" in url for url in result["reference"])


def test_dockerd_version_output():
    assert compat.dockerd_version_from_output("Docker version 28.5.2+dfsg4, build 28.5.2+dfsg4-5\n") == "28.5.2+dfsg4"
    assert compat.dockerd_version_from_output("garbage") is None


@pytest.mark.parametrize("action,active,running_env,pending", [
    ("present", "failed", None, True),
    ("present", "active", False, True),
    ("present", "active", True, False),
    ("present", "inactive", None, False),
    ("absent", "active", True, True),
    ("absent", "active", False, False),
    ("absent", "failed", None, False),
    ("present", "active", None, False),
    ("fail", "failed", None, False),
])
def test_restart_pending(action, active, running_env, pending):
    assert compat.restart_pending(action, active, running_env) is pending


def test_a_unit_in_systemds_restart_loop_counts_as_failed():
    assert compat.restart_pending("present", "activating", None, "auto-restart") is True
    assert compat.restart_pending("present", "activating", None, "start") is False
    assert compat.restart_pending("absent", "activating", None, "auto-restart") is False


# --- hostile input: refused before anything is read ---------------------------------------------------------------------

@pytest.mark.parametrize("service", ["../../../tmp/x", "../../../tmp/x.service", "docker.service\n",
                                     "docker.service --now", "-H.service", "docker.socket", "docker"])
def test_compat_refuses_a_service_name_that_is_not_a_service_unit(tmp_path, service):
    with pytest.raises(compat.CompatError) as exc:
        compat.compat_from_host("blocked", service=service, root=compat_root(tmp_path))
    assert str(exc.value).startswith("service: %r is not a systemd unit name" % (service,))


@pytest.mark.parametrize("dropin_path", ["etc/systemd/system/docker.service.d/x.conf",
                                         "/etc/systemd/system/../../../tmp/x.d/10-br-netfilter.conf",
                                         "/etc/systemd/system/docker.service.d/./x.conf",
                                         "/etc/systemd//system/x.conf", "/etc/x.conf\n", "/etc/x/"])
def test_compat_refuses_a_drop_in_path_that_is_not_normalised(tmp_path, dropin_path):
    with pytest.raises(compat.CompatError, match="^dropin_path .* must be an absolute, normalised path"):
        compat.compat_from_host("blocked", dropin_path=dropin_path, root=compat_root(tmp_path))


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_compat_refuses_a_root_that_is_not_a_directory(tmp_path, kind):
    root = tmp_path / "root"
    if kind == "file":
        root.write_text("not a tree")
    with pytest.raises(compat.CompatError) as exc:
        compat.compat_from_host("blocked", root=str(root))
    assert str(exc.value) == "root %r does not exist or is not a directory" % str(root)


@pytest.mark.parametrize("br_netfilter,message", [
    ("gone", "br_netfilter state 'gone' is not one of"),
    ({"state": None}, "br_netfilter facts have no valid state"),
])
def test_compat_refuses_an_unknown_br_netfilter_state(tmp_path, br_netfilter, message):
    with pytest.raises(compat.CompatError, match=message):
        compat.compat_from_host(br_netfilter, root=compat_root(tmp_path))


def test_compat_refuses_an_unknown_mode_and_an_unreadable_version(tmp_path):
    with pytest.raises(compat.CompatError, match="mode 'sometimes' is not one of auto, always, never"):
        compat.compat_from_host("blocked", mode="sometimes", root=compat_root(tmp_path))
    with pytest.raises(compat.CompatError, match="cannot read a Docker release from version 'unknown'"):
        compat.compat_from_host("blocked", docker_version="unknown", root=compat_root(tmp_path / "x"))


def test_compat_accepts_a_template_instance_service(tmp_path):
    result = compat.compat_from_host("blocked", service="docker@rootless.service",
                                     dropin_path="/etc/systemd/system/docker@rootless.service.d/10-br-netfilter.conf",
                                     root=compat_root(tmp_path, daemon_json='{"icc": false}'))
    assert result["service"]["name"] == "docker@rootless.service" and result["action"] == "present"


# --- the role's decision, then the audit of the same host: they must agree ------------------------------------------------

HATCH_CODES = {"DOCKER_BR_NETFILTER_REQUIRED_NO_ESCAPE", "DOCKER_BR_NETFILTER_REQUIRED", "DOCKER_BR_NETFILTER_ERROR_IGNORED",
               "DOCKER_IGNORE_BR_NETFILTER_ERROR_SET", "DOCKER_IGNORE_BR_NETFILTER_ERROR_DELIBERATE",
               "DOCKER_27_3_BR_NETFILTER_DETECTION"}
VERSIONS = {"26.1.5": "26.1.5+dfsg1-9+deb13u1", "27.3.1": "5:27.3.1-1~debian.12~bookworm",
            "27.5.0": "5:27.5.0-1~debian.12~bookworm", "27.5.1": "5:27.5.1-1~debian.13~trixie",
            "28.5.2": "28.5.2+dfsg4-5"}
BR_FACTS = {"loaded": br("loaded"), "builtin": br("builtin"), "loadable": br("loadable"),
            "loadable, bridge dir only": br("loadable", False, True), "blocked": br("blocked"),
            "unavailable": br("unavailable")}
HOST_SETTINGS = {"defaults": (None, False), "icc=false": ('{"icc": false}', False),
                 "userland-proxy=false": ('{"userland-proxy": false}', False),
                 "network n1 icc=false": (None, True)}
STARTS = {"clean": None, "old role drop-in": OLD_DROPIN}


def engine_for(version, with_n1):
    """An engine that answers, listing the default bridge and, if asked, n1 with enable_icc=false."""
    with open(os.path.join(FIXTURES, "docker-28.5.2-trixie.info.json")) as handle:
        info = json.load(handle)
    info["ServerVersion"] = version.split(":")[-1].split("-")[0].split("+")[0]
    networks = [{"Name": "bridge", "Id": "f" * 64, "Driver": "bridge", "IPAM": {"Config": [{"Subnet": "172.17.0.0/16"}]},
                 "Options": {"com.docker.network.bridge.default_bridge": "true",
                             "com.docker.network.bridge.name": "docker0"}}]
    if with_n1:
        networks.append({"Name": "n1", "Id": "a" * 64, "Driver": "bridge", "IPAM": {"Config": [{"Subnet": "172.18.0.0/16"}]},
                         "Options": {"com.docker.network.bridge.enable_icc": "false"}})
    answer = {"socket": "/var/run/docker.sock", "socket_present": True, "reachable": True, "error": None,
              "info": info, "networks": networks, "containers": []}
    return lambda socket: copy.deepcopy(answer)


def apply_plan(root, plan):
    """What the role's tasks do with the plan (dropin.yml)."""
    path = os.path.join(root, plan["dropin"]["path"].lstrip("/"))
    if plan["action"] == "present":
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(plan["dropin"]["content"])
    elif plan["action"] == "absent" and plan["dropin"]["managed"]:
        os.remove(path)


def audit_host(root, facts, query_engine):
    collected = collect(root=root, run=FakeRunner({}), which=which_none, query_engine=query_engine,
                        gather_br=lambda fs_root: copy.deepcopy(facts), route_path="/nonexistent",
                        names_path="/nonexistent", status_path="/nonexistent")
    return audit(collected)


def role_then_audit(tmp_path, version, facts, settings, mode, start):
    daemon_json, with_n1 = HOST_SETTINGS[settings]
    root = compat_root(tmp_path, dropin=STARTS[start], daemon_json=daemon_json, version=VERSIONS[version])
    query = engine_for(VERSIONS[version], with_n1)
    plan = compat.compat_from_host(copy.deepcopy(BR_FACTS[facts]), mode=mode, root=root, inspect_service=True,
                                   query_engine=query)
    if plan["action"] != "fail":
        apply_plan(root, plan)
    return root, plan, audit_host(root, BR_FACTS[facts], query), query


@pytest.mark.parametrize("start", sorted(STARTS))
@pytest.mark.parametrize("settings", sorted(HOST_SETTINGS))
@pytest.mark.parametrize("facts", sorted(BR_FACTS))
@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_after_the_role_no_escape_hatch_finding_is_of_its_own_making(tmp_path, version, facts, settings, start):
    root, plan, result, query = role_then_audit(tmp_path, version, facts, settings, "auto", start)
    summary = result["summary"]
    found = set(summary["codes"]) & HATCH_CODES
    assert summary["br_netfilter_escape_hatch"] == plan["escape_hatch"]
    if plan["action"] == "fail":
        # The role refused and changed nothing; the audit names the same cause.
        assert found & {"DOCKER_BR_NETFILTER_REQUIRED_NO_ESCAPE", "DOCKER_27_3_BR_NETFILTER_DETECTION"}, found
        return
    # Neither "not needed" (the role installed it without need) nor "required" (the role left it out where needed).
    assert not found & {"DOCKER_IGNORE_BR_NETFILTER_ERROR_SET", "DOCKER_BR_NETFILTER_REQUIRED",
                        "DOCKER_BR_NETFILTER_REQUIRED_NO_ESCAPE", "DOCKER_27_3_BR_NETFILTER_DETECTION"}, found
    if plan["action"] == "present":
        assert found == {"DOCKER_BR_NETFILTER_ERROR_IGNORED"}  # the honest price: isolation not enforced
        assert summary["br_netfilter_escape_hatch_mode"] == "auto"
    else:
        assert found == set() and summary["ignore_br_netfilter_error"] is None
    # A second run changes nothing.
    again = compat.compat_from_host(copy.deepcopy(BR_FACTS[facts]), root=root, inspect_service=True, query_engine=query)
    assert again["action"] == plan["action"]
    assert again["dropin"]["present"] is (plan["action"] == "present")
    assert not (again["action"] == "absent" and again["dropin"]["managed"])


@pytest.mark.parametrize("facts", ["loadable", "blocked", "builtin"])
@pytest.mark.parametrize("version", ["27.5.1", "28.5.2"])
def test_mode_always_is_reported_as_a_deliberate_choice(tmp_path, version, facts):
    _root, plan, result, _query = role_then_audit(tmp_path, version, facts, "defaults", "always", "clean")
    assert plan["action"] == "present" and plan["code"] == "DOCKER_IGNORE_BR_NETFILTER_ERROR_DELIBERATE"
    found = set(result["summary"]["codes"]) & HATCH_CODES
    assert found == {"DOCKER_IGNORE_BR_NETFILTER_ERROR_DELIBERATE"}
    finding = [item for item in result["findings"] if item["code"] == "DOCKER_IGNORE_BR_NETFILTER_ERROR_DELIBERATE"][0]
    assert finding["severity"] == "info"
    assert result["summary"]["br_netfilter_escape_hatch_mode"] == "always"


def test_mode_always_where_it_is_needed_reports_the_lost_isolation_not_a_choice(tmp_path):
    _root, plan, result, _query = role_then_audit(tmp_path, "28.5.2", "blocked", "icc=false", "always", "clean")
    assert plan["action"] == "present"
    assert set(result["summary"]["codes"]) & HATCH_CODES == {"DOCKER_BR_NETFILTER_ERROR_IGNORED"}


def test_a_drop_in_of_mode_always_is_replaced_in_mode_auto_only_where_not_needed(tmp_path):
    root, plan, _result, query = role_then_audit(tmp_path, "28.5.2", "loadable", "defaults", "always", "clean")
    assert plan["action"] == "present"
    auto = compat.compat_from_host(br("loadable"), root=root, inspect_service=True, query_engine=query)
    assert auto["action"] == "absent" and auto["dropin"]["managed"] is True


def test_mode_never_leaves_the_need_to_the_audit(tmp_path):
    _root, plan, result, _query = role_then_audit(tmp_path, "28.5.2", "blocked", "icc=false", "never", "old role drop-in")
    assert plan["action"] == "absent" and "fails without br_netfilter" in plan["reason"]
    assert set(result["summary"]["codes"]) & HATCH_CODES == {"DOCKER_BR_NETFILTER_REQUIRED"}
