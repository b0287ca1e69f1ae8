# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Fleet report: aggregation, thresholds, findings grouped by code and the documented JSON schema.

The fleet (conftest.py) is made of br_netfilter facts gathered from real-host fixture trees.
"""

from __future__ import annotations

import json
import os
import re

import pytest

from ansible_collections.nodeprep.netfilter.plugins.plugin_utils._report import (
    SCHEMA_VERSION,
    ReportError,
    build_report,
    docker_cell,
    findings_by_code,
    host_record,
    iptables_cell,
    ready_cell,
    verdict_line,
)
from ansible_collections.nodeprep.netfilter.plugins.plugin_utils._report_render import render_json
from ansible_collections.nodeprep.netfilter.tests.unit.plugins.plugin_utils.report_fleet import (
    BLOCKED,
    HEALTHY,
    NOW,
    audit_module_result,
)


def _host(report, name):
    return next(record for record in report["hosts"] if record["host"] == name)


def _codes(record):
    return [finding["code"] for finding in record["findings"]]


def test_healthy_node_has_no_finding_and_passes_every_threshold(facts_result):
    healthy = facts_result(HEALTHY)
    for fail_on in ("info", "low", "medium", "high"):
        report = build_report({"n1": healthy}, fail_on=fail_on, generated_at=NOW)
        record = _host(report, "n1")
        assert (record["status"], record["findings"], record["worst_severity"]) == ("ok", [], None)
        assert (report["verdict"], report["failing_hosts"]) == ("pass", [])
    assert record["br_netfilter"]["state"] == "loaded"
    assert record["br_netfilter"]["ready"] is True
    assert record["br_netfilter"]["ready_after_reboot"] is True


def test_each_host_names_its_own_problem(fleet):
    report = build_report(fleet, fail_on="high", generated_at=NOW)
    assert _host(report, "node-healthy")["findings"] == []
    assert "BRIDGE_DIR_FALSE_POSITIVE" in _codes(_host(report, "node-false-positive"))
    assert "BRIDGE_DIR_FALSE_POSITIVE" not in _codes(_host(report, "node-bridge-only"))
    assert _host(report, "node-bridge-only")["worst_finding"] == "BR_NETFILTER_NOT_LOADED"
    assert _host(report, "node-blocked")["worst_finding"] == "BR_NETFILTER_BLOCKED"
    assert _codes(_host(report, "node-down")) == ["HOST_UNREACHABLE"]
    assert _codes(_host(report, "node-nopython")) == ["AUDIT_FAILED"]


def test_blocked_finding_names_the_modprobe_file_and_line_with_remediation(fleet):
    record = _host(build_report(fleet, generated_at=NOW), "node-blocked")
    blocked = record["findings"][0]
    assert blocked["code"] == "BR_NETFILTER_BLOCKED"
    assert blocked["severity"] == "high"
    assert blocked["source"] == "br_netfilter"
    assert re.search(r"/etc/modprobe\.d/\S+:\d+", blocked["message"]), blocked["message"]
    assert "/bin/false" in blocked["message"]
    assert blocked["remediation"].startswith("Remove or comment out that line")
    assert blocked["reference"] == ["https://man7.org/linux/man-pages/man5/modprobe.d.5.html"]
    assert record["br_netfilter"]["state"] == "blocked"


def test_findings_are_sorted_worst_first(fleet):
    record = _host(build_report(fleet, generated_at=NOW), "node-false-positive")
    ranks = [("info", "low", "medium", "high").index(item["severity"]) for item in record["findings"]]
    assert ranks == sorted(ranks, reverse=True)
    assert record["counts"] == {"info": 0, "low": 0, "medium": 4, "high": 3}


def test_unreachable_host_is_listed_with_its_error_and_fails_unless_fail_on_none(fleet):
    strict = build_report(fleet, fail_on="high", generated_at=NOW)
    down = _host(strict, "node-down")
    assert down["status"] == "unreachable"
    assert "No route to host" in down["error"]
    assert down["br_netfilter"] is None
    assert "node-down" in strict["failing_hosts"]
    lenient = build_report(fleet, fail_on="none", generated_at=NOW)
    assert (lenient["verdict"], lenient["failing_hosts"]) == ("pass", [])
    assert _host(lenient, "node-down")["status"] == "unreachable"


def test_failed_module_reports_the_interpreter_error(fleet):
    record = _host(build_report(fleet, generated_at=NOW), "node-nopython")
    assert record["status"] == "failed"
    assert record["error"] == "The module interpreter '/usr/bin/python3' was not found."
    assert "was not found" in record["findings"][0]["message"]


def test_host_in_play_without_result_is_not_run():
    report = build_report({"a": None}, generated_at=NOW, hosts=["a", "b"])
    assert [record["status"] for record in report["hosts"]] == ["not_run", "not_run"]
    assert report["failing_hosts"] == ["a", "b"]


def test_skipped_result_is_not_run_with_the_skip_reason():
    record = host_record("a", {"skipped": True, "skip_reason": "Conditional result was False"})
    assert record["status"] == "not_run"
    assert "Conditional result was False" in record["error"]


@pytest.mark.parametrize("fail_on, failing", [
    ("none", []),
    ("high", []),
    ("medium", ["n1"]),
    ("low", ["n1"]),
    ("info", ["n1"]),
])
def test_fail_on_threshold_counts_findings_at_or_above_it(fail_on, failing):
    facts_only_medium = {"br_netfilter": {"state": "loaded", "ready": True, "problems": [
        {"code": "MODULE_NOT_PERSISTED", "severity": "medium", "message": "m", "remediation": "r", "reference": "x"},
    ]}}
    report = build_report({"n1": facts_only_medium}, fail_on=fail_on, generated_at=NOW)
    assert report["failing_hosts"] == failing
    assert report["verdict"] == ("fail" if failing else "pass")


@pytest.mark.parametrize("fail_on", ["critical", "", None, "HIGH"])
def test_unknown_fail_on_is_rejected(fail_on):
    with pytest.raises(ReportError, match="fail_on must be one of none, info, low, medium, high"):
        build_report({}, fail_on=fail_on)


def test_finding_with_unknown_severity_is_rejected():
    bad = {"findings": [{"code": "X", "severity": "critical", "message": "m"}], "summary": {}}
    with pytest.raises(ReportError, match="unknown severity 'critical'"):
        build_report({"n1": bad})


def test_not_ready_without_a_high_problem_gets_a_synthetic_finding():
    record = host_record("n1", {"br_netfilter": {"state": "loaded", "ready": False, "problems": []}})
    assert _codes(record) == ["NODE_NOT_READY"]


def test_one_audit_module_result_carries_docker_iptables_and_br_netfilter(facts):
    blocked = facts(BLOCKED)
    record = host_record("n1", audit_module_result(blocked))
    assert record["docker"]["version"] == "28.5.2"
    assert record["iptables"]["backend"] == "nf_tables"
    sources = dict((finding["code"], finding["source"]) for finding in record["findings"])
    assert sources["DOCKER_ICC_WITHOUT_BR_NETFILTER"] == "docker_iptables_audit"
    assert sources["BR_NETFILTER_BLOCKED"] == "br_netfilter"
    assert (docker_cell(record), iptables_cell(record)) == ("28.5.2", "1.8.11 (nf_tables) 1.8.11-1")


def test_same_code_and_message_from_both_sources_is_reported_once(facts):
    blocked = facts(BLOCKED)
    result = audit_module_result(blocked)
    result["findings"].append(dict(blocked["problems"][0], evidence={}))
    record = host_record("n1", result)
    assert _codes(record).count("BR_NETFILTER_BLOCKED") == 1


def test_docker_absent_is_shown_as_absent(facts):
    result = audit_module_result(facts(HEALTHY))
    result["summary"].update(docker_present=False, docker_version=None)
    result["findings"] = [{"code": "DOCKER_NOT_INSTALLED", "severity": "info", "message": "No Docker.",
                           "evidence": {}, "remediation": "", "reference": []}]
    report = build_report({"n1": result}, fail_on="low", generated_at=NOW)
    assert docker_cell(_host(report, "n1")) == "absent"
    assert report["verdict"] == "pass"


def test_sysctl_rows_show_live_value_and_the_winning_file_and_line(facts_result):
    record = _host(build_report({"n1": facts_result(HEALTHY)}, generated_at=NOW), "n1")
    rows = dict((row["key"], row) for row in record["br_netfilter"]["sysctls"])
    iptables = rows["net.bridge.bridge-nf-call-iptables"]
    assert (iptables["live"], iptables["after_reboot"]) == (1, 1)
    assert iptables["persisted_file"].startswith("/etc/sysctl.d/")
    assert isinstance(iptables["persisted_line"], int)
    assert list(rows)[:2] == ["net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables"]


def test_summary_counts_hosts_by_status_and_readiness(fleet):
    summary = build_report(fleet, generated_at=NOW)["summary"]
    assert summary["hosts"] == 6
    assert summary["status"] == {"ok": 4, "failed": 1, "unreachable": 1, "not_run": 0}
    assert (summary["ready"], summary["not_ready"]) == (1, 5)
    assert summary["hosts_by_worst_severity"]["none"] == 1
    assert summary["hosts_by_worst_severity"]["high"] == 5


def test_json_report_is_stable_and_round_trips(fleet):
    report = build_report(fleet, generated_at=NOW)
    text = render_json(report)
    assert json.loads(text) == report
    assert text == render_json(build_report(fleet, generated_at=NOW))
    assert report["schema_version"] == SCHEMA_VERSION
    assert [record["host"] for record in report["hosts"]] == sorted(fleet)


SCHEMA_FILE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "docs", "audit-report.schema.json")


def test_report_matches_the_documented_json_schema(fleet, facts):
    import jsonschema

    with open(SCHEMA_FILE) as handle:
        schema = json.load(handle)
    fleet["node-docker"] = audit_module_result(facts(BLOCKED))
    fleet["node-missing"] = None
    report = json.loads(render_json(build_report(fleet, fail_on="medium", generated_at=NOW)))
    jsonschema.validate(report, schema, cls=jsonschema.Draft202012Validator)
    broken = json.loads(render_json(build_report(fleet, generated_at=NOW)))
    broken["hosts"][0]["findings"].append({"code": "X", "severity": "critical"})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema, cls=jsonschema.Draft202012Validator)


def test_audit_without_br_netfilter_facts_is_a_high_finding_not_a_pass(facts):
    result = audit_module_result(None)
    result["br_netfilter_error"] = ("BrNetfilterFactsError: cannot read /proc/sys/kernel/osrelease under root "
                                    "'/srv/x': not a Linux root with /proc mounted")
    report = build_report({"n1": result}, fail_on="high", generated_at=NOW)
    record = _host(report, "n1")
    assert record["status"] == "ok"
    assert record["br_netfilter"] is None
    assert "BR_NETFILTER_UNKNOWN" in _codes(record)
    assert "proc/sys/kernel/osrelease" in record["error"]
    assert report["failing_hosts"] == ["n1"]
    assert ready_cell(record) == "?"


def test_findings_by_code_gives_each_code_once_with_its_hosts_worst_first(fleet, facts):
    fleet["node-blocked-2"] = fleet["node-blocked"]
    fleet["node-docker"] = audit_module_result(facts(BLOCKED))
    report = build_report(fleet, generated_at=NOW)
    groups = findings_by_code(report)
    by_code = dict((group["code"], group) for group in groups)
    assert len(by_code) == len(groups)
    blocked = by_code["BR_NETFILTER_BLOCKED"]
    assert blocked["hosts"] == ["node-blocked", "node-blocked-2", "node-docker"]
    assert blocked["severity"] == "high"
    assert blocked["remediations"][0][1] == 3
    assert blocked["references"] == ["https://man7.org/linux/man-pages/man5/modprobe.d.5.html"]
    assert by_code["HOST_UNREACHABLE"]["hosts"] == ["node-down"]
    assert by_code["HOST_UNREACHABLE"]["example"].endswith("No route to host")
    ranks = [("info", "low", "medium", "high").index(group["severity"]) for group in groups]
    assert ranks == sorted(ranks, reverse=True)
    high_counts = [len(group["hosts"]) for group in groups if group["severity"] == "high"]
    assert high_counts == sorted(high_counts, reverse=True)


def test_a_code_reported_once_per_key_counts_its_host_once_and_keeps_every_message():
    problems = [{"code": "SYSCTL_NOT_LIVE", "severity": "high", "message": "%s is 0" % key,
                 "remediation": "sysctl -w %s=1" % key, "reference": "https://example.org/sysctl"}
                for key in ("net.ipv4.ip_forward", "net.bridge.bridge-nf-call-iptables")]
    report = build_report({"n1": {"br_netfilter": {"state": "loaded", "ready": False, "problems": problems}},
                           "n2": {"br_netfilter": {"state": "loaded", "ready": False, "problems": problems[:1]}}},
                          generated_at=NOW)
    group = findings_by_code(report)[0]
    assert (group["code"], group["hosts"], group["messages"]) == ("SYSCTL_NOT_LIVE", ["n1", "n2"], 2)
    assert group["occurrences"] == [["n1", "net.ipv4.ip_forward is 0"], ["n1", "net.bridge.bridge-nf-call-iptables is 0"],
                                    ["n2", "net.ipv4.ip_forward is 0"]]
    assert group["remediations"] == [["sysctl -w net.ipv4.ip_forward=1", 2],
                                     ["sysctl -w net.bridge.bridge-nf-call-iptables=1", 1]]


def test_verdict_line_names_the_first_failing_hosts_and_counts_the_rest():
    report = build_report(dict(("n%03d" % index, None) for index in range(30)), generated_at=NOW)
    assert verdict_line(report, limit=2).endswith("FAIL (fail_on=high): n000, n001 and 28 more")
    assert verdict_line(report).endswith(", n029")
