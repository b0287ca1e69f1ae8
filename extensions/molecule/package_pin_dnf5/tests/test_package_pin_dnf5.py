# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""package_pin with real dnf5 5.4 (Debian sid's, on trixie) in a VM and a local file: RPM repository. Tests run in file order.

dnf5 is slow to start under TCG, so the dnf5 commands of each phase run in one SSH call (``session``) and the tests
read their quoted output.
"""

import re
import tomllib

import pytest

from pin_compat_checks import playbook, rpm_versions, sha256, shell_session, unwrap

LOCK = "/etc/dnf/versionlock.toml"
DROPIN = "/etc/dnf/libdnf5.conf.d/nodeprep-nodeprep-pins.conf"
EL = "3:%s-1.el9"
MARK = "nodeprep.netfilter.package_pin nodeprep-pins: "
FORBIDDEN = ("docker-ce-27.3.1", "docker-ce-28.0.0", "iptables-1.8.11-1.el9")
# Versions the lock keeps out although no rule forbids them: everything but the pinned 27.5.1.
LOCKED_OUT = ("docker-ce-28.0.1", "docker-ce-28.1.1")
# What the role writes: the pins with the epoch found in the repository (3), iptables' forbid as the two intervals
# around it; no entry for moby-engine (nothing offers it: its epoch is unknown, which the role reports).
ENTRIES = [
    ("docker-ce", MARK + "pin 3:27.5.1-1.el9 (pins[0])", [("=", EL % "27.5.1")]),
    ("docker-ce-cli", MARK + "pin 3:27.5.1-1.el9 (pins[0])", [("=", EL % "27.5.1")]),
    ("iptables", MARK + "forbid 1.8.11-1.el9 (USER_FORBIDDEN)", [("<", "0:1.8.11-1.el9")]),
    ("iptables", MARK + "forbid 1.8.11-1.el9 (USER_FORBIDDEN)", [(">", "0:1.8.11-1.el9")]),
]
EXCLUDEPKGS = ("excludepkgs=docker-ce-27.3.0-*,docker-ce-27.3.1-*,docker-ce-cli-27.3.0-*,docker-ce-cli-27.3.1-*,"
               "moby-engine-27.3.0-*,moby-engine-27.3.1-*,docker-ce-28.0.0-*,docker-ce-cli-28.0.0-*,moby-engine-28.0.0-*,"
               "iptables-1.8.11-1.el9")
# Progress lines of dnf5 that carry no verdict.
NOISE = re.compile(r"^(Updating and loading repositories:|Repositories loaded\.|.*\d+% \|.*|"
                   r"Warning: skipped OpenPGP checks for .*)$")


def session(host, *commands):
    return shell_session(host, commands, NOISE, quote=True)


def lock_entries(host):
    data = tomllib.loads(host.file(LOCK).content_string)
    assert data["version"] == "1.0"
    return [(e["name"], e.get("comment"), [(c["comparator"], c["value"]) for c in e["conditions"]])
            for e in data.get("packages", [])]


def refused_by_dnf5(rc, output, specs, why):
    """dnf5's own refusal of every spec: ``why`` is 'packages excluded by versionlock' or 'excluded packages'."""
    assert rc == 1, output
    assert "Failed to resolve the transaction:" in output, output
    for spec in specs:
        assert "Argument '%s' matches only %s." % (spec, why) in output, output


# --- method versionlock (converge) -----------------------------------------------------------

def test_the_image_runs_dnf5_5_4(host):
    assert host.run("dnf5 --version").stdout.startswith("dnf5 version 5.4")


def test_unpinned_dnf5_took_the_newest_docker(host):
    log = host.file("/var/lib/nodeprep-test/dnf5-install-unpinned.log").content_string
    assert re.search(r"^ docker-ce\s+noarch\s+3:28\.1\.1-1\.el9\s+nodeprep-rpm", log, re.M), log


def test_versionlock_toml_holds_the_pins_and_the_forbid_intervals(host):
    lock = host.file(LOCK)
    assert (lock.user, lock.group, lock.mode) == ("root", "root", 0o644)
    assert lock_entries(host) == ENTRIES


def test_converge_downgraded_28_1_1_to_the_pinned_27_5_1(host):
    assert rpm_versions(host, "docker-ce", "docker-ce-cli") == ["docker-ce %s" % EL % "27.5.1",
                                                                "docker-ce-cli %s" % EL % "27.5.1"]
    assert host.file("/usr/share/nodeprep-fake/docker-ce.version").content_string.strip() == EL % "27.5.1"


@pytest.fixture(scope="module")
def locked(host):
    return session(host,
                   "dnf5 versionlock list",
                   "dnf5 list --showduplicates docker-ce",
                   "dnf5 upgrade -y docker-ce docker-ce-cli",
                   "dnf5 install -y " + " ".join(FORBIDDEN + LOCKED_OUT),
                   "dnf5 install -y iptables",
                   "rpm -q docker-ce docker-ce-cli iptables")


def test_dnf5_versionlock_lists_the_entries(locked):
    rc, out = locked["dnf5 versionlock list"]
    assert rc == 0, out
    assert "# %spin 3:27.5.1-1.el9 (pins[0])\nPackage name: docker-ce\nevr = 3:27.5.1-1.el9" % MARK in out, out
    assert "Package name: iptables\nevr < 0:1.8.11-1.el9" in out and "Package name: iptables\nevr > 0:1.8.11-1.el9" \
        in out, out


def test_dnf5_list_shows_every_version_the_lock_does_not_filter_listing(locked):
    # Measured with dnf5 5.4.6: versionlock applies to what dnf5 resolves, not to `dnf5 list`.
    rc, out = locked["dnf5 list --showduplicates docker-ce"]
    assert rc == 0
    assert re.search(r"^Installed packages\ndocker-ce\.noarch\s+3:27\.5\.1-1\.el9\s+nodeprep-rpm", out, re.M), out
    for version in ("27.3.1", "27.5.1", "28.0.0", "28.0.1", "28.1.1"):
        assert re.search(r"^docker-ce\.noarch\s+3:%s-1\.el9\s+nodeprep-rpm" % re.escape(version), out, re.M), out


def test_the_pin_holds_against_the_newer_28_1_1(locked):
    rc, out = locked["dnf5 upgrade -y docker-ce docker-ce-cli"]
    assert rc == 0 and "Nothing to do." in out, out


def test_every_forbidden_and_every_other_unpinned_version_is_refused_by_dnf5(locked):
    refused_by_dnf5(*locked["dnf5 install -y " + " ".join(FORBIDDEN + LOCKED_OUT)], FORBIDDEN + LOCKED_OUT,
                    "packages excluded by versionlock")


def test_dnf5_installs_the_good_iptables_past_the_forbidden_newer_one(locked):
    rc, out = locked["dnf5 install -y iptables"]
    # dnf5's transaction table spells epoch 0 out (0:1.8.10-1.el9); its lists and versionlock do not.
    assert rc == 0 and re.search(r"^ iptables\s+noarch\s+(0:)?1\.8\.10-1\.el9\s+nodeprep-rpm", out, re.M), out
    rc, out = locked["rpm -q docker-ce docker-ce-cli iptables"]
    assert out.split() == ["docker-ce-27.5.1-1.el9.noarch", "docker-ce-cli-27.5.1-1.el9.noarch",
                           "iptables-1.8.10-1.el9.noarch"]


def test_check_mode_changes_nothing(host):
    before = sha256(host, LOCK)
    rc, recap, output = playbook("converge.yml", check=True)
    assert rc == 0 and recap.get("changed") == 0, output
    assert sha256(host, LOCK) == before


def test_an_admins_own_lock_is_kept_and_reported(host):
    # dnf5's CLI rewrites the whole file and appends its entry after the role's; the role keeps it, changes nothing,
    # and warns that the entry ORs with its own for iptables.
    rc, out = session(host, "dnf5 versionlock add iptables-1.8.10-1.el9")["dnf5 versionlock add iptables-1.8.10-1.el9"]
    assert rc == 0 and 'Adding versionlock on "iptables = 1.8.10-1.el9".' in out, out
    rc, recap, output = playbook("converge.yml")
    assert rc == 0 and recap.get("changed") == 0, output
    assert "DNF5_VERSIONLOCK_ENTRY_WIDENS: /etc/dnf/versionlock.toml also has an entry for iptables" in unwrap(output)
    assert lock_entries(host)[:4] == ENTRIES
    assert lock_entries(host)[4][0] == "iptables" and lock_entries(host)[4][2] == [("=", "1.8.10-1.el9")]


def test_state_absent_removes_only_the_pin_sets_entries_and_dnf5_offers_28_0_0_again(host):
    rc, recap, output = playbook("converge.yml", {"package_pin_state": "absent"})
    assert rc == 0 and recap.get("changed") == 1, output
    assert [(name, conditions) for name, _comment, conditions in lock_entries(host)] == [
        ("iptables", [("=", "1.8.10-1.el9")])]
    command = "dnf5 install --assumeno docker-ce-28.0.0"
    rc, out = session(host, command)[command]
    assert rc == 1 and "Operation aborted by the user." in out, out
    assert re.search(r"^Upgrading:\n docker-ce\s+noarch\s+3:28\.0\.0-1\.el9\s+nodeprep-rpm", out, re.M), out
    # Removing the pins uninstalls nothing.
    assert rpm_versions(host, "docker-ce") == ["docker-ce %s" % EL % "27.5.1"]
    host.run("dnf5 versionlock delete iptables")


# --- method excludepkgs ------------------------------------------------------------------------

EXCLUDE_VARS = {"package_pin_dnf_method": "excludepkgs", "package_pin_pins": [], "package_pin_install": False}


def test_excludepkgs_goes_into_the_pin_sets_dropin(host):
    # Debian's dnf5 ships no /etc/dnf/libdnf5.conf.d: creating it is a change of its own.
    created = 0 if host.file("/etc/dnf/libdnf5.conf.d").is_directory else 1
    rc, recap, output = playbook("converge.yml", EXCLUDE_VARS)
    assert rc == 0 and recap.get("changed") == 1 + created, output
    dropin = host.file(DROPIN)
    assert (dropin.user, dropin.group, dropin.mode) == ("root", "root", 0o644)
    assert dropin.content_string.startswith("[main]\n") and dropin.content_string.endswith("\n" + EXCLUDEPKGS + "\n")
    assert "nodeprep" not in host.file("/etc/dnf/dnf.conf").content_string


@pytest.fixture(scope="module")
def excluded(host):
    return session(host,
                   "dnf5 --dump-main-config",
                   "dnf5 list --showduplicates docker-ce iptables",
                   "dnf5 install -y " + " ".join(FORBIDDEN))


def test_dnf5_reads_the_dropin(excluded):
    rc, out = excluded["dnf5 --dump-main-config"]
    assert rc == 0 and re.search(r"^excludepkgs = docker-ce-27\.3\.0-\*,", out, re.M), out


def test_dnf5_list_no_longer_shows_the_excluded_versions(excluded):
    rc, out = excluded["dnf5 list --showduplicates docker-ce iptables"]
    assert rc == 0
    listed = re.findall(r"^(docker-ce|iptables)\.noarch\s+(\S+)\s+nodeprep-rpm", out, re.M)
    assert sorted(set(listed)) == sorted([("docker-ce", EL % v) for v in ("27.5.1", "28.0.1", "28.1.1")]
                                         + [("iptables", "1.8.10-1.el9")]), out


def test_every_forbidden_version_is_refused_by_dnf5_through_excludepkgs(excluded):
    refused_by_dnf5(*excluded["dnf5 install -y " + " ".join(FORBIDDEN)], FORBIDDEN, "excluded packages")


def test_excludepkgs_check_mode_changes_nothing(host):
    before = sha256(host, DROPIN)
    rc, recap, output = playbook("converge.yml", EXCLUDE_VARS, check=True)
    assert rc == 0 and recap.get("changed") == 0, output
    assert sha256(host, DROPIN) == before


def test_excludepkgs_state_absent_removes_the_dropin(host):
    rc, recap, output = playbook("converge.yml", dict(EXCLUDE_VARS, package_pin_state="absent"))
    assert rc == 0 and recap.get("changed") == 1, unwrap(output)
    assert not host.file(DROPIN).exists
