# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""package_pin planned for dnf5: host trees like the sid lab, dnf5's repoquery and rpm -q faked from captures."""

from __future__ import annotations

import os

import pytest

from ansible_collections.nodeprep.netfilter.plugins.module_utils import _dnf5_lock as lock
from ansible_collections.nodeprep.netfilter.plugins.module_utils import _pins as pins
from ansible_collections.nodeprep.netfilter.plugins.module_utils._pins import PinError

FIXTURES = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "fixtures"))


def fixture_text(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


REPOQUERY = fixture_text("dnf5/sid-dnf5-5.4.6-local-repo.repoquery")


class Host(object):
    """A sid tree with dnf5 and rpm; ``installed`` is what ``rpm -q`` answers, ``offers`` what dnf5 repoquery does."""

    def __init__(self, tmp_path, installed=None, offers=REPOQUERY, lock_text=None):
        self.root = tmp_path / "root"
        (self.root / "etc" / "dnf").mkdir(parents=True)
        (self.root / "etc" / "os-release").write_text(fixture_text("pkg_mgr/sid.os-release"))
        (self.root / "var" / "lib" / "dpkg").mkdir(parents=True)
        (self.root / "var" / "lib" / "dpkg" / "status").write_text("Package: dpkg\nStatus: install ok installed\n")
        (self.root / "usr" / "bin").mkdir(parents=True)
        for name in ("dnf5", "rpm", "apt-get"):
            (self.root / "usr" / "bin" / name).write_text("")
        if lock_text is not None:
            (self.root / "etc" / "dnf" / "versionlock.toml").write_text(lock_text)
        self.installed = installed or {}
        self.offers = offers
        self.calls = []

    def which(self, name):
        return "/usr/bin/" + name if (self.root / "usr" / "bin" / name).exists() else None

    def run(self, argv):
        self.calls.append(argv)
        if argv[0] == "/usr/bin/rpm":
            lines = ["%s\t%s" % (n, self.installed[n]) if n in self.installed else "package %s is not installed" % n
                     for n in argv[4:]]
            return 0, "\n".join(lines) + "\n", ""
        assert argv[:7] == pins.dnf5_repoquery_argv("/usr/bin/dnf5", [])
        return 0, self.offers, ""

    def plan(self, **request):
        request.setdefault("pkg_mgr", "dnf5")
        return pins.plan_from_host(request, root=str(self.root), run=self.run, which=self.which)

    def write(self, plan, state="present"):
        text = plan["versionlock_toml"][state]
        if text is not None:
            (self.root / "etc" / "dnf" / "versionlock.toml").write_text(text)


def entries(text):
    return [(e["name"], [(c["comparator"], c["value"]) for c in e["conditions"]])
            for e in lock.parse_versionlock(text)["entries"]]


def codes(plan):
    return [n["code"] for n in plan["notices"]]


def test_the_offers_query_sees_every_version_past_locks_and_excludes():
    assert pins.dnf5_repoquery_argv("/usr/bin/dnf5", ["docker-ce"]) == [
        "/usr/bin/dnf5", "-q", "--setopt=disable_excludes=*", "repoquery", "--available", "--queryformat",
        "%{name} %{epoch}:%{version}-%{release}\\n", "docker-ce"]


def test_dnf5_repoquery_output_is_parsed_and_deduplicated():
    # Debian's libdnf5 "local" plugin offers installed packages again from _dnf_local_nogpgcheck.
    offers = pins.parse_dnf_repoquery(REPOQUERY + "docker-ce 3:27.5.1-1.fc41\n")
    assert offers == {"docker-ce": ["3:27.3.1-1.fc41", "3:27.5.1-1.fc41", "3:28.0.0-1.fc41", "3:28.0.1-1.fc41",
                                    "3:28.5.2-1.fc41"],
                      "iptables": ["0:1.8.11-1.fc41", "0:1.8.11-2.fc41"]}
    # dnf 4's tab-separated format still reads the same.
    assert pins.parse_dnf_repoquery("docker-ce\t3:27.5.1-1.el9\n") == {"docker-ce": ["3:27.5.1-1.el9"]}


def test_a_docker_pin_with_the_preset_locks_the_pinned_names_and_forbids_the_rest(tmp_path):
    host = Host(tmp_path, installed={"docker-ce": "3:28.5.2-1.fc41"})
    plan = host.plan(presets=["docker"], pins=[{"packages": ["docker-ce"], "version": "27.5.1-1.fc41"}], install=True)
    assert plan["pkg_mgr"] == "dnf5" and plan["versionlock_path"] == "/etc/dnf/versionlock.toml"
    assert plan["versionlock"] == [] and plan["excludepkgs"] == []
    # docker-ce: only its pin (a forbid entry beside it would OR the lock away). docker-ce-cli and moby-engine:
    # nothing offered or installed, so no epoch: no entry, a notice each.
    assert entries(plan["versionlock_toml"]["present"]) == [("docker-ce", [("=", "3:27.5.1-1.fc41")])]
    assert plan["versionlock_toml"]["absent"] is None
    assert codes(plan).count("DNF5_FORBID_NOT_LOCKED") == 2
    # Spelled as dnf5 and rpm report it (with the epoch the repository gives), so the install is exact and the
    # notices compare like with like.
    assert plan["pins"][0]["version"] == "3:27.5.1-1.fc41" and plan["pins"][0]["available"] is True
    assert plan["install"] == ["docker-ce-3:27.5.1-1.fc41"]
    assert plan["changes"] == [{"package": "docker-ce", "installed": "3:28.5.2-1.fc41", "version": "3:27.5.1-1.fc41",
                                "reason": "pinned (pins[0])"}]
    assert plan["dnf_conf"] == {"present": None, "absent": None}  # dnf5's locks never touch dnf.conf
    assert plan["dnf5_dropin_path"] == "/etc/dnf/libdnf5.conf.d/nodeprep-nodeprep-pins.conf"
    assert plan["dnf5_dropin"] == {"present": None, "absent": None}
    assert [c[0] for c in host.calls] == ["/usr/bin/rpm", "/usr/bin/dnf5"]


def test_once_the_pinned_version_is_installed_nothing_is_left_to_change(tmp_path):
    # Measured in the lab: before the epoch was filled in, the second run said "installed at 3:27.5.1-1.fc41 and
    # will be downgraded to 27.5.1-1.fc41".
    host = Host(tmp_path, installed={"docker-ce": "3:27.5.1-1.fc41"})
    plan = host.plan(pins=[{"packages": ["docker-ce"], "version": "27.5.1-1.fc41"}], install=True)
    assert plan["changes"] == [] and plan["restart_required"] is False
    assert codes(plan) == ["PIN_HOLDS_BACK_UPGRADE"]


def test_forbids_alone_become_interval_entries_with_the_offered_epoch(tmp_path):
    host = Host(tmp_path)
    plan = host.plan(presets=["docker"], forbid=[{"packages": ["iptables"], "versions": ["1.8.11-1.fc41"]}])
    assert entries(plan["versionlock_toml"]["present"]) == [
        ("docker-ce", [("<", "3:27.3.0")]),
        ("docker-ce", [(">=", "3:27.3.0^"), ("<", "3:27.3.1")]),
        ("docker-ce", [(">=", "3:27.3.1^"), ("<", "3:28.0.0")]),
        ("docker-ce", [(">=", "3:28.0.0^")]),
        ("iptables", [("<", "0:1.8.11-1.fc41")]),
        ("iptables", [(">", "0:1.8.11-1.fc41")]),
    ]


def test_the_second_run_changes_nothing_and_absent_removes_only_ours(tmp_path):
    admin = fixture_text("dnf5/sid-dnf5-5.4.6-versionlock-add.toml")
    host = Host(tmp_path, lock_text=admin)
    first = host.plan(presets=["docker"])
    # The admin's iptables and docker-ce locks stay; their docker-ce entry ORs with our forbid entries: reported.
    widen = [n for n in first["notices"] if n["code"] == "DNF5_VERSIONLOCK_ENTRY_WIDENS"]
    assert [n["package"] for n in widen] == ["docker-ce"]
    assert "dnf5 allows a version that meets any one entry of a name" in widen[0]["message"]
    host.write(first)
    second = host.plan(presets=["docker"])
    assert second["versionlock_toml"]["present"] is None
    assert entries(second["versionlock_toml"]["absent"]) == entries(admin)


def test_an_unknown_epoch_without_offers_is_an_error_not_a_silent_no_op(tmp_path):
    host = Host(tmp_path)
    with pytest.raises(PinError, match="cannot forbid docker-ce 27.3.0, 27.3.1, 28.0.0 with dnf5's versionlock: its "
                                       "epoch is unknown \\(the repositories were not queried"):
        host.plan(presets=["docker"], query_repositories=False)
    with pytest.raises(PinError, match="cannot lock docker-ce to 27.5.1 with dnf5: its epoch is unknown"):
        host.plan(pins=[{"packages": ["docker-ce"], "version": "27.5.1"}], query_repositories=False)
    # Installed, it is known without asking the repositories.
    installed = Host(tmp_path / "b", installed={"docker-ce": "3:28.5.2-1.fc41"})
    plan = installed.plan(pins=[{"packages": ["docker-ce"], "version": "28.5.2"}], query_repositories=False)
    assert entries(plan["versionlock_toml"]["present"]) == [("docker-ce", [(">=", "3:28.5.2"), ("<", "3:28.5.2^")])]


def test_a_broken_versionlock_toml_fails_the_plan_and_is_left_alone(tmp_path):
    host = Host(tmp_path, lock_text='version = "1.0"\n[[packages]\nname = "docker-ce"\n')
    for method in ("versionlock", "excludepkgs"):
        with pytest.raises(PinError, match="is not valid TOML .*every dnf5 command aborts on it now \\(rc 134\\)"):
            host.plan(presets=["docker"], dnf_method=method)


def test_excludepkgs_goes_to_the_pin_sets_dropin_and_takes_the_lock_entries_out(tmp_path):
    host = Host(tmp_path)
    host.write(host.plan(presets=["docker"]))
    plan = host.plan(presets=["docker"], dnf_method="excludepkgs", name="edge")
    assert plan["dnf5_dropin_path"] == "/etc/dnf/libdnf5.conf.d/nodeprep-edge.conf"
    assert plan["dnf5_dropin"]["present"].endswith(
        "\nexcludepkgs=docker-ce-27.3.0-*,docker-ce-27.3.1-*,docker-ce-cli-27.3.0-*,docker-ce-cli-27.3.1-*,"
        "moby-engine-27.3.0-*,moby-engine-27.3.1-*,docker-ce-28.0.0-*,docker-ce-cli-28.0.0-*,moby-engine-28.0.0-*\n")
    assert plan["dnf5_dropin"]["absent"] is None
    assert plan["versionlock_toml"]["present"] is None  # the entries there are pin set nodeprep-pins's, not edge's
    same = host.plan(presets=["docker"], dnf_method="excludepkgs")
    assert same["versionlock_toml"]["present"] == 'version = "1.0"\n'
    # excludepkgs needs no epoch: no repository query at all.
    assert not [c for c in host.calls[-2:] if c[0] == "/usr/bin/dnf5"]


def test_excludepkgs_cannot_pin_with_dnf5_either(tmp_path):
    with pytest.raises(PinError, match=r"exact pins need the versionlock method \(built into dnf5\)"):
        Host(tmp_path).plan(dnf_method="excludepkgs", pins=[{"packages": ["docker-ce"], "version": "3:27.5.1-1.fc41"}])


def test_replacing_a_forbidden_version_uses_dnf5s_offers(tmp_path):
    host = Host(tmp_path, installed={"docker-ce": "3:28.0.0-1.fc41"})
    plan = host.plan(presets=["docker"], replace_forbidden=True)
    assert plan["replace_install"] == ["docker-ce-3:28.5.2-1.fc41"]
    assert plan["replace"][0]["direction"] == "upgrade"
