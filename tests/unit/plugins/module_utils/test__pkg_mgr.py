# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Which package manager package_pin configures: host trees built from os-release fixtures."""

from __future__ import annotations

import os

import pytest

from ansible_collections.nodeprep.netfilter.plugins.module_utils import _pins as pins
from ansible_collections.nodeprep.netfilter.plugins.module_utils._pins import PinError
from ansible_collections.nodeprep.netfilter.plugins.module_utils._pkg_mgr import dnf_generation, resolve_pkg_mgr
from ansible_collections.nodeprep.netfilter.plugins.module_utils._rootfs import RootFS

FIXTURES = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "fixtures"))

# Per host: its os-release fixture and the commands as the distribution lays them out
# (a value starting with "->" is a symlink target, else the file is a plain executable).
HOSTS = {
    "fedora-41": ("pkg_mgr/fedora-41.os-release", {
        "usr/bin/dnf5": "", "usr/bin/dnf": "-> dnf5", "usr/bin/yum": "-> dnf5"}),
    "rocky-9": ("pkg_mgr/rocky-9.os-release", {
        "usr/bin/dnf-3": "", "usr/bin/dnf": "-> dnf-3", "usr/bin/yum": "-> dnf-3"}),
    "fedora-40-with-dnf5": ("pkg_mgr/fedora-41.os-release", {
        "usr/bin/dnf-3": "", "usr/bin/dnf": "-> dnf-3", "usr/bin/dnf5": ""}),
    "dnf5-only": ("pkg_mgr/fedora-41.os-release", {"usr/bin/dnf5": ""}),
    "centos-7": ("pkg_mgr/centos-7.os-release", {"usr/bin/yum": ""}),
    "trixie": ("pins/trixie.os-release", {"var/lib/dpkg/status": "Package: dpkg\n", "usr/bin/apt-get": ""}),
    # The trixie-dnf VM image: Debian with Debian's dnf 4.23 (a Python script, not a link) and rpm.
    "trixie-dnf": ("pkg_mgr/trixie-dnf-4.23.os-release", {
        "var/lib/dpkg/status": "Package: dpkg\n", "usr/bin/apt-get": "", "usr/bin/dnf": "#!/usr/bin/python3\n",
        "usr/bin/rpm": ""}),
    "nothing": ("pkg_mgr/rocky-9.os-release", {}),
    # The dnf5 lab (/tmp/dnf5lab, Debian sid, dnf5 5.4.6 and dnf 4.24 both installed): Debian's dnf5 ships no dnf
    # link, so /usr/bin/dnf is dnf 4 (-> dnf-3) and dnf5 is its own binary.
    "sid-dnf5-and-dnf4": ("pkg_mgr/sid.os-release", {
        "var/lib/dpkg/status": "Package: dpkg\n", "usr/bin/apt-get": "", "usr/bin/dnf-3": "#!/usr/bin/python3\n",
        "usr/bin/dnf": "-> dnf-3", "usr/bin/dnf5": "", "usr/bin/rpm": ""}),
    "sid-dnf5": ("pkg_mgr/sid.os-release", {
        "var/lib/dpkg/status": "Package: dpkg\n", "usr/bin/apt-get": "", "usr/bin/dnf5": "", "usr/bin/rpm": ""}),
}


def make_host(tmp_path, name):
    os_release, files = HOSTS[name]
    root = tmp_path / name
    (root / "etc").mkdir(parents=True)
    with open(os.path.join(FIXTURES, os_release)) as handle:
        (root / "etc" / "os-release").write_text(handle.read())
    for path, content in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if content.startswith("-> "):
            target.symlink_to(content[3:])
        else:
            target.write_text(content)
    return RootFS(str(root))


@pytest.mark.parametrize("host,requested,expected", [
    ("rocky-9", "auto", "dnf"),
    ("rocky-9", "dnf", "dnf"),
    ("fedora-40-with-dnf5", "auto", "dnf"),
    ("trixie", "auto", "apt"),
    ("trixie-dnf", "auto", "apt"),
    ("trixie-dnf", "dnf", "dnf"),
    ("trixie-dnf", "apt", "apt"),
    ("nothing", "dnf", "dnf"),
    ("fedora-41", "auto", "dnf5"),
    ("fedora-41", "dnf5", "dnf5"),
    ("dnf5-only", "auto", "dnf5"),
    ("fedora-40-with-dnf5", "dnf5", "dnf5"),
    ("sid-dnf5-and-dnf4", "auto", "apt"),
    ("sid-dnf5-and-dnf4", "dnf5", "dnf5"),
    ("sid-dnf5-and-dnf4", "dnf", "dnf"),
    ("sid-dnf5", "dnf5", "dnf5"),
])
def test_the_package_manager_is_detected_or_taken_as_asked(tmp_path, host, requested, expected):
    assert resolve_pkg_mgr(make_host(tmp_path, host), requested) == (expected, None)
    assert pins.detect_pkg_mgr(make_host(tmp_path / "again", host), requested) == expected


def test_asking_for_dnf_4_where_dnf_is_dnf5_is_refused_never_a_silent_no_op(tmp_path):
    name, problem = resolve_pkg_mgr(make_host(tmp_path, "fedora-41"), "dnf")
    assert name is None
    assert problem.startswith("Fedora Linux 41 (Server Edition): dnf 4 was asked for, but this host's dnf is dnf5 "
                              "(/usr/bin/dnf -> /usr/bin/dnf5).")
    assert "silently do nothing. Ask for dnf5 (or auto) instead." in problem


def test_asking_for_dnf_4_where_only_dnf5_exists_is_refused(tmp_path):
    name, problem = resolve_pkg_mgr(make_host(tmp_path, "dnf5-only"), "dnf")
    assert name is None and "(only dnf5 is installed)" in problem


@pytest.mark.parametrize("host", ["nothing", "trixie-dnf"])
def test_asking_for_dnf5_where_there_is_none_is_refused(tmp_path, host):
    # The lock would be read by nobody, and the epochs its values need come from dnf5's repoquery.
    name, problem = resolve_pkg_mgr(make_host(tmp_path, host), "dnf5")
    assert name is None and "dnf5 was asked for, but no dnf5 command was found (/usr/bin/dnf5)" in problem


def test_yum_is_refused_with_the_reason(tmp_path):
    with pytest.raises(PinError) as exc:
        pins.detect_pkg_mgr(make_host(tmp_path, "centos-7"), "auto")
    assert str(exc.value).startswith("CentOS Linux 7 (Core): only yum was found")
    assert "EL 7 is end of life and no test ran the role against yum" in str(exc.value)


def test_no_package_manager_at_all(tmp_path):
    with pytest.raises(PinError, match=r"^Rocky Linux 9.4 \(Blue Onyx\): no supported package manager found"):
        pins.detect_pkg_mgr(make_host(tmp_path, "nothing"), "auto")


def test_yum_cannot_be_asked_for(tmp_path):
    # Dropped, not merely refused on yum-only hosts: asking for it is an unsupported request, even where yum exists.
    name, problem = resolve_pkg_mgr(make_host(tmp_path, "centos-7"), "yum")
    assert name is None and problem == "unsupported package manager 'yum': use one of auto, apt, dnf, dnf5"


def test_unknown_request_is_refused(tmp_path):
    name, problem = resolve_pkg_mgr(make_host(tmp_path, "rocky-9"), "zypper")
    assert name is None and problem == "unsupported package manager 'zypper': use one of auto, apt, dnf, dnf5"


def test_which_is_asked_first_and_links_are_followed_inside_the_tree(tmp_path):
    fs = make_host(tmp_path, "fedora-41")
    assert dnf_generation(fs, "/usr/bin/dnf") == (5, "/usr/bin/dnf5")
    # A which() that finds dnf elsewhere: that path is judged (it is not in the tree: taken as dnf 4).
    assert resolve_pkg_mgr(fs, "auto", which=lambda name: "/opt/bin/dnf" if name == "dnf" else None) == ("dnf", None)


def test_validate_from_host_reports_the_refusal_before_anything_runs(tmp_path):
    make_host(tmp_path, "fedora-41")
    with pytest.raises(PinError, match="dnf 4 was asked for, but this host's dnf is dnf5"):
        pins.validate_from_host({"presets": ["docker"], "pkg_mgr": "dnf"}, root=str(tmp_path / "fedora-41"))
    assert pins.validate_from_host({"presets": ["docker"]}, root=str(tmp_path / "fedora-41")) == "dnf5"
