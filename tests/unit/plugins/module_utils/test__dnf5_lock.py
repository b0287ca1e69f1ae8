# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""dnf5's versionlock.toml: the entries a pin set needs, and the file rewritten around the admin's own entries."""

from __future__ import annotations

import os

import pytest

from ansible_collections.nodeprep.netfilter.plugins.module_utils import _dnf5_lock as lock
from ansible_collections.nodeprep.netfilter.plugins.module_utils._dnf5_lock import Dnf5LockError

FIXTURES = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "dnf5"))

# What the sid lab's local repository offers (fixtures/dnf5/sid-dnf5-5.4.6-local-repo.repoquery).
DOCKER = ["3:27.3.1-1.fc41", "3:27.5.1-1.fc41", "3:28.0.0-1.fc41", "3:28.0.1-1.fc41", "3:28.5.2-1.fc41"]
IPTABLES = ["0:1.8.11-1.fc41", "0:1.8.11-2.fc41"]


def fixture_text(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


def conditions(entries):
    return [[(c["comparator"], c["value"]) for c in e["conditions"]] for e in entries]


def allowed(entries, evr):
    """dnf5's rule, as measured: a version passes when it meets every condition of at least one entry."""
    def meets(condition):
        order = lock.evr_compare(evr, condition["value"])
        return {"=": order == 0, "!=": order != 0, "<": order < 0, "<=": order <= 0, ">": order > 0,
                ">=": order >= 0}[condition["comparator"]]
    return any(all(meets(c) for c in e["conditions"]) for e in entries)


# --- entries ----------------------------------------------------------------------------------

def test_an_exact_pin_is_one_entry_with_the_full_evr_found_in_the_offers():
    entries = lock.pin_entries("nodeprep-pins", "docker-ce", "27.5.1-1.fc41", "pins[0]", DOCKER)
    assert conditions(entries) == [[("=", "3:27.5.1-1.fc41")]]
    assert entries[0]["name"] == "docker-ce"
    assert entries[0]["comment"] == "nodeprep.netfilter.package_pin nodeprep-pins: pin 27.5.1-1.fc41 (pins[0])"


def test_a_pin_without_release_allows_every_release_of_that_version_like_dnf4s_name_v_star():
    entries = lock.pin_entries("p", "docker-ce", "27.5.1", "pins[0]", DOCKER)
    assert conditions(entries) == [[(">=", "3:27.5.1"), ("<", "3:27.5.1^")]]
    assert [allowed(entries, v) for v in DOCKER + ["3:27.5.1-2.fc41"]] == [False, True, False, False, False, True]


def test_a_pin_with_its_epoch_needs_no_offers():
    assert conditions(lock.pin_entries("p", "docker-ce", "3:27.5.1-1.fc41", "pins[0]", [])) == [
        [("=", "3:27.5.1-1.fc41")]]


def test_a_pin_whose_epoch_cannot_be_known_is_refused_not_guessed():
    # "27.5.1-1.fc41" read as epoch 0 matches nothing of an Epoch 3 package: every version would be locked out.
    with pytest.raises(Dnf5LockError, match=r"cannot lock docker-ce to 27.5.1-1.fc41 with dnf5: its epoch is unknown"):
        lock.pin_entries("p", "docker-ce", "27.5.1-1.fc41", "pins[0]", [])
    with pytest.raises(Dnf5LockError, match=r"Pin the full version, e\.g\. 3:27\.5\.1-1\.fc41, or add the repository"):
        lock.pin_entries("p", "docker-ce", "27.5.1", "pins[0]", [])


def test_forbidding_versions_leaves_one_entry_per_allowed_interval():
    entries = lock.forbid_entries("p", "docker-ce", ["27.3.0", "27.3.1", "28.0.0"], ["A", "B"], DOCKER)
    assert conditions(entries) == [
        [("<", "3:27.3.0")],
        [(">=", "3:27.3.0^"), ("<", "3:27.3.1")],
        [(">=", "3:27.3.1^"), ("<", "3:28.0.0")],
        [(">=", "3:28.0.0^")],
    ]
    assert {e["comment"] for e in entries} == {"nodeprep.netfilter.package_pin p: forbid 27.3.0, 27.3.1, 28.0.0 (A, B)"}
    # Every release of a forbidden version is out (a rebuild, a snapshot of the next), nothing else.
    verdicts = dict((v, allowed(entries, v)) for v in DOCKER + ["3:28.0.0-2.fc41", "3:27.3.10-1.fc41", "3:28.0.0.1-1"])
    assert verdicts == {"3:27.3.1-1.fc41": False, "3:27.5.1-1.fc41": True, "3:28.0.0-1.fc41": False,
                        "3:28.0.1-1.fc41": True, "3:28.5.2-1.fc41": True, "3:28.0.0-2.fc41": False,
                        "3:27.3.10-1.fc41": True, "3:28.0.0.1-1": True}


def test_an_exact_forbidden_release_is_a_point_and_overlaps_are_merged():
    point = lock.forbid_entries("p", "iptables", ["1.8.11-1.fc41"], ["USER_FORBIDDEN"], IPTABLES)
    assert conditions(point) == [[("<", "0:1.8.11-1.fc41")], [(">", "0:1.8.11-1.fc41")]]
    assert [allowed(point, v) for v in IPTABLES] == [False, True]
    merged = lock.forbid_entries("p", "docker-ce", ["3:28.0.0-1.fc41", "28.0.0"], ["X"], DOCKER)
    assert conditions(merged) == [[("<", "3:28.0.0")], [(">=", "3:28.0.0^")]]


def test_a_forbid_covers_every_epoch_the_package_uses_when_it_names_none():
    entries = lock.forbid_entries("p", "moby-engine", ["28.0.0"], ["X"], ["0:27.5.1-1.fc41", "2:28.0.1-1.fc41"])
    assert conditions(entries) == [[("<", "0:28.0.0")], [(">=", "0:28.0.0^"), ("<", "2:28.0.0")], [(">=", "2:28.0.0^")]]
    assert [allowed(entries, v) for v in ("0:28.0.0-1", "2:28.0.0-1", "0:28.0.1-1", "2:27.0-1")] == [False, False, True, True]


def test_no_epoch_no_forbid_entries():
    assert lock.forbid_entries("p", "moby-engine", ["28.0.0"], ["X"], []) == []


@pytest.mark.parametrize("left,right,expected", [
    ("3:28.0.0", "3:28.0.0-1.fc41", -1),  # no release sorts below every release (rpm itself would say equal)
    ("3:28.0.0^", "3:28.0.0-9", 1),
    ("3:28.0.0^", "3:28.0.1", -1),
    ("0:1.8.11-1.fc41", "1.8.11-1.fc41", 0),
    ("2:1", "10:0", -1),
])
def test_lock_values_sort_as_dnf5_sorts_them(left, right, expected):
    assert lock.evr_compare(left, right) == expected


# --- the file -------------------------------------------------------------------------------

OURS = lock.pin_entries("p", "docker-ce", "3:27.5.1-1.fc41", "docker_version", [])


def test_render_and_parse_round_trip_with_hostile_strings():
    entries = [{"name": "weird\"name", "comment": "tab\there \\ quote \" newline\n bell\x07 é",
                "conditions": [{"key": "evr", "comparator": "<", "value": "1:2-3"}]}]
    text = lock.render_versionlock(entries, {"note": "kept"})
    assert text.startswith('version = "1.0"\nnote = "kept"\n\n[[packages]]\nname = "weird\\"name"\n')
    assert '"tab\\there \\\\ quote \\" newline\\n bell\\u0007 é"' in text
    assert lock.parse_versionlock(text) == {"entries": entries, "top": {"note": "kept"}}


def test_a_new_file_holds_only_the_pin_set():
    variants = lock.versionlock_variants(None, "p", OURS)
    assert variants["present"] == (
        'version = "1.0"\n\n[[packages]]\nname = "docker-ce"\ncomment = "nodeprep.netfilter.package_pin p: pin '
        '3:27.5.1-1.fc41 (docker_version)"\n\n[[packages.conditions]]\nkey = "evr"\ncomparator = "="\n'
        'value = "3:27.5.1-1.fc41"\n')
    assert variants["absent"] is None and variants["others"] == []


def test_the_admins_entries_are_kept_and_reported_where_they_widen_ours():
    admin = fixture_text("sid-dnf5-5.4.6-versionlock-add.toml")
    variants = lock.versionlock_variants(admin, "p", OURS)
    parsed = lock.parse_versionlock(variants["present"])["entries"]
    assert [e["comment"][:30] for e in parsed] == ["Added by 'versionlock add' com"] * 2 + ["nodeprep.netfilter.package_pin"]
    assert parsed[:2] == lock.parse_versionlock(admin)["entries"]
    assert variants["absent"] is None  # nothing of ours there yet: the admin's file stays byte for byte
    assert variants["others"] == [{"name": "docker-ce", "comment": parsed[0]["comment"], "locks": "docker-ce"}]
    # Written, then planned again: nothing changes (idempotent); absent gives the admin's entries back.
    again = lock.versionlock_variants(variants["present"], "p", OURS)
    assert again["present"] is None
    assert lock.parse_versionlock(again["absent"])["entries"] == lock.parse_versionlock(admin)["entries"]


def test_an_entry_the_dnf5_cli_appended_after_ours_changes_nothing():
    # 'dnf5 versionlock add' rewrites the file with its new entry last; order means nothing to dnf5.
    ours_first = lock.render_versionlock(OURS + lock.parse_versionlock(
        fixture_text("sid-dnf5-5.4.6-versionlock-add.toml"))["entries"])
    variants = lock.versionlock_variants(ours_first, "p", OURS)
    assert variants["present"] is None
    assert [e["name"] for e in lock.parse_versionlock(variants["absent"])["entries"]] == ["docker-ce", "iptables"]


def test_a_glob_entry_of_the_admin_counts_as_widening():
    admin = 'version = "1.0"\n[[packages]]\nname = "docker-c*"\n[[packages.conditions]]\nkey = "arch"\n' \
            'comparator = "="\nvalue = "x86_64"\n'
    assert [o["locks"] for o in lock.versionlock_variants(admin, "p", OURS)["others"]] == ["docker-ce"]


def test_other_pin_sets_entries_are_not_ours():
    other = lock.render_versionlock(lock.pin_entries("p-2", "iptables", "0:1.8.11-2.fc41", "pins[0]", []))
    variants = lock.versionlock_variants(other, "p", OURS)
    assert [e["name"] for e in lock.parse_versionlock(variants["present"])["entries"]] == ["iptables", "docker-ce"]
    assert variants["absent"] is None


def test_absent_takes_out_only_the_pin_sets_entries():
    mine = lock.versionlock_variants(None, "p", OURS)["present"]
    variants = lock.versionlock_variants(mine, "p", OURS)
    assert variants["present"] is None and variants["absent"] == 'version = "1.0"\n'
    assert lock.versionlock_variants('version = "1.0"\n', "p", [])["absent"] is None


def test_the_file_dnf5_leaves_after_clear_is_read():
    cleared = fixture_text("sid-dnf5-5.4.6-versionlock-clear.toml")
    assert lock.parse_versionlock(cleared) == {"entries": [], "top": {}}
    assert lock.versionlock_variants(cleared, "p", [])["present"] is None
    assert lock.versionlock_variants(cleared, "p", OURS)["present"].startswith('version = "1.0"\n\n[[packages]]\n')


@pytest.mark.parametrize("text,words", [
    ('version = "1.0"\n[[packages]\nname = "docker-ce"\n', "is not valid TOML"),
    ('version = "2.0"\n[[packages]]\nname = "x"\n', "has version = '2.0': dnf5 reads only version = \"1.0\""),
    ('[[packages]]\nname = "x"\n', "has version = None"),
    ('version = "1.0"\npackages = "x"\n', "'packages' is not an array of tables"),
    ('version = "1.0"\n[[packages]]\ncomment = "no name"\n', "packages entry 1 has no string name"),
])
def test_a_file_dnf5_cannot_use_is_never_rewritten(text, words):
    # Malformed TOML aborts every dnf5 command (rc 134); a wrong version makes dnf5 ignore the admin's entries.
    # Either way the role stops and says so: it neither guesses at the entries nor switches them on.
    with pytest.raises(Dnf5LockError) as exc:
        lock.versionlock_variants(text, "p", OURS)
    assert words in str(exc.value)


def test_a_value_the_emitter_cannot_keep_is_refused():
    import datetime
    with pytest.raises(Dnf5LockError, match="a value of type date cannot be kept as written"):
        lock.render_versionlock([{"name": "x", "when": datetime.date(2026, 1, 1), "conditions": []}])


def test_without_tomllib_the_plan_fails_naming_python(monkeypatch):
    monkeypatch.setattr(lock, "tomllib", None)
    with pytest.raises(Dnf5LockError, match="Python 3.11 or later on the managed host"):
        lock.versionlock_variants(None, "p", OURS)


# --- excludepkgs drop-in ------------------------------------------------------------------------

def test_the_dropin_starts_with_main_and_lists_the_patterns():
    assert lock.dropin_path("nodeprep-pins") == "/etc/dnf/libdnf5.conf.d/nodeprep-nodeprep-pins.conf"
    text = lock.render_dropin("p", ["docker-ce-28.0.0-*", "docker-ce-27.3.1-*"])
    # A drop-in whose first line is not a section header breaks every dnf5 command (measured).
    assert text.splitlines()[0] == "[main]"
    assert text.splitlines()[-1] == "excludepkgs=docker-ce-28.0.0-*,docker-ce-27.3.1-*"
    assert lock.render_dropin("p", []) is None
