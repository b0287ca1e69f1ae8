# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The thin module: bad names and a bad root fail with the value named; validate_only runs nothing."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.nodeprep.netfilter.plugins.modules import package_pin_plan

FIXTURES = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "pins"))


def run_module(capsys, args):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exc:
            package_pin_plan.main()
    return exc.value.code, json.loads(capsys.readouterr().out)


@pytest.fixture
def trixie_root(tmp_path):
    """A trixie host's os-release and dpkg status (captured from the local-repo test host)."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    shutil.copy(os.path.join(FIXTURES, "trixie.os-release"), str(root / "etc" / "os-release"))
    (root / "var" / "lib" / "dpkg").mkdir(parents=True)
    shutil.copy(os.path.join(FIXTURES, "trixie-apt-3.0.3-local-repo-held.dpkg-status"),
                str(root / "var" / "lib" / "dpkg" / "status"))
    return str(root)


def test_module_renders_the_preferences_from_a_fixture_root(capsys, trixie_root):
    rc, result = run_module(capsys, {"root": trixie_root, "presets": ["iptables"], "_ansible_check_mode": True})
    assert rc == 0 and result["changed"] is False
    assert result["pkg_mgr"] == "apt"
    assert result["preferences_path"] == "/etc/apt/preferences.d/nodeprep-pins.pref"
    assert "Package: iptables libxtables12" in result["preferences"]


@pytest.mark.parametrize("args,msg", [
    ({"forbid": [{"packages": ["docker-ce\n"], "versions": ["27.3.1"]}]},
     "forbid[0]: 'docker-ce\\n' is not a Debian package name"),
    ({"pins": [{"packages": ["iptables"], "version": "1.8.10-3\n"}]}, "pins[0]: '1.8.10-3\\n' is not a Debian version"),
    ({"name": "nodeprep-pins\n"}, "pin set name 'nodeprep-pins\\n': use letters, digits"),
    ({"pkg_mgr": "dnf", "dnf_method": "excludepkgs", "forbid": [{"packages": ["docker-ce"], "versions": ["1.0,kernel"]}]},
     "forbid[0]: '1.0,kernel' is not an RPM version"),
])
def test_module_fails_on_a_hostile_value_and_renders_nothing(capsys, trixie_root, args, msg):
    rc, result = run_module(capsys, dict(args, root=trixie_root))
    assert rc == 1 and result["failed"] is True
    assert result["msg"].startswith(msg)
    assert "preferences" not in result and "excludepkgs" not in result


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_module_fails_on_a_root_that_is_not_a_directory(capsys, tmp_path, kind):
    root = tmp_path / "root"
    if kind == "file":
        root.write_text("")
    rc, result = run_module(capsys, {"root": str(root), "validate_only": kind == "file"})
    assert rc == 1
    assert result["msg"] == "root %r does not exist or is not a directory" % str(root)


def test_validate_only_returns_the_package_manager_and_nothing_else(capsys, trixie_root):
    rc, result = run_module(capsys, {"root": trixie_root, "validate_only": True, "presets": ["docker"],
                                     "docker_version": "27.5.1"})
    assert rc == 0 and result["changed"] is False
    assert result["pkg_mgr"] == "apt"
    assert "preferences" not in result and "pins" not in result


def test_validate_only_refuses_what_the_plan_would_refuse(capsys, trixie_root):
    rc, result = run_module(capsys, {"root": trixie_root, "validate_only": True,
                                     "pins": [{"packages": ["iptables\nPackage: *"], "version": "1.8.10-3"}]})
    assert rc == 1
    assert result["msg"].startswith("pins[0]: 'iptables\\nPackage: *' is not a Debian package name")


# --- a package database that cannot be trusted: an error naming it, never "nothing installed" -----------------

@pytest.mark.parametrize("status, msg", [
    (b"Package: iptables\r\nStatus: install ok installed\r\nVersion: 1.8.11-1\r\n",
     "cannot plan pins: /var/lib/dpkg/status has CRLF line ends"),
    (b"\x00\x01\x02" * 64, "cannot plan pins: /var/lib/dpkg/status is binary"),
    ("dir", "cannot plan pins: /var/lib/dpkg/status cannot be read (a directory, not read)"),
])
def test_a_corrupt_dpkg_status_fails_naming_the_file(capsys, trixie_root, status, msg):
    path = os.path.join(trixie_root, "var", "lib", "dpkg", "status")
    os.unlink(path)
    if status == "dir":
        os.mkdir(path)
    else:
        with open(path, "wb") as handle:
            handle.write(status)
    rc, result = run_module(capsys, {"root": trixie_root, "presets": ["iptables"], "pkg_mgr": "apt"})
    assert rc == 1
    assert result["msg"].startswith(msg)


@pytest.mark.parametrize("version", ["5:27.!bad", "", "27.5.1:x"])
def test_a_malformed_installed_version_fails_naming_it(capsys, trixie_root, version):
    path = os.path.join(trixie_root, "var", "lib", "dpkg", "status")
    with open(path, "w") as handle:
        handle.write("Package: docker-ce\nStatus: install ok installed\nVersion: %s\n" % version)
    rc, result = run_module(capsys, {"root": trixie_root, "presets": ["docker", "iptables"], "pkg_mgr": "apt",
                                     "docker_version": "27.5.1", "docker_package": "docker-ce"})
    assert rc == 1, result
    assert result["msg"].startswith("cannot plan pins: a version read from the host")
    assert repr(version) in result["msg"] or "empty version string" in result["msg"]


PKG_MGR_FIXTURES = os.path.normpath(os.path.join(FIXTURES, "..", "pkg_mgr"))


def test_yum_is_not_a_choice(capsys, trixie_root):
    rc, result = run_module(capsys, {"root": trixie_root, "pkg_mgr": "yum", "validate_only": True})
    assert rc == 1
    assert "value of pkg_mgr must be one of: auto, apt, dnf, dnf5, got: yum" in result["msg"]


def test_a_yum_only_host_fails_with_the_reason(capsys, tmp_path):
    (tmp_path / "etc").mkdir()
    shutil.copy(os.path.join(PKG_MGR_FIXTURES, "centos-7.os-release"), str(tmp_path / "etc" / "os-release"))
    (tmp_path / "usr" / "bin").mkdir(parents=True)
    (tmp_path / "usr" / "bin" / "yum").write_text("")
    rc, result = run_module(capsys, {"root": str(tmp_path), "presets": ["docker"]})
    assert rc == 1
    assert result["msg"].startswith("CentOS Linux 7 (Core): only yum was found (/usr/bin/yum). package_pin no longer "
                                    "supports yum")


def test_excludepkgs_merge_is_returned_for_both_states(capsys, tmp_path):
    (tmp_path / "etc" / "dnf").mkdir(parents=True)
    shutil.copy(os.path.join(PKG_MGR_FIXTURES, "rocky-9.os-release"), str(tmp_path / "etc" / "os-release"))
    (tmp_path / "etc" / "dnf" / "dnf.conf").write_text("[main]\nexcludepkgs=kernel*\n")
    rc, result = run_module(capsys, {"root": str(tmp_path), "presets": ["docker"], "pkg_mgr": "dnf",
                                     "dnf_method": "excludepkgs", "_ansible_check_mode": True})
    assert rc == 0, result
    assert result["dnf_conf_path"] == "/etc/dnf/dnf.conf"
    assert result["dnf_conf"]["present"].startswith("[main]\nexcludepkgs=kernel*,docker-ce-27.3.0-*,")
    assert result["dnf_conf"]["absent"] is None


@pytest.fixture
def sid_dnf5_root(tmp_path):
    """The dnf5 lab's layout: Debian sid with dnf5 beside dpkg (no dnf 4 here), and an admin's versionlock.toml."""
    root = tmp_path / "sid"
    (root / "etc" / "dnf").mkdir(parents=True)
    shutil.copy(os.path.join(PKG_MGR_FIXTURES, "sid.os-release"), str(root / "etc" / "os-release"))
    (root / "var" / "lib" / "dpkg").mkdir(parents=True)
    (root / "var" / "lib" / "dpkg" / "status").write_text("Package: dpkg\nStatus: install ok installed\n")
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "bin" / "dnf5").write_text("")
    shutil.copy(os.path.join(FIXTURES, "..", "dnf5", "sid-dnf5-5.4.6-versionlock-add.toml"),
                str(root / "etc" / "dnf" / "versionlock.toml"))
    return str(root)


def test_dnf5_is_a_choice_and_a_full_evr_pin_needs_no_repository_query(capsys, sid_dnf5_root):
    rc, result = run_module(capsys, {"root": sid_dnf5_root, "pkg_mgr": "dnf5", "_ansible_check_mode": True,
                                     "pins": [{"packages": ["iptables"], "version": "0:1.8.11-1.fc41"}]})
    assert rc == 0, result
    assert result["pkg_mgr"] == "dnf5" and result["versionlock_path"] == "/etc/dnf/versionlock.toml"
    present = result["versionlock_toml"]["present"]
    assert present.count("[[packages]]") == 3  # the admin's two entries, then the pin
    assert present.endswith('name = "iptables"\ncomment = "nodeprep.netfilter.package_pin nodeprep-pins: pin '
                            '0:1.8.11-1.fc41 (pins[0])"\n\n[[packages.conditions]]\nkey = "evr"\ncomparator = "="\n'
                            'value = "0:1.8.11-1.fc41"\n')
    # The admin's own iptables lock ORs with the pin: warned about, left in place.
    assert [n["code"] for n in result["notices"]] == ["DNF5_VERSIONLOCK_ENTRY_WIDENS"]
    assert result["notices"][0]["severity"] == "medium"  # raised as a warning by the module


def test_dnf5_excludepkgs_returns_the_dropin(capsys, sid_dnf5_root):
    rc, result = run_module(capsys, {"root": sid_dnf5_root, "pkg_mgr": "dnf5", "dnf_method": "excludepkgs",
                                     "name": "edge", "forbid": [{"packages": ["docker-ce"], "versions": ["28.0.0"]}]})
    assert rc == 0, result
    assert result["dnf5_dropin_path"] == "/etc/dnf/libdnf5.conf.d/nodeprep-edge.conf"
    assert result["dnf5_dropin"]["present"].startswith("[main]\n")
    assert result["dnf5_dropin"]["present"].endswith("\nexcludepkgs=docker-ce-28.0.0-*\n")
    assert result["versionlock_toml"] == {"present": None, "absent": None}  # nothing of pin set "edge" in the file
