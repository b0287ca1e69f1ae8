# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from ansible_collections.nodeprep.netfilter.plugins.module_utils import _pins as pins
from ansible_collections.nodeprep.netfilter.plugins.module_utils._known_issues import KNOWN_ISSUES, issue
from ansible_collections.nodeprep.netfilter.plugins.module_utils._versions import upstream_version, version_matches
from ansible_collections.nodeprep.netfilter.plugins.module_utils._pins import PinError

FIXTURES = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "pins"))

TRIXIE = {"ID": "debian", "VERSION_ID": "13", "VERSION_CODENAME": "trixie"}
BOOKWORM = {"ID": "debian", "VERSION_ID": "12", "VERSION_CODENAME": "bookworm"}
NOBLE = {"ID": "ubuntu", "VERSION_ID": "24.04", "VERSION_CODENAME": "noble"}
SID = {"ID": "debian", "VERSION_CODENAME": "sid"}
RHEL9 = {"ID": "rhel", "VERSION_ID": "9.4", "ID_LIKE": "fedora"}
ROCKY9 = {"ID": "rocky", "VERSION_ID": "9.3", "ID_LIKE": "rhel centos fedora"}
FEDORA41 = {"ID": "fedora", "VERSION_ID": "41"}

CE = "5:{}-1~debian.13~trixie"
TRIXIE_CE_REPO = {
    "docker-ce": [CE.format(v) for v in ("28.0.1", "28.0.0", "27.5.1", "27.3.1")],
    "docker-ce-cli": [CE.format(v) for v in ("28.0.1", "28.0.0", "27.5.1", "27.3.1")],
}


def fixture_text(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


def version_rows(component):
    return [row for row in KNOWN_ISSUES if row["kind"] == "version" and row["component"] == component]


# --- presets come from the known-issues table --------------------------------------------

def test_docker_preset_forbids_the_table_versions_for_every_docker_package():
    rules = pins.preset_forbids("docker", "apt")
    forbidden = sorted(v for rule in rules for v in rule["versions"])
    expected = sorted(v for row in version_rows("docker") for v in row["versions"]["exact"])
    assert forbidden == expected == ["27.3.0", "27.3.1", "28.0.0"]
    for rule in rules:
        assert rule["packages"] == ["docker-ce", "docker-ce-cli", "docker.io", "docker-cli"]
        assert rule["reference"] == issue(rule["code"])["reference"]


def test_iptables_preset_covers_every_binary_of_debians_iptables_source():
    (rule,) = pins.preset_forbids("iptables", "apt")
    assert rule["code"] == "IPTABLES_1_8_11_1_DEBIAN"
    assert set(rule["packages"]) == {"iptables", "libxtables12", "libxtables-dev", "libiptc-dev",
                                     "libip4tc2", "libip4tc-dev", "libip6tc2", "libip6tc-dev"}
    assert rule["apt_pattern"] == r"/^(0:)?1\.8\.11-(1([^-0-9~][^-]*)?|2~[^-]*)$/"


def test_iptables_preset_is_not_applicable_to_dnf():
    assert pins.preset_forbids("iptables", "dnf") == []
    plan = pins.plan_pins({"presets": ["iptables"]}, RHEL9, "dnf")
    assert plan["versionlock"] == []
    assert [n["code"] for n in plan["notices"]] == ["PRESET_NOT_APPLICABLE"]


def test_unknown_preset_is_refused_with_the_known_ones():
    with pytest.raises(PinError, match=r"unknown preset 'kubernetes'; known presets: docker, iptables"):
        pins.plan_pins({"presets": ["kubernetes"]}, TRIXIE)


# --- version patterns ---------------------------------------------------------------------

UPSTREAM_SAMPLES = [
    "5:27.3.1-1~debian.13~trixie", "5:27.3.1-1~ubuntu.24.04~noble", "27.3.1+dfsg1-1", "27.3.1-0ubuntu1~24.04.1",
    "27.3.1", "v27.3.1", "3:27.3.1-1.el9", "5:27.3.10-1~debian.13~trixie", "27.3.10+dfsg1-1", "27.3.1.1-1",
    "5:27.3.0-1~debian.12~bookworm", "27.3.0~rc.1-1", "5:28.0.0-1~debian.13~trixie", "28.0.0+dfsg-1", "28.0.01-1",
    "128.0.0-1", "5:28.0.1-1~debian.13~trixie", "28.0.0.0-1", "27.3.1.ce-1", "27.3-1",
]


@pytest.mark.parametrize("version", UPSTREAM_SAMPLES)
def test_upstream_regex_matches_exactly_when_the_upstream_version_is_listed(version):
    listed = ["27.3.0", "27.3.1", "28.0.0"]
    pattern = re.compile(pins.upstream_regex(listed))
    assert bool(pattern.search(version)) == (upstream_version(version) in listed)


RANGE_SAMPLES = ["1.8.11-2~bpo12+1", "1.8.11-1+b1-1", "1.8.11-1", "1.8.11-1+b1", "1.8.11-1.1", "1.8.11-1+deb13u1", "1.8.11-1a", "0:1.8.11-1",
                 "1.8.11-1~bpo12+1", "1.8.11-10", "1.8.11-11", "1.8.11-2", "1.8.11-2~rc1", "1.8.11-0",
                 "1.8.10-3", "1:1.8.11-1", "11.8.11-1", "1.8.11-1-1"]


@pytest.mark.parametrize("version", RANGE_SAMPLES)
def test_deb_range_regex_agrees_with_dpkg_ordering(version):
    pattern = re.compile(pins.deb_range_regex("1.8.11-1", "1.8.11-2"))
    in_range = version_matches(version, {"min": "1.8.11-1", "before": "1.8.11-2"}, "deb")
    assert bool(pattern.search(version)) == in_range


@pytest.mark.parametrize("minimum,before", [("1.8.11-1", "1.8.12-1"), ("1.8.11", "1.8.12"), ("1.8.11-1", "1.8.11-3")])
def test_deb_range_regex_refuses_ranges_apt_cannot_express(minimum, before):
    with pytest.raises(PinError, match="cannot express the version range"):
        pins.deb_range_regex(minimum, before)


def test_ere_escape_escapes_only_regex_metacharacters():
    assert pins.ere_escape("1.8.11-1+b1") == r"1\.8\.11-1\+b1"


# --- docker_version mapping per distro and repository ---------------------------------------

@pytest.mark.parametrize("flavour,pkg_mgr,os_release,expected", [
    ("docker-ce", "apt", TRIXIE, "5:27.5.1-1~debian.13~trixie"),
    ("docker-ce", "apt", BOOKWORM, "5:27.5.1-1~debian.12~bookworm"),
    ("docker-ce", "apt", NOBLE, "5:27.5.1-1~ubuntu.24.04~noble"),
    ("docker-ce", "apt", SID, None),
    ("docker-ce", "dnf", RHEL9, "3:27.5.1-1.el9"),
    ("docker-ce", "dnf", ROCKY9, "3:27.5.1-1.el9"),
    ("docker-ce", "dnf", FEDORA41, "3:27.5.1-1.fc41"),
    ("docker.io", "apt", TRIXIE, None),
])
def test_docker_version_maps_to_the_repository_spelling(flavour, pkg_mgr, os_release, expected):
    assert pins.docker_package_version(flavour, pkg_mgr, "27.5.1", os_release) == expected


def test_docker_ce_pin_uses_the_offered_version_string():
    plan = pins.plan_pins({"docker_version": "27.5.1"}, TRIXIE, "apt", available=TRIXIE_CE_REPO)
    assert [(p["package"], p["version"], p["available"]) for p in plan["pins"]] == [
        ("docker-ce", "5:27.5.1-1~debian.13~trixie", True), ("docker-ce-cli", "5:27.5.1-1~debian.13~trixie", True)]
    assert "Package: docker-ce docker-ce-cli\nPin: version 5:27.5.1-1~debian.13~trixie\nPin-Priority: 1001\n" \
        in plan["preferences"]


def test_docker_io_pin_takes_the_dfsg_version_debian_offers():
    available = {"docker.io": ["28.5.2+dfsg4-5", "27.5.1+dfsg1-2", "27.5.1+dfsg1-1"], "docker-cli": ["27.5.1+dfsg1-2"]}
    plan = pins.plan_pins({"docker_version": "27.5.1"}, TRIXIE, "apt", available=available,
                          installed={"docker.io": {"version": "28.5.2+dfsg4-5", "held": False}})
    assert [(p["package"], p["version"]) for p in plan["pins"]] == [
        ("docker.io", "27.5.1+dfsg1-2"), ("docker-cli", "27.5.1+dfsg1-2")]


def test_docker_io_release_nobody_offers_is_pinned_by_pattern_and_reported():
    plan = pins.plan_pins({"docker_version": "27.5.1", "docker_package": "docker.io"}, TRIXIE, "apt",
                          available={"docker.io": ["26.1.5+dfsg1-9"]})
    pin = plan["pins"][0]
    assert pin["version"] is None
    assert pin["pattern"] == r"/^([0-9]+:)?v?(27\.5\.1)($|[^0-9.]|\.[^0-9])/"
    assert "PINNED_VERSION_NOT_AVAILABLE" in [n["code"] for n in plan["notices"]]
    with pytest.raises(PinError, match="cannot install docker.io for Docker 27.5.1: no configured repository"):
        pins.plan_pins({"docker_version": "27.5.1", "docker_package": "docker.io", "install": True}, TRIXIE, "apt",
                       available={"docker.io": ["26.1.5+dfsg1-9"]})


def test_auto_source_prefers_the_installed_engine_then_docker_ce():
    assert pins.docker_flavour_auto("apt", {"docker.io": {"version": "26.1.5+dfsg1-9"}}, TRIXIE_CE_REPO) == "docker.io"
    assert pins.docker_flavour_auto("apt", {}, dict(TRIXIE_CE_REPO, **{"docker.io": ["26.1.5+dfsg1-9"]})) == "docker-ce"
    with pytest.raises(PinError, match="cannot tell which Docker packages to pin"):
        pins.docker_flavour_auto("apt", {}, {})


def test_docker_ce_on_a_distro_without_version_id_is_refused():
    with pytest.raises(PinError, match="cannot derive Docker CE's package version for 27.5.1 on debian"):
        pins.plan_pins({"docker_version": "27.5.1", "docker_package": "docker-ce"}, SID, "apt", available={})


@pytest.mark.parametrize("bad", ["5:27.5.1-1~debian.13~trixie", "27.5", "latest", "v27.5.1", "27.5.1 ", "27.5.x"])
def test_malformed_docker_version_is_refused_with_an_example(bad):
    with pytest.raises(PinError, match=r"docker_version .* is malformed: give the upstream Docker release such as 27.5.1"):
        pins.plan_pins({"docker_version": bad + "x" if bad == "27.5.1 " else bad}, TRIXIE, "apt", available=TRIXIE_CE_REPO)


# --- known-bad pins --------------------------------------------------------------------------

def test_pinning_a_known_bad_docker_fails_with_reason_and_reference():
    with pytest.raises(PinError) as err:
        pins.plan_pins({"presets": ["docker"], "docker_version": "27.3.1"}, TRIXIE, "apt", available=TRIXIE_CE_REPO)
    message = str(err.value)
    assert message.startswith("refusing to pin Docker 27.3.1; it is known bad: 27.3.1 (DOCKER_27_3_BR_NETFILTER_DETECTION")
    assert "Upgrade Docker to >= 27.4.0" in message
    assert "https://github.com/moby/moby/issues/48948" in message
    assert "add DOCKER_27_3_BR_NETFILTER_DETECTION to the allowed known issues" in message


def test_allowed_known_bad_pin_comes_before_the_preset_that_forbids_it():
    plan = pins.plan_pins({"presets": ["docker"], "docker_version": "27.3.1",
                           "allow_known_bad": ["DOCKER_27_3_BR_NETFILTER_DETECTION"]},
                          TRIXIE, "apt", available=TRIXIE_CE_REPO)
    text = plan["preferences"]
    assert text.index("Pin: version 5:27.3.1-1~debian.13~trixie") < text.index("Pin-Priority: -1")
    assert plan["pins"][0]["known_issues"] == ["DOCKER_27_3_BR_NETFILTER_DETECTION"]
    assert {n["code"] for n in plan["notices"]} == {"KNOWN_BAD_PIN_ALLOWED"}


def test_allowing_a_different_issue_does_not_unlock_a_bad_pin():
    with pytest.raises(PinError, match="DOCKER_28_0_0_ROOTLESS_SLIRP4NETNS"):
        pins.plan_pins({"docker_version": "28.0.0", "allow_known_bad": ["DOCKER_27_3_BR_NETFILTER_DETECTION"]},
                       TRIXIE, "apt", available=TRIXIE_CE_REPO)


@pytest.mark.parametrize("version,refused", [("1.8.11-1", True), ("1.8.11-1+b1", True), ("1.8.11-2", False),
                                             ("1.8.10-3", False)])
def test_exact_iptables_pin_is_checked_against_the_debian_range(version, refused):
    request = {"pins": [{"packages": ["iptables", "libxtables12"], "version": version}]}
    if refused:
        with pytest.raises(PinError, match="refusing to pin iptables %s.*IPTABLES_1_8_11_1_DEBIAN" % re.escape(version)):
            pins.plan_pins(request, TRIXIE, "apt")
    else:
        plan = pins.plan_pins(request, TRIXIE, "apt")
        assert "Package: iptables libxtables12\nPin: version %s\nPin-Priority: 1001" % version in plan["preferences"]


# --- other bad input --------------------------------------------------------------------------

@pytest.mark.parametrize("request_,message", [
    ({"name": "docker.pins"}, "pin set name 'docker.pins'"),
    ({"name": "../etc"}, "pin set name"),
    ({"priority": 990}, "pin priority must be an integer >= 1000"),
    ({"priority": True}, "pin priority must be an integer >= 1000"),
    ({"pins": [{"packages": ["iptables"], "version": "1.8.*"}]}, "exact versions only"),
    ({"pins": [{"packages": ["iptables"], "version": "not a version"}]}, r"pins\[0\]: 'not a version' is not a Debian version"),
    ({"pins": [{"packages": [], "version": "1.0"}]}, "non-empty list of package names"),
    ({"pins": [{"packages": ["Bad Name"], "version": "1.0"}]}, "'Bad Name' is not a Debian package name"),
    ({"forbid": [{"packages": ["foo"], "versions": []}]}, "non-empty list of exact versions"),
    ({"pins": [{"packages": ["foo"], "version": "1.0-1"}], "forbid": [{"packages": ["foo"], "versions": ["1.0-1"]}]},
     "foo 1.0-1 is both pinned"),
    ({"pins": [{"packages": ["foo"], "version": "1.0-1"}, {"packages": ["foo"], "version": "2.0-1"}]},
     "foo is pinned twice, to 1.0-1"),
    ({"dnf_method": "magic"}, "dnf method 'magic'"),
])
def test_bad_input_gets_a_clear_error(request_, message):
    with pytest.raises(PinError, match=message):
        pins.plan_pins(request_, TRIXIE, "apt")


def test_unknown_package_manager_is_refused():
    with pytest.raises(PinError, match="unsupported package manager 'zypper'"):
        pins.plan_pins({}, TRIXIE, "zypper")


def test_nothing_requested_renders_no_file():
    plan = pins.plan_pins({}, TRIXIE, "apt")
    assert plan["preferences"] == ""
    assert plan["preferences_path"] == "/etc/apt/preferences.d/nodeprep-pins.pref"


# --- rendering ----------------------------------------------------------------------------

def test_apt_preferences_matches_the_reviewed_fixture():
    plan = pins.plan_pins({"presets": ["docker", "iptables"], "docker_version": "27.5.1"}, TRIXIE, "apt",
                          available=TRIXIE_CE_REPO)
    assert plan["preferences"] == fixture_text("trixie-apt-3.0.3-local-repo.nodeprep-pins.pref")


def test_user_forbid_renders_an_anchored_exact_stanza():
    plan = pins.plan_pins({"forbid": [{"packages": ["containerd"], "versions": ["1.7.24~ds1-6", "2.1.9+ds-1"]}]},
                          TRIXIE, "apt")
    assert "Package: containerd\nPin: version /^(1\\.7\\.24~ds1-6|2\\.1\\.9\\+ds-1)$/\nPin-Priority: -1\n" \
        in plan["preferences"]


def test_versionlock_renders_locks_and_excludes_for_rhel():
    plan = pins.plan_pins({"presets": ["docker"], "docker_version": "27.5.1"}, RHEL9, "dnf")
    assert plan["versionlock"] == [
        "docker-ce-3:27.5.1-1.el9.*", "docker-ce-cli-3:27.5.1-1.el9.*",
        "!docker-ce-27.3.0-*", "!docker-ce-27.3.1-*", "!docker-ce-cli-27.3.0-*", "!docker-ce-cli-27.3.1-*",
        "!moby-engine-27.3.0-*", "!moby-engine-27.3.1-*",
        "!docker-ce-28.0.0-*", "!docker-ce-cli-28.0.0-*", "!moby-engine-28.0.0-*",
    ]
    assert plan["versionlock_path"] == "/etc/dnf/plugins/versionlock.list"
    assert plan["preferences"] == "" and plan["hold"] == []


def test_excludepkgs_method_forbids_only():
    plan = pins.plan_pins({"presets": ["docker"], "dnf_method": "excludepkgs"}, FEDORA41, "dnf")
    assert plan["excludepkgs"][:3] == ["docker-ce-27.3.0-*", "docker-ce-27.3.1-*", "docker-ce-cli-27.3.0-*"]
    assert len(plan["excludepkgs"]) == 9 and plan["versionlock"] == []
    with pytest.raises(PinError, match="exact pins need the versionlock method"):
        pins.plan_pins({"docker_version": "27.5.1", "dnf_method": "excludepkgs"}, FEDORA41, "dnf")


def test_missing_versionlock_plugin_is_a_high_notice():
    plan = pins.plan_pins({"presets": ["docker"], "versionlock_plugin_present": False}, RHEL9, "dnf")
    (notice,) = plan["notices"]
    assert notice["code"] == "VERSIONLOCK_PLUGIN_MISSING" and notice["severity"] == "high"


def test_install_lists_exact_versions_per_package_manager():
    apt = pins.plan_pins({"docker_version": "27.5.1", "install": True}, TRIXIE, "apt", available=TRIXIE_CE_REPO)
    assert apt["install"] == ["docker-ce=5:27.5.1-1~debian.13~trixie", "docker-ce-cli=5:27.5.1-1~debian.13~trixie"]
    dnf = pins.plan_pins({"docker_version": "27.5.1", "install": True, "docker_package": "docker-ce"}, RHEL9, "dnf")
    assert dnf["install"] == ["docker-ce-3:27.5.1-1.el9", "docker-ce-cli-3:27.5.1-1.el9"]


def test_install_of_a_version_no_repository_offers_fails():
    with pytest.raises(PinError, match=r"cannot install iptables=1.8.10-3: no configured repository offers it"):
        pins.plan_pins({"pins": [{"packages": ["iptables"], "version": "1.8.10-3"}], "install": True}, TRIXIE, "apt",
                       available={"iptables": ["1.8.11-2"]})


# --- notices: what the pins do to the host --------------------------------------------------------

def codes(plan):
    return sorted(n["code"] for n in plan["notices"])


def test_held_package_that_install_would_downgrade_is_announced():
    installed = {"docker-ce": {"version": CE.format("28.0.1"), "held": True},
                 "docker-ce-cli": {"version": CE.format("28.0.1"), "held": False}}
    plan = pins.plan_pins({"docker_version": "27.5.1", "install": True, "hold": True}, TRIXIE, "apt",
                          available=TRIXIE_CE_REPO, installed=installed)
    notices = {n["package"]: n for n in plan["notices"]}
    assert notices["docker-ce"]["code"] == "HELD_PACKAGE_WILL_CHANGE"
    assert notices["docker-ce"]["message"] == (
        "docker-ce (held) is installed at 5:28.0.1-1~debian.13~trixie and will be downgraded to "
        "5:27.5.1-1~debian.13~trixie; its hold is overridden for this change.")
    assert notices["docker-ce-cli"]["code"] == "PINNED_PACKAGE_WILL_CHANGE"
    assert plan["hold"] == ["docker-ce", "docker-ce-cli"]


def test_pin_without_install_says_the_next_upgrade_will_change_the_package():
    installed = {"docker-ce": {"version": CE.format("27.3.1"), "held": False}}
    plan = pins.plan_pins({"docker_version": "27.5.1", "docker_package": "docker-ce", "presets": ["docker"]},
                          TRIXIE, "apt", available=TRIXIE_CE_REPO, installed=installed)
    assert codes(plan) == ["FORBIDDEN_VERSION_INSTALLED", "PINNED_PACKAGE_WOULD_CHANGE", "PIN_HOLDS_BACK_UPGRADE"]
    would = [n for n in plan["notices"] if n["code"] == "PINNED_PACKAGE_WOULD_CHANGE"][0]
    assert "the next 'apt-get install docker-ce' or upgrade will upgrade it" in would["message"]
    holds = [n for n in plan["notices"] if n["code"] == "PIN_HOLDS_BACK_UPGRADE"][0]
    assert holds["message"] == "docker-ce: 5:28.0.1-1~debian.13~trixie is available, the pin keeps 5:27.5.1-1~debian.13~trixie."


def test_forbidden_installed_version_is_high_severity():
    plan = pins.plan_pins({"presets": ["iptables"]}, TRIXIE, "apt",
                          installed={"iptables": {"version": "1.8.11-1", "held": False}})
    (notice,) = plan["notices"]
    assert (notice["code"], notice["severity"], notice["package"]) == ("FORBIDDEN_VERSION_INSTALLED", "high", "iptables")
    assert "Upgrade iptables to 1.8.11-2" in notice["message"]


def test_hold_lists_only_installed_or_installed_now_packages():
    plan = pins.plan_pins({"docker_version": "27.5.1", "hold": True}, TRIXIE, "apt", available=TRIXIE_CE_REPO,
                          installed={"docker-ce": {"version": CE.format("27.5.1"), "held": False}})
    assert plan["hold"] == ["docker-ce"]


# --- readers ----------------------------------------------------------------------------------

def test_apt_cache_policy_of_a_pinned_held_trixie_host():
    policy = pins.parse_apt_cache_policy(fixture_text("trixie-apt-3.0.3-local-repo-docker-preset-pin-27.5.1-held.apt-cache-policy.txt"))
    assert sorted(policy) == ["docker-ce", "docker-ce-cli", "docker-cli", "docker.io", "iptables", "libxtables12"]
    ce = policy["docker-ce"]
    assert ce["installed"] == ce["candidate"] == "5:27.5.1-1~debian.13~trixie"
    assert [(v["version"], v["priority"], v["installed"]) for v in ce["versions"]] == [
        ("5:28.0.1-1~debian.13~trixie", 500, False), ("5:28.0.0-1~debian.13~trixie", -1, False),
        ("5:27.5.1-1~debian.13~trixie", 1001, True), ("5:27.3.1-1~debian.13~trixie", -1, False)]
    assert ce["versions"][2]["sources"] == [{"priority": 500, "source": "file:/repo ./ Packages"},
                                            {"priority": 100, "source": "/var/lib/dpkg/status"}]
    assert pins.available_versions(policy)["iptables"] == ["1.8.11-2"]


def test_apt_cache_policy_of_bookworm_apt_2_6_without_installed_package():
    policy = pins.parse_apt_cache_policy(fixture_text("bookworm-apt-2.6.2-local-repo-docker-preset-pin-27.5.1.apt-cache-policy.txt"))
    assert policy["docker-ce"]["installed"] is None
    assert policy["docker-ce"]["candidate"] == "5:27.5.1-1~debian.13~trixie"
    assert [v["priority"] for v in policy["docker-ce-cli"]["versions"]] == [500, -1, 1001, -1]


def test_installed_only_version_is_not_available():
    policy = pins.parse_apt_cache_policy(
        "foo:\n  Installed: 1.0\n  Candidate: 1.0\n  Version table:\n *** 1.0 100\n        100 /var/lib/dpkg/status\n")
    assert pins.available_versions(policy) == {"foo": []}


def test_os_release_quotes_are_removed():
    assert pins.parse_os_release(fixture_text("trixie.os-release"))["VERSION_CODENAME"] == "trixie"
    assert pins.parse_os_release('PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\n# c\nID=debian\n') == {
        "PRETTY_NAME": "Debian GNU/Linux 13 (trixie)", "ID": "debian"}


# --- gathering from a host ------------------------------------------------------------------------

def make_root(tmp_path, status_fixture="trixie-apt-3.0.3-local-repo-held.dpkg-status"):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "os-release").write_text(fixture_text("trixie.os-release"))
    (tmp_path / "var" / "lib" / "dpkg").mkdir(parents=True)
    (tmp_path / "var" / "lib" / "dpkg" / "status").write_text(fixture_text(status_fixture))
    return str(tmp_path)


class FakeRunner(object):
    def __init__(self, outputs):
        self.outputs = outputs
        self.calls = []

    def __call__(self, argv):
        self.calls.append(argv)
        return self.outputs[argv[0]]


def which_all(name):
    return "/usr/bin/" + name


def test_plan_from_a_pinned_held_host_has_no_mismatch(tmp_path):
    run = FakeRunner({"/usr/bin/apt-cache": (0, fixture_text(
        "trixie-apt-3.0.3-local-repo-docker-preset-pin-27.5.1-held.apt-cache-policy.txt"), "")})
    plan = pins.plan_from_host({"presets": ["docker"], "docker_version": "27.5.1", "hold": True},
                               root=make_root(tmp_path), run=run, which=which_all)
    assert run.calls[0][:2] == ["/usr/bin/apt-cache", "policy"]
    assert set(run.calls[0][2:]) == {"docker-ce", "docker-ce-cli", "docker.io", "docker-cli", "moby-engine"} - {"moby-engine"}
    assert plan["pkg_mgr"] == "apt" and plan["os"]["VERSION_CODENAME"] == "trixie"
    assert plan["installed"]["docker-ce"] == {"version": "5:27.5.1-1~debian.13~trixie", "held": True}
    assert plan["installed"]["docker-ce-cli"]["held"] is False
    assert plan["pins"][0]["version"] == "5:27.5.1-1~debian.13~trixie"
    assert plan["mismatches"] == []
    assert codes(plan) == ["PIN_HOLDS_BACK_UPGRADE", "PIN_HOLDS_BACK_UPGRADE"]


def test_plan_from_a_host_reports_when_apt_ignores_the_pin(tmp_path):
    policy = fixture_text("bookworm-apt-2.6.2-local-repo-docker-preset-pin-27.5.1.apt-cache-policy.txt")
    policy = policy.replace("Candidate: 5:27.5.1-1~debian.13~trixie", "Candidate: 5:28.0.0-1~debian.13~trixie")
    run = FakeRunner({"/usr/bin/apt-cache": (0, policy, "")})
    plan = pins.plan_from_host({"presets": ["docker"], "docker_version": "27.5.1"},
                               root=make_root(tmp_path), run=run, which=which_all)
    assert plan["mismatches"][0] == "docker-ce: apt's candidate is 5:28.0.0-1~debian.13~trixie, not the pinned " \
                                    "5:27.5.1-1~debian.13~trixie"
    assert "docker-ce: apt's candidate 5:28.0.0-1~debian.13~trixie is forbidden (DOCKER_28_0_0_ROOTLESS_SLIRP4NETNS)" \
        in plan["mismatches"]


def test_plan_from_host_rejects_unknown_allow_codes(tmp_path):
    with pytest.raises(PinError, match="allow_known_bad: unknown issue code\\(s\\) NOPE; codes that can be allowed: "):
        pins.plan_from_host({"allow_known_bad": ["NOPE"]}, root=make_root(tmp_path))


def test_plan_from_host_surfaces_an_apt_cache_failure(tmp_path):
    run = FakeRunner({"/usr/bin/apt-cache": (100, "", "E: Could not open lock file")})
    with pytest.raises(PinError, match="apt-cache policy failed \\(rc 100\\): E: Could not open lock file"):
        pins.plan_from_host({"presets": ["docker"]}, root=make_root(tmp_path), run=run, which=which_all)


# --- real apt evaluates the rendered file ----------------------------------------------------------

APT_TOOLS = ("apt-get", "apt-cache", "dpkg-deb", "apt-ftparchive")


@pytest.mark.skipif(any(shutil.which(t) is None for t in APT_TOOLS), reason="needs apt, dpkg-deb and apt-ftparchive")
def test_real_apt_applies_the_rendered_pins_and_forbids(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    packages = {
        "docker-ce": [CE.format(v) for v in ("27.3.1", "27.5.1", "28.0.0", "28.0.1")],
        "docker.io": ["27.3.1+dfsg1-1", "27.3.10+dfsg1-1", "28.0.0+dfsg1-1"],
        "iptables": ["1.8.10-3", "1.8.11-1", "1.8.11-1+b1", "1.8.11-2", "1.8.11-10"],
    }
    for name, versions in packages.items():
        for version in versions:
            build = tmp_path / "build" / (name + version.replace(":", "_"))
            (build / "DEBIAN").mkdir(parents=True)
            (build / "DEBIAN" / "control").write_text(
                "Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: t <t@example.invalid>\nDescription: t\n"
                % (name, version))
            subprocess.run(["dpkg-deb", "-Zgzip", "--build", str(build), str(repo)], check=True, capture_output=True)
    index = subprocess.run(["apt-ftparchive", "packages", "."], cwd=str(repo), check=True, capture_output=True, text=True)
    (repo / "Packages").write_text(index.stdout)
    etc = tmp_path / "etc"
    (etc / "preferences.d").mkdir(parents=True)
    (etc / "sources.list").write_text("deb [trusted=yes] file:%s ./\n" % repo)
    for sub in ("lists/partial", "cache/archives/partial"):
        (tmp_path / sub).mkdir(parents=True)
    (tmp_path / "status").write_text("")
    plan = pins.plan_pins({"presets": ["docker", "iptables"], "docker_version": "27.5.1", "docker_package": "docker-ce"},
                          TRIXIE, "apt", available={"docker-ce": packages["docker-ce"]})
    (etc / "preferences.d" / "nodeprep-pins.pref").write_text(plan["preferences"])
    options = ["-o", "Dir::Etc=%s" % etc, "-o", "Dir::Etc::sourceparts=-", "-o", "Dir::State::Lists=%s" % (tmp_path / "lists"),
               "-o", "Dir::Cache=%s" % (tmp_path / "cache"), "-o", "Dir::State::status=%s" % (tmp_path / "status"),
               "-o", "Debug::NoLocking=1"]
    env = dict(os.environ, LC_ALL="C")
    subprocess.run(["apt-get"] + options + ["update", "-q"], check=True, capture_output=True, env=env)
    out = subprocess.run(["apt-cache"] + options + ["policy", "docker-ce", "docker.io", "iptables"], check=True,
                         capture_output=True, text=True, env=env).stdout
    policy = pins.parse_apt_cache_policy(out)
    priorities = {name: {v["version"]: v["priority"] for v in info["versions"]} for name, info in policy.items()}
    assert priorities["docker-ce"] == {CE.format("28.0.1"): 500, CE.format("28.0.0"): -1,
                                       CE.format("27.5.1"): 1001, CE.format("27.3.1"): -1}
    assert policy["docker-ce"]["candidate"] == CE.format("27.5.1")
    assert priorities["docker.io"] == {"28.0.0+dfsg1-1": -1, "27.3.10+dfsg1-1": 500, "27.3.1+dfsg1-1": -1}
    assert policy["docker.io"]["candidate"] == "27.3.10+dfsg1-1"
    assert priorities["iptables"] == {"1.8.11-10": 500, "1.8.11-2": 500, "1.8.11-1+b1": -1, "1.8.11-1": -1,
                                      "1.8.10-3": 500}


# --- hostile names and versions: refused before anything is rendered, run or read -------------------

def test_trailing_newline_in_a_package_name_renders_no_preferences():
    # Before: "Package: docker-ce\n" split the stanza, and every apt command then failed ("no Package header").
    plan = None
    with pytest.raises(PinError) as exc:
        plan = pins.plan_pins({"forbid": [{"packages": ["docker-ce\n"], "versions": ["27.3.1"]}]}, TRIXIE, "apt")
    assert plan is None
    assert str(exc.value) == ("forbid[0]: 'docker-ce\\n' is not a Debian package name: lowercase letters, digits, "
                              "'+', '-' and '.' only, at least 2 characters, starting with a letter or digit")


@pytest.mark.parametrize("request_,where", [
    ({"pins": [{"packages": ["iptables"], "version": "1.8.10-3\n"}]}, "pins[0]: '1.8.10-3\\n'"),
    ({"pins": [{"packages": ["iptables"], "version": "1.8.10-3\nPackage: *"}]}, "pins[0]: '1.8.10-3\\nPackage: *'"),
    ({"pins": [{"packages": ["iptables\nPackage: *"], "version": "1.8.10-3"}]}, "pins[0]: 'iptables\\nPackage: *'"),
    ({"name": "nodeprep-pins\n"}, "pin set name 'nodeprep-pins\\n'"),
])
def test_newlines_never_reach_the_apt_preferences_file(request_, where):
    with pytest.raises(PinError) as exc:
        pins.plan_pins(request_, TRIXIE, "apt")
    assert str(exc.value).startswith(where)


def test_comma_in_a_forbidden_rpm_version_is_not_an_excludepkgs_entry():
    # Before: excludepkgs=docker-ce-1.0,kernel-* excluded every kernel package.
    with pytest.raises(PinError, match=r"^forbid\[0\]: '1\.0,kernel' is not an RPM version"):
        pins.plan_pins({"forbid": [{"packages": ["docker-ce"], "versions": ["1.0,kernel"]}],
                        "dnf_method": "excludepkgs"}, FEDORA41, "dnf")


@pytest.mark.parametrize("package", ["docker-ce,kernel", "kernel*", "docker ce", "docker-ce\n"])
def test_rpm_package_names_that_are_patterns_or_lists_are_refused(package):
    with pytest.raises(PinError, match=r"^forbid\[0\]: .* is not an RPM package name"):
        pins.plan_pins({"forbid": [{"packages": [package], "versions": ["1.0"]}], "dnf_method": "excludepkgs"},
                       FEDORA41, "dnf")


def test_rpm_names_debian_would_refuse_are_fine_for_dnf():
    plan = pins.plan_pins({"forbid": [{"packages": ["NetworkManager"], "versions": ["1.0^git1"]}],
                           "dnf_method": "excludepkgs"}, FEDORA41, "dnf")
    assert plan["excludepkgs"] == ["NetworkManager-1.0^git1-*"]


def test_a_version_is_taken_as_written_not_stripped():
    # A stripped version would be pinned silently although the input was malformed; refusing says so.
    with pytest.raises(PinError, match="is not a Debian version"):
        pins.plan_pins({"pins": [{"packages": ["iptables"], "version": " 1.8.10-3"}]}, TRIXIE, "apt")


def test_plan_from_host_refuses_a_bad_name_before_running_any_command(tmp_path):
    run = FakeRunner({"/usr/bin/apt-cache": (0, "", "")})
    with pytest.raises(PinError, match="'docker-ce\\\\n' is not a Debian package name"):
        pins.plan_from_host({"pins": [{"packages": ["docker-ce\n"], "version": "5:27.5.1-1~debian.13~trixie"}]},
                            root=make_root(tmp_path), run=run, which=which_all)
    assert run.calls == []


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_plan_from_host_refuses_a_root_that_is_not_a_directory(tmp_path, kind):
    root = tmp_path / "root"
    if kind == "file":
        root.write_text("not a tree")
    with pytest.raises(PinError) as exc:
        pins.plan_from_host({"presets": ["docker"]}, root=str(root))
    assert str(exc.value) == "root %r does not exist or is not a directory" % str(root)


# --- dnf.conf excludepkgs: merged into the user's line, removable, idempotent --------------------------------------

# The [main] of Debian trixie's dnf 4.23 /etc/dnf/dnf.conf, with a user's excludepkgs line and a repository section.
USER_DNF_CONF = ("[main]\ngpgcheck=1\ninstallonly_limit=3\nclean_requirements_on_remove=True\n"
                 "excludepkgs=kernel*, java-11-openjdk\nskip_if_unavailable=False\n\n[local]\nexcludepkgs=foo\n")
OURS = ["docker-ce-27.3.1-*", "docker-ce-cli-27.3.1-*"]


def main_excludes(text):
    parsed = pins.parse_dnf_conf_excludes(text)
    return re.split(r"[\s,]+", parsed["value"]) if parsed["line"] is not None else None


def test_our_entries_are_merged_into_the_users_line_and_recorded():
    merged = pins.merge_dnf_excludepkgs(USER_DNF_CONF, "nodeprep-pins", OURS)
    assert "\nexcludepkgs=kernel*, java-11-openjdk,docker-ce-27.3.1-*,docker-ce-cli-27.3.1-*\n" \
           "# nodeprep.netfilter.package_pin nodeprep-pins added to excludepkgs: docker-ce-27.3.1-*,docker-ce-cli-27.3.1-*\n" \
           "skip_if_unavailable=False\n" in merged
    assert merged.endswith("[local]\nexcludepkgs=foo\n")  # a repository's own excludes are not [main]'s


def test_merging_again_changes_nothing():
    merged = pins.merge_dnf_excludepkgs(USER_DNF_CONF, "nodeprep-pins", OURS)
    assert pins.merge_dnf_excludepkgs(merged, "nodeprep-pins", OURS) == merged
    assert pins.dnf_conf_variants(merged, "nodeprep-pins", OURS)["present"] is None


def test_removal_takes_out_ours_and_gives_back_the_users_line_as_written():
    merged = pins.merge_dnf_excludepkgs(USER_DNF_CONF, "nodeprep-pins", OURS)
    assert pins.merge_dnf_excludepkgs(merged, "nodeprep-pins", []) == USER_DNF_CONF
    assert pins.dnf_conf_variants(merged, "nodeprep-pins", OURS)["absent"] == USER_DNF_CONF
    assert pins.dnf_conf_variants(USER_DNF_CONF, "nodeprep-pins", OURS)["absent"] is None


def test_an_entry_the_user_already_had_stays_theirs():
    conf = "[main]\nexcludepkgs=docker-ce-27.3.1-*\n"
    merged = pins.merge_dnf_excludepkgs(conf, "nodeprep-pins", OURS)
    assert main_excludes(merged) == OURS
    assert "added to excludepkgs: docker-ce-cli-27.3.1-*\n" in merged
    assert pins.merge_dnf_excludepkgs(merged, "nodeprep-pins", []) == conf


def test_a_changed_request_drops_what_it_no_longer_forbids():
    merged = pins.merge_dnf_excludepkgs(USER_DNF_CONF, "nodeprep-pins", OURS)
    changed = pins.merge_dnf_excludepkgs(merged, "nodeprep-pins", ["moby-engine-28.0.0-*"])
    assert main_excludes(changed) == ["kernel*", "java-11-openjdk", "moby-engine-28.0.0-*"]
    assert "added to excludepkgs: moby-engine-28.0.0-*\n" in changed


def test_pin_sets_keep_each_others_entries():
    first = pins.merge_dnf_excludepkgs(USER_DNF_CONF, "docker", OURS)
    both = pins.merge_dnf_excludepkgs(first, "iptables", ["docker-ce-27.3.1-*", "iptables-1.8.11-1.el9"])
    assert main_excludes(both) == ["kernel*", "java-11-openjdk"] + OURS + ["iptables-1.8.11-1.el9"]
    # docker-ce-27.3.1-* is claimed by both: it stays until neither wants it.
    without_docker = pins.merge_dnf_excludepkgs(both, "docker", [])
    assert main_excludes(without_docker) == ["kernel*", "java-11-openjdk", "docker-ce-27.3.1-*", "iptables-1.8.11-1.el9"]
    assert pins.merge_dnf_excludepkgs(without_docker, "iptables", []) == USER_DNF_CONF


def test_without_a_user_line_ours_goes_right_after_main_and_removal_leaves_no_trace():
    conf = "[main]\ngpgcheck=1\n"
    merged = pins.merge_dnf_excludepkgs(conf, "nodeprep-pins", OURS)
    assert merged.startswith("[main]\nexcludepkgs=docker-ce-27.3.1-*,docker-ce-cli-27.3.1-*\n# nodeprep")
    assert pins.merge_dnf_excludepkgs(merged, "nodeprep-pins", []) == conf
    assert pins.dnf_conf_variants(None, "nodeprep-pins", [])["present"] is None  # no file, nothing to write
    assert pins.dnf_conf_variants(None, "nodeprep-pins", OURS)["present"].startswith("[main]\nexcludepkgs=")


def test_the_older_exclude_name_and_blank_separators_are_kept():
    conf = "[main]\nexclude = kernel* foo\n"
    merged = pins.merge_dnf_excludepkgs(conf, "p", ["bar-1-*"])
    assert merged.startswith("[main]\nexclude = kernel* foo bar-1-*\n")
    assert pins.merge_dnf_excludepkgs(merged, "p", []) == conf


def test_a_line_written_by_release_1_0_0_is_adopted_and_removable():
    # 1.0.0 overwrote the line with exactly its entries and recorded nothing.
    conf = "[main]\nexcludepkgs=%s\ngpgcheck=1\n" % ",".join(OURS)
    merged = pins.merge_dnf_excludepkgs(conf, "nodeprep-pins", OURS)
    assert "added to excludepkgs: %s\n" % ",".join(OURS) in merged
    assert pins.merge_dnf_excludepkgs(merged, "nodeprep-pins", []) == "[main]\ngpgcheck=1\n"


@pytest.mark.parametrize("conf, words", [
    ("[main]\nexcludepkgs=a\nexclude=b\n", "sets excludepkgs more than once in [main] (lines 2, 3)"),
    ("[main]\nexcludepkgs=a,\n  b\n", "line 3: the excludepkgs value goes on over indented lines"),
])
def test_an_ambiguous_dnf_conf_is_refused_not_guessed(conf, words):
    with pytest.raises(PinError) as exc:
        pins.merge_dnf_excludepkgs(conf, "p", OURS)
    assert words in str(exc.value)


def dnf_root(tmp_path, conf=None):
    (tmp_path / "etc" / "dnf").mkdir(parents=True)
    (tmp_path / "etc" / "os-release").write_text(fixture_text("../pkg_mgr/rocky-9.os-release"))
    if conf is not None:
        (tmp_path / "etc" / "dnf" / "dnf.conf").write_text(conf)
    return str(tmp_path)


def test_plan_from_a_dnf_host_returns_dnf_conf_with_and_without_the_pin_set(tmp_path):
    plan = pins.plan_from_host({"presets": ["docker"], "pkg_mgr": "dnf", "dnf_method": "excludepkgs"},
                               root=dnf_root(tmp_path, USER_DNF_CONF))
    assert plan["dnf_conf_path"] == "/etc/dnf/dnf.conf"
    assert main_excludes(plan["dnf_conf"]["present"]) == ["kernel*", "java-11-openjdk"] + plan["excludepkgs"]
    assert plan["dnf_conf"]["absent"] is None
    # With versionlock nothing goes into dnf.conf, and what an excludepkgs run added comes out again.
    (tmp_path / "etc" / "dnf" / "dnf.conf").write_text(plan["dnf_conf"]["present"])
    locked = pins.plan_from_host({"presets": ["docker"], "pkg_mgr": "dnf"}, root=str(tmp_path))
    assert locked["dnf_conf"]["present"] == USER_DNF_CONF


def test_an_unreadable_dnf_conf_is_never_rewritten(tmp_path):
    root = dnf_root(tmp_path)
    os.mkfifo(os.path.join(root, "etc", "dnf", "dnf.conf"))
    with pytest.raises(PinError, match=r"cannot read /etc/dnf/dnf.conf \(a FIFO, not read\)"):
        pins.plan_from_host({"presets": ["docker"], "pkg_mgr": "dnf", "dnf_method": "excludepkgs"}, root=root)


def test_apt_hosts_have_no_dnf_conf(tmp_path):
    plan = pins.plan_from_host({"presets": ["iptables"], "query_repositories": False}, root=make_root(tmp_path))
    assert plan["dnf_conf_path"] is None and plan["dnf_conf"] == {"present": None, "absent": None}


def _system_python_with_dnf():
    """The distribution's python3 when it has dnf 4's bindings (Debian: python3-dnf), else None."""
    for python in ("/usr/bin/python3",):
        if os.path.exists(python) and subprocess.run([python, "-c", "import dnf"], capture_output=True, check=False).returncode == 0:
            return python
    return None


DNF_PYTHON = _system_python_with_dnf()


@pytest.mark.skipif(DNF_PYTHON is None, reason="needs dnf 4's Python bindings (python3-dnf)")
def test_real_dnf_reads_the_merged_line_and_ignores_the_record(tmp_path):
    def excludes(text):
        path = tmp_path / "dnf.conf"
        path.write_text(text)
        code = "import dnf, json; c = dnf.conf.Conf(); c.read(%r); print(json.dumps(list(c.excludepkgs)))" % str(path)
        out = subprocess.run([DNF_PYTHON, "-c", code], capture_output=True, text=True, check=True).stdout
        return re.findall(r'"([^"]*)"', out)

    merged = pins.merge_dnf_excludepkgs(USER_DNF_CONF, "nodeprep-pins", OURS)
    assert excludes(merged) == ["kernel*", "java-11-openjdk"] + OURS
    assert excludes(pins.merge_dnf_excludepkgs(merged, "nodeprep-pins", [])) == ["kernel*", "java-11-openjdk"]
    older = pins.merge_dnf_excludepkgs("[main]\nexclude = kernel* foo\n", "p", OURS)
    assert excludes(older) == ["kernel*", "foo"] + OURS
