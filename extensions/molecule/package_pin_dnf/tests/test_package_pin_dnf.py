# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""package_pin with real dnf 4.23 on a Debian trixie VM and a local file: RPM repository. Tests run in file order.

dnf is slow to start under TCG (about 5-15 s per command), so the dnf commands of each phase run in one SSH call
(``session``) and the tests read their quoted output.
"""

import re

import pytest

from pin_compat_checks import playbook, rpm_versions, sha256, shell_session, unwrap

LOCKLIST = "/etc/dnf/plugins/versionlock.list"
DNF_CONF = "/etc/dnf/dnf.conf"
EL = "3:%s-1.el9"
FORBIDDEN = ("docker-ce-27.3.1", "docker-ce-28.0.0", "iptables-1.8.11-1.el9")
# Versions the lock keeps out although no rule forbids them: everything but the pinned 27.5.1.
LOCKED_OUT = ("docker-ce-28.0.1", "docker-ce-28.1.1")
LOCK_BLOCK = """# BEGIN nodeprep.netfilter.package_pin nodeprep-pins
docker-ce-3:27.5.1-1.el9.*
docker-ce-cli-3:27.5.1-1.el9.*
!docker-ce-27.3.0-*
!docker-ce-27.3.1-*
!docker-ce-cli-27.3.0-*
!docker-ce-cli-27.3.1-*
!moby-engine-27.3.0-*
!moby-engine-27.3.1-*
!docker-ce-28.0.0-*
!docker-ce-cli-28.0.0-*
!moby-engine-28.0.0-*
!iptables-1.8.11-1.el9
# END nodeprep.netfilter.package_pin nodeprep-pins
"""
EXCLUDEPKGS = ("excludepkgs=docker-ce-27.3.0-*,docker-ce-27.3.1-*,docker-ce-cli-27.3.0-*,docker-ce-cli-27.3.1-*,"
               "moby-engine-27.3.0-*,moby-engine-27.3.1-*,docker-ce-28.0.0-*,docker-ce-cli-28.0.0-*,moby-engine-28.0.0-*,"
               "iptables-1.8.11-1.el9")
# Noise of dnf on a Debian host, not about the pins: no system-release package, a plugin needing python3-systemd.
NOISE = re.compile(r"^(Unable to detect release version.*|Failed loading plugin \"system_upgrade\".*|"
                   r"Last metadata expiration check:.*)$")


def session(host, *commands):
    return shell_session(host, commands, NOISE)


def refused_by_dnf(rc, output, specs):
    """dnf's own refusal of every spec (the versionlock plugin's and excludepkgs' excludes read the same)."""
    assert rc == 1, output
    for spec in specs:
        assert "All matches were filtered out by exclude filtering for argument: %s" % spec in output, output
    assert "Error: Unable to find a match: %s" % " ".join(specs) in output, output


# --- method versionlock (converge) -----------------------------------------------------------

def test_unpinned_dnf_took_the_newest_docker(host):
    log = host.file("/var/lib/nodeprep-test/dnf-install-unpinned.log").content_string
    assert re.search(r"^ docker-ce\s+noarch\s+3:28\.1\.1-1\.el9\s+nodeprep-rpm", log, re.M), log
    assert "Installed:\n  docker-ce-3:28.1.1-1.el9.noarch" in log


def test_the_lock_list_holds_the_pin_and_the_excludes(host):
    lock = host.file(LOCKLIST)
    assert (lock.user, lock.group, lock.mode) == ("root", "root", 0o644)
    assert LOCK_BLOCK in lock.content_string


def test_converge_downgraded_28_1_1_to_the_pinned_27_5_1(host):
    assert rpm_versions(host, "docker-ce", "docker-ce-cli") == ["docker-ce %s" % EL % "27.5.1",
                                                                "docker-ce-cli %s" % EL % "27.5.1"]
    assert host.file("/usr/share/nodeprep-fake/docker-ce.version").content_string.strip() == EL % "27.5.1"


@pytest.fixture(scope="module")
def locked(host):
    forbidden = " ".join(FORBIDDEN + LOCKED_OUT)
    return session(host,
                   "dnf versionlock list",
                   "dnf list --showduplicates docker-ce",
                   "dnf upgrade -y docker-ce docker-ce-cli",
                   "dnf install -y " + forbidden,
                   "dnf install -y iptables",
                   "rpm -q docker-ce docker-ce-cli iptables")


def test_dnf_versionlock_lists_the_entries(locked):
    rc, out = locked["dnf versionlock list"]
    assert rc == 0 and LOCK_BLOCK.splitlines()[1:-1] == [line for line in out.splitlines() if line], out


def test_dnf_list_shows_every_version_the_lock_does_not_filter_listing(locked):
    # Measured with dnf 4.23: the versionlock plugin applies to what dnf installs, not to `dnf list`.
    rc, out = locked["dnf list --showduplicates docker-ce"]
    assert rc == 0
    assert re.search(r"^Installed Packages\ndocker-ce\.noarch\s+3:27\.5\.1-1\.el9\s+@nodeprep-rpm", out, re.M), out
    for version in ("27.3.1", "27.5.1", "28.0.0", "28.0.1", "28.1.1"):
        assert re.search(r"^docker-ce\.noarch\s+3:%s-1\.el9\s+nodeprep-rpm" % re.escape(version), out, re.M), out


def test_the_pin_holds_against_the_newer_28_1_1(locked):
    rc, out = locked["dnf upgrade -y docker-ce docker-ce-cli"]
    assert rc == 0 and "Nothing to do." in out, out


def test_every_forbidden_and_every_other_unpinned_version_is_refused_by_dnf(locked):
    refused_by_dnf(*locked["dnf install -y " + " ".join(FORBIDDEN + LOCKED_OUT)], FORBIDDEN + LOCKED_OUT)


def test_dnf_installs_the_good_iptables_past_the_forbidden_newer_one(locked):
    rc, out = locked["dnf install -y iptables"]
    assert rc == 0 and re.search(r"^ iptables\s+noarch\s+1\.8\.10-1\.el9\s+nodeprep-rpm", out, re.M), out
    rc, out = locked["rpm -q docker-ce docker-ce-cli iptables"]
    assert out.split() == ["docker-ce-27.5.1-1.el9.noarch", "docker-ce-cli-27.5.1-1.el9.noarch",
                           "iptables-1.8.10-1.el9.noarch"]


def test_check_mode_changes_nothing(host):
    before = sha256(host, LOCKLIST)
    rc, recap, output = playbook("converge.yml", check=True)
    assert rc == 0 and recap.get("changed") == 0, output
    assert sha256(host, LOCKLIST) == before


def test_state_absent_removes_the_block_and_dnf_offers_28_0_0_again(host):
    rc, recap, output = playbook("converge.yml", {"package_pin_state": "absent"})
    assert rc == 0 and recap.get("changed") == 1, output
    assert "nodeprep.netfilter.package_pin" not in host.file(LOCKLIST).content_string
    rc, out = session(host, "dnf install --assumeno docker-ce-28.0.0")["dnf install --assumeno docker-ce-28.0.0"]
    assert rc == 1 and "Operation aborted." in out, out
    assert re.search(r"^Upgrading:\n docker-ce\s+noarch\s+3:28\.0\.0-1\.el9\s+nodeprep-rpm", out, re.M), out
    # Removing the pins uninstalls nothing.
    assert rpm_versions(host, "docker-ce") == ["docker-ce %s" % EL % "27.5.1"]


# --- method excludepkgs ------------------------------------------------------------------------

EXCLUDE_VARS = {"package_pin_dnf_method": "excludepkgs", "package_pin_pins": [], "package_pin_install": False}


def test_excludepkgs_is_written_into_dnf_conf(host):
    rc, recap, output = playbook("converge.yml", EXCLUDE_VARS)
    assert rc == 0 and recap.get("changed") == 1, output
    conf = host.file(DNF_CONF).content_string
    assert "[main]\n" + EXCLUDEPKGS + "\n" in conf, conf


@pytest.fixture(scope="module")
def excluded(host):
    return session(host,
                   "dnf list --showduplicates docker-ce iptables",
                   "dnf install -y " + " ".join(FORBIDDEN))


def test_dnf_list_no_longer_shows_the_excluded_versions(excluded):
    rc, out = excluded["dnf list --showduplicates docker-ce iptables"]
    assert rc == 0
    listed = re.findall(r"^(docker-ce|iptables)\.noarch\s+(\S+)\s+@?nodeprep-rpm", out, re.M)
    assert sorted(set(listed)) == sorted([("docker-ce", EL % v) for v in ("27.5.1", "28.0.1", "28.1.1")]
                                         + [("iptables", "1.8.10-1.el9")]), out


def test_every_forbidden_version_is_refused_by_dnf_through_excludepkgs(excluded):
    refused_by_dnf(*excluded["dnf install -y " + " ".join(FORBIDDEN)], FORBIDDEN)


def test_excludepkgs_check_mode_changes_nothing(host):
    before = sha256(host, DNF_CONF)
    rc, recap, output = playbook("converge.yml", EXCLUDE_VARS, check=True)
    assert rc == 0 and recap.get("changed") == 0, output
    assert sha256(host, DNF_CONF) == before


def test_excludepkgs_state_absent_removes_the_line(host):
    rc, recap, output = playbook("converge.yml", dict(EXCLUDE_VARS, package_pin_state="absent"))
    assert rc == 0 and recap.get("changed") == 1, unwrap(output)
    assert "excludepkgs" not in host.file(DNF_CONF).content_string
