# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The Docker rules guard: its verdict on real dockerd 28.5.2 dumps (through the audit it shares with
docker_iptables_audit), the restart decision, the state file, and whole runs with a fake host."""

from __future__ import annotations

import json

import pytest

from ansible_collections.nodeprep.netfilter.plugins.module_utils._docker_audit import audit
from ansible_collections.nodeprep.netfilter.plugins.module_utils._docker_rules_guard import (
    EXIT_OK,
    EXIT_RULES_STILL_MISSING,
    RESTART_CODES,
    decide,
    parse_args,
    parse_state,
    run_guard,
    state_text,
    verdict,
    wait_for_engine,
)
from ansible_collections.nodeprep.netfilter.plugins.module_utils._known_issues import KNOWN_ISSUES
from ansible_collections.nodeprep.netfilter.tests.unit.plugins.module_utils.test__docker_audit import (
    D28_PUBLISH,
    br,
    collected,
    running_engine,
)

D28_DNAT_REMOVED = "derived-docker-28.5.2-trixie.dump3-dnat-8080-removed"
D28_NO_CT = "derived-docker-28.5.2-trixie.dump3-no-DOCKER-CT-chain"
WEB = [{"Names": ["/web"], "Ports": [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}],
        "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.2"}}}}]
BOOT = "6f1c1a4e-0c57-4d59-9d3b-2f1f2c6b7a10"
OTHER_BOOT = "0b9e2d55-38a1-4f0e-8f44-1d6e0f1f6a77"


def audited(dump, daemon=None):
    return audit(collected(nft=dump, daemon=dict({"icc": False}, **(daemon or {})), br_facts=br("loaded"),
                           engine=running_engine("28.5.2", containers=WEB)))


# --- verdict: the audit's rule findings ----------------------------------------------------------------------------

def test_every_restart_code_is_a_rules_finding_of_the_audit():
    rows = dict((row["code"], row) for row in KNOWN_ISSUES)
    assert set(RESTART_CODES) <= set(rows)
    assert all(rows[code]["kind"] == "rules" for code in RESTART_CODES)


def test_healthy_docker_28_with_a_published_port_is_healthy():
    found = verdict(audited(D28_PUBLISH, {"userland-proxy": False}))
    assert found["missing"] == [] and found["skipped"] is None
    assert "1 published port(s) (IPv4)" in found["checked"]
    assert "IPv6 not checked (unknown whether a Docker network has IPv6" in found["checked"]


def test_a_removed_dnat_with_userland_proxy_off_is_missing_at_high_severity():
    found = verdict(audited(D28_DNAT_REMOVED, {"userland-proxy": False}))
    assert [(item["code"], item["severity"], item["evidence"]["port"]) for item in found["missing"]] == [
        ("DOCKER_DNAT_MISSING", "high", 8080)]


def test_a_removed_dnat_behind_docker_proxy_is_missing_too():
    found = verdict(audited(D28_DNAT_REMOVED))
    assert [item["code"] for item in found["missing"]] == ["DOCKER_DNAT_MISSING_PROXIED"]


def test_a_missing_chain_is_missing():
    missing = verdict(audited(D28_NO_CT))["missing"]
    assert [(item["code"], item["evidence"]["chain"]) for item in missing] == [("DOCKER_CHAIN_MISSING", "DOCKER-CT")]


def test_with_iptables_false_nothing_is_checked():
    found = verdict(audited(D28_DNAT_REMOVED, {"iptables": False}))
    assert found["missing"] == [] and found["skipped"] == "dockerd runs with iptables=false"


# --- decide -------------------------------------------------------------------------------------------------------

MISSING = {"missing": [{"code": "DOCKER_DNAT_MISSING", "message": "No iptables DNAT rule for host port 8080"}],
           "checked": "x", "skipped": None}
HEALTHY = {"missing": [], "checked": "Docker's chains and jumps, 1 published port(s) (IPv4)", "skipped": None}


@pytest.mark.parametrize("found, state, now, allowed, action", [
    (HEALTHY, None, 1000.0, True, "none"),
    ({"missing": [], "checked": "x", "skipped": "Docker not installed"}, None, 1000.0, True, "none"),
    (MISSING, None, 1000.0, True, "restart"),
    (MISSING, {"boot_id": BOOT, "time": 0.0, "why": ""}, 100000.0, True, "hold"),
    (MISSING, {"boot_id": OTHER_BOOT, "time": 900.0, "why": ""}, 1000.0, True, "hold"),
    (MISSING, {"boot_id": OTHER_BOOT, "time": 0.0, "why": ""}, 1000.0, True, "restart"),
    (MISSING, {"boot_id": OTHER_BOOT, "time": 5000.0, "why": ""}, 1000.0, True, "restart"),  # clock went back
    (MISSING, None, 1000.0, False, "report"),
], ids=["healthy", "not-checked", "missing", "same-boot", "too-soon", "other-boot-later", "clock-back", "no-restarts"])
def test_decision_table(found, state, now, allowed, action):
    assert decide(found, state, BOOT, now, min_interval=600, restart_allowed=allowed)["action"] == action


def test_the_reason_names_the_finding_and_the_rate_limit():
    assert "DOCKER_DNAT_MISSING: No iptables DNAT rule for host port 8080" in decide(MISSING, None, BOOT, 1.0)["reason"]
    held = decide(MISSING, {"boot_id": BOOT, "time": 0.0, "why": ""}, BOOT, 1.0)["reason"]
    assert "already restarted once in this boot, not again" in held
    assert decide(HEALTHY, None, BOOT, 1.0)["reason"].startswith("healthy: Docker's chains and jumps")


# --- state file ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, state, problem", [
    (None, None, None),
    (state_text(BOOT, 12.5, "why"), {"boot_id": BOOT, "time": 12.5, "why": "why"}, None),
    ("{not json", None, "state file unreadable"),
    ('{"boot_id": 1, "time": 2}', None, "state file holds no boot_id and time"),
    ('{"boot_id": "b", "time": true}', None, "state file holds no boot_id and time"),
    ("[]", None, "state file holds no boot_id and time"),
], ids=["absent", "written", "corrupt", "boot-id-not-text", "time-bool", "not-object"])
def test_parse_state(text, state, problem):
    got_state, got_problem = parse_state(text)
    assert got_state == state
    assert (got_problem or "").startswith(problem or "")


# --- whole runs against a fake host -------------------------------------------------------------------------------

class FakeHost:
    """The engine, the rules (a queue of audit results, the last repeated), the state file and a clock."""

    def __init__(self, probes, engine_after=0.0, restart_ok=True, state=None):
        self.now = 0.0
        self.probes = list(probes)
        self.engine_after = engine_after
        self.restart_ok = restart_ok
        self.state = state
        self.restarts = 0
        self.lines = []
        self.state_at_restart = None

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds

    def ping(self):
        if self.now < self.engine_after:
            raise OSError("cannot connect to /var/run/docker.sock: Connection refused")

    def probe(self):
        return self.probes.pop(0) if len(self.probes) > 1 else self.probes[0]

    def restart(self):
        self.restarts += 1
        self.state_at_restart = self.state
        return self.restart_ok, "ok" if self.restart_ok else "Job for docker.service failed"

    def write_state(self, text):
        self.state = text

    def run(self, boot_id=BOOT, **overrides):
        options, error = parse_args([])
        assert error is None
        options.update(overrides)
        return run_guard(options, probe=self.probe, restart=self.restart, ping=self.ping,
                         read_state=lambda: self.state, write_state=self.write_state, boot_id=boot_id,
                         say=self.lines.append, clock=self.clock, wall=lambda: 1e9 + self.now, sleep=self.sleep)


HEALTHY_AUDIT = audited(D28_PUBLISH, {"userland-proxy": False})
BROKEN_AUDIT = audited(D28_DNAT_REMOVED, {"userland-proxy": False})


def test_a_healthy_host_is_left_alone_and_the_journal_says_so():
    host = FakeHost([HEALTHY_AUDIT], engine_after=7.0)
    assert host.run() == EXIT_OK
    assert host.restarts == 0 and host.state is None
    assert host.lines[0].startswith("the Docker engine answered after 8.0 s")
    assert host.lines[-1].startswith("healthy: Docker's chains and jumps, 1 published port(s) (IPv4)")


def test_missing_rules_restart_docker_once_and_the_journal_says_why_and_that_they_are_back():
    host = FakeHost([BROKEN_AUDIT, BROKEN_AUDIT, HEALTHY_AUDIT])
    assert host.run() == EXIT_OK
    assert host.restarts == 1
    restarting = [line for line in host.lines if line.startswith("restarting docker.service once")]
    assert len(restarting) == 1 and "DOCKER_DNAT_MISSING" in restarting[0] and "host port 8080" in restarting[0]
    assert host.lines[-1].startswith("docker.service restarted; Docker's rules are back")
    assert json.loads(host.state_at_restart)["boot_id"] == BOOT  # written before the restart


def test_rules_still_missing_after_the_restart_fail_the_unit_without_a_second_restart():
    host = FakeHost([BROKEN_AUDIT])
    assert host.run(settle_timeout=10.0) == EXIT_RULES_STILL_MISSING
    assert host.restarts == 1
    assert "not restarting again in this boot" in host.lines[-1]
    again = FakeHost([BROKEN_AUDIT], state=host.state)
    assert again.run() == EXIT_RULES_STILL_MISSING
    assert again.restarts == 0 and "already restarted once in this boot" in again.lines[-1]


def test_the_next_boot_may_restart_again_after_the_minimum_interval():
    first = FakeHost([BROKEN_AUDIT, HEALTHY_AUDIT])
    first.run()
    soon = FakeHost([BROKEN_AUDIT], state=first.state)
    soon.now = 100.0
    assert soon.run(boot_id=OTHER_BOOT) == EXIT_RULES_STILL_MISSING and soon.restarts == 0
    later = FakeHost([BROKEN_AUDIT, HEALTHY_AUDIT], state=first.state)
    later.now = 700.0
    assert later.run(boot_id=OTHER_BOOT) == EXIT_OK and later.restarts == 1


def test_a_failed_restart_is_reported():
    host = FakeHost([BROKEN_AUDIT], restart_ok=False)
    assert host.run() == EXIT_RULES_STILL_MISSING
    assert host.lines[-1] == "the restart of docker.service failed: Job for docker.service failed"


def test_dry_run_only_reports():
    host = FakeHost([BROKEN_AUDIT])
    assert host.run(dry_run=True) == EXIT_RULES_STILL_MISSING
    assert host.restarts == 0 and host.state is None
    assert "restarts are not allowed, docker.service left alone" in host.lines[-1]


def test_an_engine_that_never_answers_is_not_checked_and_not_restarted():
    host = FakeHost([BROKEN_AUDIT], engine_after=1e9)
    assert host.run(engine_timeout=30.0) == EXIT_OK
    assert host.restarts == 0
    assert host.lines == ["the Docker engine did not answer within 30 s (cannot connect to /var/run/docker.sock: "
                          "Connection refused); nothing checked, nothing done"]
    assert host.now <= 30.0


def test_wait_for_engine_is_bounded():
    host = FakeHost([HEALTHY_AUDIT], engine_after=1e9)
    answered, seconds, error = wait_for_engine(host.ping, 5.0, host.clock, host.sleep, poll=2.0)
    assert (answered, seconds) == (False, 4.0) and "Connection refused" in error


# --- options --------------------------------------------------------------------------------------------------------

def test_parse_args_reads_every_option():
    options, error = parse_args(["--dry-run", "--engine-timeout", "30", "--settle-timeout", "5", "--restart-timeout",
                                 "90", "--min-interval", "0", "--socket", "/run/docker.sock", "--state-file", "/tmp/s"])
    assert error is None
    assert (options["dry_run"], options["engine_timeout"], options["settle_timeout"], options["restart_timeout"],
            options["min_interval"], options["socket"], options["state_file"]) == (
        True, 30.0, 5.0, 90.0, 0.0, "/run/docker.sock", "/tmp/s")


@pytest.mark.parametrize("argv, error", [
    (["--bogus"], "unknown option '--bogus'"),
    (["--engine-timeout"], "--engine-timeout needs a value"),
    (["--engine-timeout", "soon"], "--engine-timeout needs a number of seconds"),
    (["--min-interval", "-1"], "--min-interval needs a finite number of seconds >= 0"),
    (["--min-interval", "nan"], "--min-interval needs a finite number of seconds >= 0"),
    (["--socket", "docker.sock"], "--socket needs an absolute path"),
])
def test_parse_args_refuses_bad_input(argv, error):
    options, got = parse_args(argv)
    assert options is None and got.startswith(error)
