# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The shared name and version rules: whole strings only, and a message that names the value."""

from __future__ import annotations

import pytest

from ansible_collections.nodeprep.netfilter.plugins.module_utils import _names as names

# Values every rule must refuse: a YAML block scalar's trailing newline, a second line, a list
# separator, patterns and paths.
HOSTILE_SUFFIXES = ["\n", "\nPackage: *", ",kernel", "*", "?", "[a]", "/x", " ", "\t"]


# --- Debian package names ------------------------------------------------------------------

@pytest.mark.parametrize("name", ["docker-ce", "docker.io", "libxtables12", "g++", "0ad", "libstdc++6", "xz-utils"])
def test_debian_package_names_of_real_packages_are_valid(name):
    assert names.deb_package_name_problem(name) is None


@pytest.mark.parametrize("name", [
    "", "x", "Docker-ce", "docker_ce", "-docker", ".docker", "+docker", "docker ce", "../etc", "docker/ce",
    "docker:amd64", "a" * 256,
] + ["docker-ce" + suffix for suffix in HOSTILE_SUFFIXES])
def test_debian_package_name_rule_refuses_with_the_value_named(name):
    problem = names.deb_package_name_problem(name)
    assert problem is not None and (repr(name) in problem or "characters long" in problem)


def test_debian_package_name_trailing_newline_is_refused_although_dollar_would_match():
    # The bug this module fixes: re.match("^...$") accepts one trailing newline.
    assert names.deb_package_name_problem("docker-ce\n") == (
        "'docker-ce\\n' is not a Debian package name: lowercase letters, digits, '+', '-' and '.' only, at least 2 "
        "characters, starting with a letter or digit")


def test_overlong_package_name_says_how_long():
    assert names.deb_package_name_problem("a" * 256) == (
        "package name '%s...' is 256 characters long; at most 255 are allowed" % ("a" * 60))
    assert names.deb_package_name_problem("a" * 255) is None


def test_non_string_package_name_is_refused():
    assert names.deb_package_name_problem(None) == "package name None is not a string"
    assert names.rpm_package_name_problem(["docker"]) == "package name ['docker'] is not a string"


# --- RPM package names -----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["docker-ce", "moby-engine", "python3-dnf-plugin-versionlock", "NetworkManager",
                                  "libstdc++", "perl-Net_SSLeay", "x", "_foo"])
def test_rpm_package_names_of_real_packages_are_valid(name):
    assert names.rpm_package_name_problem(name) is None


@pytest.mark.parametrize("name", ["", "-docker", ".docker", "docker ce", "docker,kernel", "kernel*", "kernel?",
                                  "kernel[0-9]", "../etc", "docker/ce", "a" * 256, "docker-ce\n", "docker-ce\nkernel"])
def test_rpm_package_name_rule_refuses(name):
    problem = names.rpm_package_name_problem(name)
    assert problem is not None and (repr(name) in problem or "characters long" in problem)


def test_package_name_rule_follows_the_package_manager():
    # Uppercase is fine in RPM names, never in Debian's.
    assert names.package_name_problem("NetworkManager", "dnf") is None
    assert names.package_name_problem("NetworkManager", "yum") is None
    assert "not a Debian package name" in names.package_name_problem("NetworkManager", "apt")


# --- Debian versions ---------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["1.8.11-1", "1.8.11-1+b1", "5:27.5.1-1~debian.13~trixie", "28.5.2+dfsg4-5",
                                     "1.0", "1:2.0", "2.0-1-2", "1.0~rc1", "0.9.8zh-1", "1.2.3+really1.2.2-0ubuntu1"])
def test_debian_versions_of_real_packages_are_valid(version):
    assert names.deb_version_problem(version) is None


@pytest.mark.parametrize("version", [
    "", "a1.0", ":1.0", "x:1.0", "1:2:3", "1.0-", "1.0_1", "1.0-1_2", "1.0 1", "1.0,kernel", "1.0*", "1.0/..",
    "1.0-1\n", "1.0\n", "1.0\nPackage: *", " 1.0", "1.0 ",
])
def test_debian_version_rule_refuses_with_the_value_named(version):
    problem = names.deb_version_problem(version)
    assert problem is not None
    assert repr(version) in problem or version == ""


# --- RPM versions -----------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["27.5.1", "3:27.5.1-1.el9", "1.8.10-3.fc40", "2.0~rc1", "1.0^git1", "1.0_1"])
def test_rpm_versions_of_real_packages_are_valid(version):
    assert names.rpm_version_problem(version) is None


@pytest.mark.parametrize("version", ["", "1.0,kernel", "1.0*", "1.0?", "1.0[1]", "1.0-1-2", "a:1.0", "1.0 1",
                                     "1.0\n", "1.0-1\n", "1.0\nkernel", "-1.0", "1.0/..", "1.0-"])
def test_rpm_version_rule_refuses_with_the_value_named(version):
    problem = names.rpm_version_problem(version)
    assert problem is not None
    assert repr(version) in problem or version == ""


def test_rpm_version_with_a_comma_names_the_comma_rule():
    assert names.rpm_version_problem("1.0,kernel") == (
        "'1.0,kernel' is not an RPM version ([epoch:]version[-release]): letters, digits, '.', '_', '+', '~' and '^' "
        "only, starting with a letter or digit, with at most one '-' (no whitespace, ',' or glob characters)")


def test_version_rule_follows_the_package_manager():
    # '^' sorts specially in RPM and does not exist in Debian versions.
    assert names.version_problem("1.0^git1", "dnf") is None
    assert names.version_problem("1.0^git1", "apt") is not None
    assert names.version_problem(None, "apt") == "version None is not a string"


# --- pin set names ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["nodeprep-pins", "docker", "Docker_27", "0"])
def test_pin_set_names_apt_reads_are_valid(name):
    assert names.pin_set_name_problem(name) is None


@pytest.mark.parametrize("name", ["", "docker.pins", "docker pins", "../etc", "-pins", "_pins", "pins\n",
                                  "pins\nfoo", "pins,x", "pins*", "a" * 251])
def test_pin_set_names_apt_would_ignore_are_refused(name):
    problem = names.pin_set_name_problem(name)
    assert problem is not None and (repr(name) in problem or "characters long" in problem)


def test_pin_set_name_leaves_room_for_the_pref_extension():
    assert names.pin_set_name_problem("a" * 250) is None
    assert "at most 250 are allowed" in names.pin_set_name_problem("a" * 251)


# --- systemd unit names ----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["docker.service", "containerd.service", "getty@tty1.service", "getty@.service",
                                  "sys-devices-a\\x2db.device", "dev-disk-by\\x2duuid-1.swap", "user-1000.slice",
                                  "a:b_c.timer", "x" * 247 + ".service"])
def test_systemd_unit_names_are_valid(name):
    assert names.unit_name_problem(name) is None


@pytest.mark.parametrize("name", [
    "", "docker", "docker.d", "docker.conf", ".service", "../../../tmp/x", "../../../tmp/x.service",
    "docker/../x.service", "docker service.service", "docker.service\n", "docker.service\nExecStart=/bin/sh",
    "docker\n.service", "-H.service", "--now.service", "@x.service", "docker,x.service", "docker*.service",
    "x" * 248 + ".service",
])
def test_systemd_unit_names_that_are_not_units_are_refused(name):
    problem = names.unit_name_problem(name)
    assert problem is not None and (repr(name) in problem or "characters long" in problem)


def test_unit_name_path_traversal_names_the_value_and_the_rule():
    assert names.unit_name_problem("../../../tmp/x") == (
        "'../../../tmp/x' is not a systemd unit name: it must end in " + " or ".join("." + t for t in names.UNIT_TYPES))
    assert names.unit_name_problem("../../../tmp/x.service") == (
        "'../../../tmp/x.service' is not a systemd unit name: before .service only letters, digits, ':', '-', '_', "
        "'.', '\\' and one '@' are allowed (no '/', whitespace or leading '-'; systemd.unit(5))")


def test_unit_types_can_be_narrowed_to_services():
    assert names.unit_name_problem("docker.socket") is None
    assert names.unit_name_problem("docker.socket", types=("service",)) == (
        "'docker.socket' is not a systemd unit name: it must end in .service")


def test_unit_name_length_is_systemds_255():
    assert names.unit_name_problem("x" * 247 + ".service") is None
    assert "is 256 characters long; at most 255" in names.unit_name_problem("x" * 248 + ".service")


# --- kernel modules and .conf files -----------------------------------------------------------

@pytest.mark.parametrize("name,valid", [
    ("br_netfilter", True), ("overlay", True), ("nf-conntrack", True), ("a" * 55, True),
    ("a" * 56, False), ("", False), ("overlay\n", False), ("overlay\nbr_netfilter", False), ("over lay", False),
    ("../overlay", False), ("overlay,x", False), ("overlay*", False), (None, False),
])
def test_kernel_module_names(name, valid):
    assert (names.kernel_module_name_problem(name) is None) is valid


@pytest.mark.parametrize("name,valid", [
    ("k8s.conf", True), ("99-kubernetes-cri.conf", True), ("br_netfilter.conf", True),
    (".conf", False), (".k8s.conf", False), ("k8s.conf\n", False), ("k8s\n.conf", False), ("k 8s.conf", False),
    ("k8s.cfg", False), ("k8s", False), ("../k8s.conf", False), ("a" * 252 + ".conf", False), ("", False),
])
def test_conf_file_names(name, valid):
    assert (names.conf_file_name_problem(name) is None) is valid


# --- sysctl keys (the grammar br_netfilter_facts' sysctl_keys and the roles share) ----------------

@pytest.mark.parametrize("key", ["net.ipv4.ip_forward", "net/ipv4/ip_forward", "net.bridge.bridge-nf-call-iptables",
                                 "net/ipv4/conf/eth0.100/forwarding", "net.ipv4.conf.br+0.forwarding",
                                 "net.ipv6.conf.wg@1.forwarding", "kernel.pid_max"])
def test_sysctl_keys_are_valid(key):
    assert names.sysctl_key_problem(key) is None


@pytest.mark.parametrize("key,problem", [
    ("net.ipv4.ip_forward\n", "contains characters a sysctl key cannot have"),
    ("net.ipv4.ip_forward\nkernel.panic", "contains characters a sysctl key cannot have"),
    ("net.ipv4.ip_forward = 1", "contains characters a sysctl key cannot have"),
    ("net.ipv4.ip_forward,kernel.panic", "contains characters a sysctl key cannot have"),
    ("-net.ipv4.ip_forward", "contains characters a sysctl key cannot have"),
    ("/net/ipv4/ip_forward", "contains characters a sysctl key cannot have"),
    ("net.ipv4.*", "is a glob pattern"),
    ("net/../kernel/panic", "has an empty, '.' or '..' component"),
    ("net..ipv4", "has an empty, '.' or '..' component"),
    ("net.ipv4.", "has an empty, '.' or '..' component"),
    ("net." + "a" * 256, "has a component longer than 255 characters"),
    ("", "is empty"),
    (1, "is not a string"),
])
def test_sysctl_key_rule_says_what_is_wrong(key, problem):
    found = names.sysctl_key_problem(key)
    assert found is not None and found.startswith(problem)


def test_sysctl_d_and_the_facts_use_this_one_key_rule():
    # One grammar, not two: the sysctl.d reader and its callers get the function from here.
    from ansible_collections.nodeprep.netfilter.plugins.module_utils import _br_netfilter, _br_netfilter_plan, _sysctl_d
    assert _sysctl_d._as_path is names.sysctl_key_as_path
    assert _br_netfilter.sysctl_key_problem is names.sysctl_key_problem
    assert _br_netfilter_plan.sysctl_key_problem is names.sysctl_key_problem
