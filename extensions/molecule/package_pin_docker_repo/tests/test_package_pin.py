# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""package_pin on a trixie VM with real apt and a local file: repository. Tests run in file order."""

import pytest

from pin_compat_checks import playbook, sha256, unwrap

PREF = "/etc/apt/preferences.d/nodeprep-pins.pref"
CE = "5:%s-1~debian.13~trixie"


def installed(host, name):
    return host.run("dpkg-query -W -f '${Version} ${Status}' %s" % name).stdout.strip()


def policy(host, name):
    """{version: priority} of `apt-cache policy NAME`, plus the candidate and installed versions."""
    out = host.run("LC_ALL=C apt-cache policy %s" % name).stdout
    table, head = {}, {}
    for line in out.splitlines():
        parts = line.split()
        if line.strip().startswith(("Installed:", "Candidate:")):
            head[parts[0].rstrip(":").lower()] = parts[1]
        elif len(parts) == 2 and parts[0][:1].isdigit() and not parts[1].startswith("/"):
            table[parts[0]] = int(parts[1])
        elif len(parts) == 3 and parts[0] == "***":
            table[parts[1]] = int(parts[2])
    return head, table


def test_the_docker_preset_alone_let_apt_pick_28_0_1(host):
    log = host.file("/var/lib/nodeprep-test/apt-install-with-preset.log").content_string
    assert "Setting up docker-ce (5:28.0.1-1~debian.13~trixie)" in log
    assert "28.0.0" not in log


def test_preferences_file_holds_the_pin_first_then_the_forbids(host):
    pref = host.file(PREF)
    assert (pref.user, pref.group, pref.mode) == ("root", "root", 0o644)
    text = pref.content_string
    stanzas = [s for s in text.split("\n\n") if "Pin-Priority" in s]
    assert [s.splitlines()[-1] for s in stanzas] == ["Pin-Priority: 1001"] + ["Pin-Priority: -1"] * 3
    assert "Package: docker-ce docker-ce-cli\nPin: version 5:27.5.1-1~debian.13~trixie\nPin-Priority: 1001" in text
    assert "Package: iptables libxtables12 libxtables-dev libiptc-dev libip4tc2 libip4tc-dev libip6tc2 libip6tc-dev" in text


@pytest.mark.parametrize("name", ["docker-ce", "docker-ce-cli"])
def test_apt_cache_policy_shows_the_pins(host, name):
    head, table = policy(host, name)
    assert head == {"installed": CE % "27.5.1", "candidate": CE % "27.5.1"}
    assert table == {CE % "28.0.1": 500, CE % "28.0.0": -1, CE % "27.5.1": 1001, CE % "27.3.1": -1}


@pytest.mark.parametrize("name", ["docker-ce", "docker-ce-cli"])
def test_27_5_1_is_installed_and_held(host, name):
    assert installed(host, name) == "%s hold ok installed" % (CE % "27.5.1")
    assert host.file("/usr/share/nodeprep-fake/%s.version" % name).content_string.strip() == CE % "27.5.1"


@pytest.fixture(scope="module")
def refusals(host):
    """One run of refusals.yml: each bad request, and Ansible's apt module asked for 27.3.1."""
    before = sha256(host, PREF)
    rc, recap, output = playbook("refusals.yml")
    assert rc == 0, output
    assert sha256(host, PREF) == before
    return recap, unwrap(output)


def test_refusals_change_nothing(refusals):
    recap, output = refusals
    assert recap.get("changed") == 0, output
    assert "NOT REFUSED" not in output


@pytest.mark.parametrize("message", [
    "known-bad docker_version: refusing to pin Docker 27.3.1; it is known bad: 27.3.1 "
    "(DOCKER_27_3_BR_NETFILTER_DETECTION, severity high)",
    "https://github.com/moby/moby/issues/48948",
    "add DOCKER_27_3_BR_NETFILTER_DETECTION to the allowed known issues",
    "unknown preset: Validation of arguments failed",
    "value of package_pin_presets must be one or more of: docker, iptables. Got no match for: kubernetes",
    "malformed docker_version: docker_version '27.5' is malformed: give the upstream Docker release such as 27.5.1",
    "priority below 1000: pin priority must be an integer >= 1000",
    "install is not a boolean: Validation of arguments failed",
    "apt module: no available installation candidate for docker-ce=5:27.3.1-1~debian.13~trixie",
])
def test_each_refusal_is_explained(refusals, message):
    assert message in refusals[1]


def test_27_5_1_is_still_installed_after_the_refusals(host, refusals):
    assert installed(host, "docker-ce") == "%s hold ok installed" % (CE % "27.5.1")


def test_apt_will_not_pull_27_3_1_in_as_a_dependency(host):
    result = host.run("LC_ALL=C apt-get install -y needs-docker-2731")
    assert result.rc == 100
    assert ("needs-docker-2731 : Depends: docker-ce (= 5:27.3.1-1~debian.13~trixie) but 5:27.5.1-1~debian.13~trixie "
            "is to be installed") in result.stdout
    assert "docker-ce:amd64=5:27.3.1-1~debian.13~trixie is not selected for install" in result.stderr
    assert installed(host, "docker-ce").startswith(CE % "27.5.1")


def test_a_hand_typed_docker_ce_27_3_1_fails_on_its_forbidden_cli(host):
    # docker-ce needs docker-ce-cli of the same version, and that one is pinned to -1.
    result = host.run("LC_ALL=C apt-get install -y --allow-downgrades docker-ce=%s" % (CE % "27.3.1"))
    assert result.rc == 100
    assert ("docker-ce : Depends: docker-ce-cli (= 5:27.3.1-1~debian.13~trixie) but 5:27.5.1-1~debian.13~trixie "
            "is to be installed") in result.stdout
    assert "docker-ce-cli:amd64=5:27.3.1-1~debian.13~trixie is not selected for install" in result.stderr


def test_the_hold_stops_hand_typing_both_packages(host):
    result = host.run("LC_ALL=C apt-get install -y --allow-downgrades docker-ce=%s docker-ce-cli=%s"
                      % (CE % "27.3.1", CE % "27.3.1"))
    assert result.rc == 100
    assert "The following held packages will be changed:\n  docker-ce docker-ce-cli\n" in result.stdout
    assert "E: Held packages were changed and -y was used without --allow-change-held-packages." in result.stderr
    assert installed(host, "docker-ce").startswith(CE % "27.5.1")


def test_hand_typed_versions_override_pins_once_the_hold_is_waived(host):
    # The documented limit: `apt-get install pkg=version` bypasses Pin-Priority -1 (simulated here, not done).
    result = host.run("LC_ALL=C apt-get -s install --allow-downgrades --allow-change-held-packages "
                      "docker-ce=%s docker-ce-cli=%s" % (CE % "27.3.1", CE % "27.3.1"))
    assert result.rc == 0
    assert "Inst docker-ce [5:27.5.1-1~debian.13~trixie] (5:27.3.1-1~debian.13~trixie Docker:trixie" in result.stdout


def test_state_absent_removes_the_pins_and_releases_the_holds(host):
    rc, recap, output = playbook("converge.yml", {"package_pin_state": "absent"})
    assert rc == 0, output
    assert not host.file(PREF).exists
    assert installed(host, "docker-ce") == "%s install ok installed" % (CE % "27.5.1")
    head, table = policy(host, "docker-ce")
    assert head["candidate"] == CE % "28.0.1" and table[CE % "28.0.0"] == 500


def test_pinning_again_reports_the_downgrade_and_restores_27_5_1(host):
    assert host.run("apt-get install -y docker-ce").rc == 0
    assert installed(host, "docker-ce").startswith(CE % "28.0.1")
    rc, recap, output = playbook("converge.yml")
    assert rc == 0 and recap.get("changed", 0) >= 3, output
    text = unwrap(output)
    assert "docker-ce is installed at 5:28.0.1-1~debian.13~trixie and will be downgraded to 5:27.5.1-1~debian.13~trixie" in text
    assert installed(host, "docker-ce") == "%s hold ok installed" % (CE % "27.5.1")


STARTS = "/var/lib/nodeprep-test/docker-starts"


def docker_starts(host):
    return len(host.file(STARTS).content_string.splitlines())


def test_replace_forbidden_swaps_28_0_0_for_28_0_1_with_one_docker_restart(host):
    # A forbidden 28.0.0 installed by hand, without pins or holds. Without a policy-rc.d, apt's stand-in for
    # docker-ce's postinst restarts the stand-in docker.service: that is what the role must prevent.
    before_setup = docker_starts(host)
    setup = host.run("rm -f %s && apt-mark unhold docker-ce docker-ce-cli >/dev/null && LC_ALL=C apt-get install -y "
                     "--allow-downgrades docker-ce=%s docker-ce-cli=%s" % (PREF, CE % "28.0.0", CE % "28.0.0"))
    assert setup.rc == 0, setup.stderr
    before = docker_starts(host)
    assert before > before_setup

    rc, recap, output = playbook("replace.yml", check=True)
    assert rc == 0, output
    assert ("docker-ce 5:28.0.0-1~debian.13~trixie is installed and forbidden (DOCKER_28_0_0_ROOTLESS_SLIRP4NETNS): "
            "it is replaced by 5:28.0.1-1~debian.13~trixie (upgrade).") in unwrap(output)
    assert installed(host, "docker-ce").startswith(CE % "28.0.0") and docker_starts(host) == before

    rc, recap, output = playbook("replace.yml")
    assert rc == 0, output
    for name in ("docker-ce", "docker-ce-cli"):
        assert installed(host, name) == "%s install ok installed" % (CE % "28.0.1")
    head, table = policy(host, "docker-ce")
    assert head == {"installed": CE % "28.0.1", "candidate": CE % "28.0.1"} and table[CE % "28.0.0"] == -1
    assert docker_starts(host) == before + 1  # the role's one restart; the package scripts were refused
    assert not host.file("/usr/sbin/policy-rc.d").exists

    rc, recap, output = playbook("replace.yml")
    assert rc == 0 and recap.get("changed") == 0, output
    assert docker_starts(host) == before + 1
