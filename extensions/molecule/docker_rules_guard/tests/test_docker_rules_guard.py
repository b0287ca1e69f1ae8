# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docker_rules_guard across three real reboots with the fault (see molecule.yml): without the guard, with it, and with
the fault removed. The evidence of each boot was kept by files/evidence.py."""

import json

import pytest

STATE = "/var/lib/nodeprep-test"


@pytest.fixture(scope="module")
def evidence(host):
    """The three boots' evidence and the audit of the first, read in one command."""
    out = host.check_output("cat %s/evidence-without-guard.json; echo; cat %s/evidence-with-guard.json; echo; "
                            "cat %s/evidence-healthy.json; echo; cat %s/audit-without-guard.json"
                            % (STATE, STATE, STATE, STATE))
    decoder = json.JSONDecoder()
    items, position = [], 0
    while position < len(out):
        if out[position].isspace():
            position += 1
            continue
        item, position = decoder.raw_decode(out, position)
        items.append(item)
    return dict(zip(("without", "with", "healthy", "audit"), items))


def test_three_distinct_boots(evidence):
    assert len({evidence[phase]["boot_id"] for phase in ("without", "with", "healthy")}) == 3


def test_without_the_guard_the_fault_broke_the_port_and_nothing_restarted_docker(evidence):
    boot = evidence["without"]
    assert "flushing nat DOCKER" in boot["fault_journal"], boot["fault_journal"]
    assert not boot["answered"], boot["probes"]
    assert "DNAT" not in boot["nat_docker"]
    assert boot["guard_journal"].strip() == ""
    assert boot["docker_starts"] == 1, boot


def test_without_the_guard_the_audit_reports_the_missing_dnat_at_high_severity(evidence):
    findings = [item for item in evidence["audit"]["findings"] if item["code"] == "DOCKER_DNAT_MISSING"]
    assert findings, evidence["audit"]["summary"]["codes"]
    assert findings[0]["severity"] == "high"
    assert findings[0]["evidence"]["port"] == 8080
    assert "userland-proxy=false" in findings[0]["message"]


def test_with_the_guard_the_port_answers_after_exactly_one_restart_and_the_journal_says_why(evidence):
    boot = evidence["with"]
    journal = boot["guard_journal"]
    assert "flushing nat DOCKER" in boot["fault_journal"], boot["fault_journal"]
    assert boot["answered"], (boot["probes"], journal)
    assert boot["docker_starts"] == 2, (boot["docker_starts"], journal)
    assert journal.count("restarting docker.service once") == 1, journal
    assert "DOCKER_DNAT_MISSING" in journal and "8080" in journal, journal
    assert "Docker's rules are back" in journal, journal
    assert "DNAT" in boot["nat_docker"] and "--dport 8080" in boot["nat_docker"]
    assert "Result=success" in boot["guard_unit"]
    assert json.loads(boot["guard_state"])["boot_id"] == boot["boot_id"]


def test_without_the_fault_the_guard_does_nothing_and_says_so(evidence):
    boot = evidence["healthy"]
    journal = boot["guard_journal"]
    assert boot["fault_journal"].strip() == ""
    assert boot["answered"], boot["probes"]
    assert boot["docker_starts"] == 1, journal
    assert "healthy:" in journal and "restarting" not in journal, journal
    assert "Result=success" in boot["guard_unit"]
