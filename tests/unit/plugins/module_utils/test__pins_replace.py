# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""package_pin's replace_forbidden: which allowed version replaces an installed forbidden one, and the restart."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from ansible_collections.nodeprep.netfilter.plugins.module_utils import _pins as pins
from ansible_collections.nodeprep.netfilter.plugins.module_utils._pins import PinError

TRIXIE = {"ID": "debian", "VERSION_ID": "13", "VERSION_CODENAME": "trixie"}
RHEL9 = {"ID": "rhel", "VERSION_ID": "9.4", "ID_LIKE": "fedora"}
CE = "5:{}-1~debian.13~trixie"
#: What the scenario package_pin_docker_repo's repository offers (tests/vm/make-apt-repo --docker-ce).
TRIXIE_CE_REPO = {
    "docker-ce": [CE.format(v) for v in ("28.0.1", "28.0.0", "27.5.1", "27.3.1")],
    "docker-ce-cli": [CE.format(v) for v in ("28.0.1", "28.0.0", "27.5.1", "27.3.1")],
}
#: trixie's iptables as offered by a mirror that still has the bad upload next to the fix.
IPTABLES_REPO = {"iptables": ["1.8.11-2", "1.8.11-1", "1.8.10-3"], "libxtables12": ["1.8.11-2", "1.8.11-1"]}


def inst(**versions):
    return dict((name.replace("_", "-"), {"version": version, "held": False}) for name, version in versions.items())


def replace_plan(request, installed, available, os_release=None, pkg_mgr="apt", engine_installed=None):
    request = dict(request, replace_forbidden=True)
    return pins.plan_pins(request, os_release or TRIXIE, pkg_mgr, available=available, installed=installed,
                          engine_installed=engine_installed)


def test_iptables_1_8_11_1_is_replaced_by_the_fix_and_docker_needs_one_restart():
    plan = replace_plan({"presets": ["iptables"]}, inst(iptables="1.8.11-1", libxtables12="1.8.11-1"), IPTABLES_REPO,
                        engine_installed=True)
    assert plan["replace"] == [
        {"package": "iptables", "installed": "1.8.11-1", "version": "1.8.11-2", "direction": "upgrade",
         "codes": ["IPTABLES_1_8_11_1_DEBIAN"]},
        {"package": "libxtables12", "installed": "1.8.11-1", "version": "1.8.11-2", "direction": "upgrade",
         "codes": ["IPTABLES_1_8_11_1_DEBIAN"]},
    ]
    assert plan["replace_install"] == ["iptables=1.8.11-2", "libxtables12=1.8.11-2"]
    assert plan["restart_required"] is True
    assert plan["restart_reasons"] == ["iptables 1.8.11-1 -> 1.8.11-2", "libxtables12 1.8.11-1 -> 1.8.11-2"]
    assert [n["code"] for n in plan["notices"]] == ["FORBIDDEN_VERSION_REPLACED"] * 2
    assert plan["notices"][0]["message"] == ("iptables 1.8.11-1 is installed and forbidden (IPTABLES_1_8_11_1_DEBIAN): "
                                             "it is replaced by 1.8.11-2 (upgrade).")


def test_forbidden_docker_28_0_0_goes_to_the_highest_allowed_release():
    plan = replace_plan({"presets": ["docker"]}, inst(docker_ce=CE.format("28.0.0"), docker_ce_cli=CE.format("28.0.0")),
                        TRIXIE_CE_REPO)
    assert plan["replace_install"] == ["docker-ce=%s" % CE.format("28.0.1"), "docker-ce-cli=%s" % CE.format("28.0.1")]
    assert plan["restart_required"] is True  # docker-ce itself is the engine
    assert plan["restart_reasons"] == ["docker-ce %s -> %s" % (CE.format("28.0.0"), CE.format("28.0.1"))]


def test_when_only_older_versions_are_allowed_the_replacement_is_a_downgrade():
    plan = replace_plan({"presets": ["iptables"]}, inst(iptables="1.8.11-1"),
                        {"iptables": ["1.8.11-1", "1.8.10-3"]}, engine_installed=False)
    (entry,) = plan["replace"]
    assert (entry["version"], entry["direction"]) == ("1.8.10-3", "downgrade")


def test_an_exact_pin_of_the_pin_set_is_the_replacement():
    plan = replace_plan({"presets": ["docker"], "docker_version": "27.5.1"},
                        inst(docker_ce=CE.format("27.3.1")), TRIXIE_CE_REPO)
    assert plan["replace_install"] == ["docker-ce=%s" % CE.format("27.5.1")]


def test_no_allowed_version_offered_fails_naming_package_issue_and_offers():
    with pytest.raises(PinError) as error:
        replace_plan({"presets": ["iptables"]}, inst(iptables="1.8.11-1"), {"iptables": ["1.8.11-1"]})
    assert str(error.value) == (
        "cannot replace iptables 1.8.11-1 (forbidden: IPTABLES_1_8_11_1_DEBIAN): no configured repository offers an "
        "allowed version (offered: 1.8.11-1). Add a repository with a fixed version, or leave replace_forbidden off "
        "to keep the notice only.")


def test_unknown_offers_fail_rather_than_guess():
    with pytest.raises(PinError, match=r"cannot replace iptables 1.8.11-1 .*which versions the repositories offer is "
                                       r"unknown"):
        replace_plan({"presets": ["iptables"]}, inst(iptables="1.8.11-1"), None)


def test_a_user_forbid_is_honoured_when_choosing_the_replacement():
    plan = replace_plan({"presets": ["iptables"], "forbid": [{"packages": ["iptables"], "versions": ["1.8.11-2"]}]},
                        inst(iptables="1.8.11-1"), IPTABLES_REPO, engine_installed=False)
    assert plan["replace_install"] == ["iptables=1.8.10-3"]


def test_an_allowed_version_installed_is_left_alone_and_nothing_restarts():
    plan = replace_plan({"presets": ["docker", "iptables"]},
                        inst(iptables="1.8.11-2", docker_ce=CE.format("28.0.1")), dict(TRIXIE_CE_REPO, **IPTABLES_REPO))
    assert (plan["replace"], plan["replace_install"], plan["changes"]) == ([], [], [])
    assert (plan["restart_required"], plan["restart_reasons"]) == (False, [])


def test_a_known_bad_version_pinned_on_purpose_is_not_replaced():
    plan = replace_plan({"presets": ["docker"], "docker_version": "27.3.1",
                         "allow_known_bad": ["DOCKER_27_3_BR_NETFILTER_DETECTION"]},
                        inst(docker_ce=CE.format("27.3.1")), TRIXIE_CE_REPO)
    assert plan["replace"] == []


def test_without_the_option_the_notice_stays_and_nothing_is_planned():
    plan = pins.plan_pins({"presets": ["iptables"]}, TRIXIE, "apt", available=IPTABLES_REPO,
                          installed=inst(iptables="1.8.11-1"))
    assert (plan["replace"], plan["replace_install"], plan["restart_required"]) == ([], [], False)
    assert [(n["code"], n["severity"]) for n in plan["notices"]] == [("FORBIDDEN_VERSION_INSTALLED", "high")]


def test_iptables_replaced_on_a_host_without_docker_restarts_nothing():
    plan = replace_plan({"presets": ["iptables"]}, inst(iptables="1.8.11-1"), IPTABLES_REPO, engine_installed=False)
    assert plan["replace_install"] == ["iptables=1.8.11-2"]
    assert plan["restart_required"] is False


def test_a_pinned_docker_install_also_asks_for_the_restart():
    plan = pins.plan_pins({"docker_version": "27.5.1", "install": True}, TRIXIE, "apt", available=TRIXIE_CE_REPO,
                          installed=inst(docker_ce=CE.format("28.0.1"), docker_ce_cli=CE.format("28.0.1")))
    assert [c["package"] for c in plan["changes"]] == ["docker-ce", "docker-ce-cli"]
    assert plan["changes"][0]["reason"] == "pinned (docker_version)"
    assert plan["restart_required"] is True


def test_the_check_mode_data_is_the_plan_itself():
    # The plan module changes nothing (check mode included): the role shows this and apt's own check-mode diff.
    plan = replace_plan({"presets": ["iptables"]}, inst(iptables="1.8.11-1"), IPTABLES_REPO, engine_installed=True)
    assert plan["changes"] == [{"package": "iptables", "installed": "1.8.11-1", "version": "1.8.11-2",
                                "reason": "forbidden (IPTABLES_1_8_11_1_DEBIAN)"}]


def test_dnf_replacement_uses_rpm_spelling_and_the_repoquery_offers():
    offered = pins.parse_dnf_repoquery("docker-ce\t3:28.0.0-1.el9\n\ndocker-ce\t3:28.0.1-1.el9\ndocker-ce\t3:28.0.1-1.el9\n"
                                       "docker-ce\t3:27.3.1-1.el9\n")
    assert offered == {"docker-ce": ["3:28.0.0-1.el9", "3:28.0.1-1.el9", "3:27.3.1-1.el9"]}
    plan = replace_plan({"presets": ["docker"]}, inst(docker_ce="3:28.0.0-1.el9"), offered, RHEL9, "dnf")
    assert plan["replace_install"] == ["docker-ce-3:28.0.1-1.el9"]


# --- the temporary policy-rc.d --------------------------------------------------------------------

def test_policy_rc_d_state_tells_ours_from_someone_elses():
    assert pins.policy_rc_d_state(None, False) == "absent"
    assert pins.policy_rc_d_state(pins.render_policy_rc_d(), True) == "ours"
    assert pins.policy_rc_d_state("#!/bin/sh\nexit 101\n", True) == "foreign"
    assert pins.policy_rc_d_state(None, True) == "foreign"  # unreadable: not ours to remove


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX shell")
@pytest.mark.parametrize("argv, status", [
    (["docker.service", "restart"], 101),        # deb-systemd-invoke
    (["docker.socket", "start"], 101),
    (["--quiet", "docker", "restart"], 101),     # invoke-rc.d [options] <initscript ID> <actions>
    (["containerd.service", "restart"], 0),
    (["ssh", "restart"], 0),
])
def test_policy_rc_d_forbids_only_dockers_units(tmp_path, argv, status):
    script = tmp_path / "policy-rc.d"
    script.write_text(pins.render_policy_rc_d())
    os.chmod(str(script), 0o755)
    assert subprocess.call([str(script)] + argv) == status


# --- from a host ------------------------------------------------------------------------------------

def test_plan_from_host_reports_the_policy_and_the_engine(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "os-release").write_text('ID=debian\nVERSION_ID="13"\nVERSION_CODENAME=trixie\n')
    (tmp_path / "var" / "lib" / "dpkg").mkdir(parents=True)
    (tmp_path / "var" / "lib" / "dpkg" / "status").write_text(
        "Package: iptables\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.8.11-1\n\n"
        "Package: docker.io\nStatus: install ok installed\nArchitecture: amd64\nVersion: 26.1.5+dfsg1-9+b9\n\n")
    (tmp_path / "usr" / "sbin").mkdir(parents=True)
    (tmp_path / "usr" / "sbin" / "policy-rc.d").write_text("#!/bin/sh\nexit 101\n")
    policy = ("iptables:\n  Installed: 1.8.11-1\n  Candidate: 1.8.11-1\n  Version table:\n"
              "     1.8.11-2 500\n        500 http://deb.debian.org/debian trixie/main amd64 Packages\n"
              " *** 1.8.11-1 500\n        500 http://deb.debian.org/debian trixie/main amd64 Packages\n"
              "        100 /var/lib/dpkg/status\n")
    plan = pins.plan_from_host({"presets": ["iptables"], "replace_forbidden": True}, root=str(tmp_path),
                               run=lambda argv: (0, policy, ""), which=lambda name: "/usr/bin/" + name)
    assert plan["replace_install"] == ["iptables=1.8.11-2"]
    assert plan["restart_required"] is True  # docker.io is installed, though not in the pin set
    assert plan["policy_rc_d"]["state"] == "foreign" and plan["policy_rc_d"]["path"] == "/usr/sbin/policy-rc.d"
