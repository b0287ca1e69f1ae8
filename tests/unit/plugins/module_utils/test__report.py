# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Fleet report: aggregation, thresholds and the three renderers.

Host results are made the way the audit playbook makes them: br_netfilter facts gathered from the
real-host fixture trees (tests/unit/fixtures/br_netfilter), wrapped like a registered task result.
"""

from __future__ import annotations

import copy
import json
import os
import re

import pytest

from ansible_collections.nodeprep.netfilter.plugins.module_utils._br_netfilter import gather_br_netfilter_facts
from ansible_collections.nodeprep.netfilter.plugins.module_utils._report import (
    SCHEMA_VERSION,
    ReportError,
    build_report,
    host_record,
    ready_cell,
    render_html,
    render_json,
    render_markdown,
    render_table,
)

HEALTHY = "derived-trixie-6.12-persisted-k8s"
FALSE_POSITIVE = "derived-trixie-6.12-false-positive"
BRIDGE_ONLY = "trixie-6.12-state-b-bridge-only"
BLOCKED = "derived-trixie-6.12-blocked-install-false"
NOW = "2025-01-02T03:04:05Z"

UNREACHABLE = {
    "unreachable": True, "changed": False,
    "msg": "Task failed: Failed to connect to the host via ssh: ssh: connect to host 10.9.9.9 port 22: No route to host",
}
FAILED = {
    "failed": True, "changed": False, "rc": 127, "module_stdout": "",
    "module_stderr": "/bin/sh: 1: /usr/bin/python3: not found\n",
    "msg": "The module interpreter '/usr/bin/python3' was not found.",
}


@pytest.fixture
def facts(tree):
    """facts(fixture) -> br_netfilter facts gathered from that fixture tree (each tree built once per test)."""
    cache = {}

    def _facts(name):
        if name not in cache:
            cache[name] = gather_br_netfilter_facts(tree(name))
        return copy.deepcopy(cache[name])
    return _facts


@pytest.fixture
def facts_result(facts):
    """facts_result(fixture) -> the result br_netfilter_facts registers for that tree."""
    def _result(name):
        return {"changed": False, "ansible_facts": {"br_netfilter": facts(name)}}
    return _result


@pytest.fixture
def fleet(facts_result):
    return {
        "node-healthy": facts_result(HEALTHY),
        "node-false-positive": facts_result(FALSE_POSITIVE),
        "node-bridge-only": facts_result(BRIDGE_ONLY),
        "node-blocked": facts_result(BLOCKED),
        "node-down": dict(UNREACHABLE),
        "node-nopython": dict(FAILED),
    }


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


def _audit_module_result(facts):
    """Shape of nodeprep.netfilter.docker_iptables_audit's result (see _docker_audit.summarize)."""
    return {
        "changed": False,
        "br_netfilter": facts,
        "findings": [
            {"code": "DOCKER_ICC_WITHOUT_BR_NETFILTER", "severity": "high",
             "message": "icc=false needs br_netfilter", "evidence": {"icc": False},
             "remediation": "Load br_netfilter.", "reference": ["https://github.com/moby/moby/pull/49306"]},
            {"code": "DEBIAN_IPTABLES_1_8_11_1", "severity": "medium", "message": "iptables 1.8.11-1",
             "evidence": {}, "remediation": "Upgrade to 1.8.11-2.", "reference": ["https://github.com/moby/moby/issues/49667"]},
        ],
        "summary": {
            "docker_present": True, "docker_version": "28.5.2", "docker_version_source": "engine",
            "docker_package": "docker.io", "docker_package_version": "28.5.2+dfsg4-5", "engine_running": True,
            "rootless_users": [], "settings": {"icc": False}, "ignore_br_netfilter_error": False,
            "iptables_binary": "/usr/sbin/iptables", "iptables_version": "1.8.11", "iptables_backend": "nf_tables",
            "iptables_package_version": "1.8.11-1", "backends_read": ["nf_tables"], "rule_checks": "done",
        },
    }


def test_one_audit_module_result_carries_docker_iptables_and_br_netfilter(facts):
    blocked = facts(BLOCKED)
    record = host_record("n1", _audit_module_result(blocked))
    assert record["docker"]["version"] == "28.5.2"
    assert record["iptables"]["backend"] == "nf_tables"
    sources = dict((finding["code"], finding["source"]) for finding in record["findings"])
    assert sources["DOCKER_ICC_WITHOUT_BR_NETFILTER"] == "docker_iptables_audit"
    assert sources["BR_NETFILTER_BLOCKED"] == "br_netfilter"
    table = render_table(build_report({"n1": _audit_module_result(blocked)}, generated_at=NOW))
    assert "28.5.2" in table and "1.8.11 (nf_tables) 1.8.11-1" in table


def test_same_code_and_message_from_both_sources_is_reported_once(facts):
    blocked = facts(BLOCKED)
    result = _audit_module_result(blocked)
    result["findings"].append(dict(blocked["problems"][0], evidence={}))
    record = host_record("n1", result)
    assert _codes(record).count("BR_NETFILTER_BLOCKED") == 1


def test_docker_absent_is_shown_as_absent(facts):
    result = _audit_module_result(facts(HEALTHY))
    result["summary"].update(docker_present=False, docker_version=None)
    result["findings"] = [{"code": "DOCKER_NOT_INSTALLED", "severity": "info", "message": "No Docker.",
                           "evidence": {}, "remediation": "", "reference": []}]
    report = build_report({"n1": result}, fail_on="low", generated_at=NOW)
    assert "absent" in render_table(report)
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


def test_table_has_one_row_per_host_and_a_verdict_line(fleet):
    text = render_table(build_report(fleet, generated_at=NOW), details=False)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["HOST", "STATUS", "BR_NETFILTER"]
    rows = dict((line.split()[0], line) for line in lines[2:8])
    assert set(rows) == set(fleet)
    assert "+false-positive" in rows["node-false-positive"]
    assert "unreachable" in rows["node-down"]
    assert lines[-1].startswith("6 hosts, 1 ready, 5 not ready, 1 unreachable, 1 failed. FAIL (fail_on=high)")


def test_table_details_give_remediation_and_sysctl_files(facts_result):
    text = render_table(build_report({"n1": facts_result(HEALTHY), "n2": facts_result(BRIDGE_ONLY)},
                                     generated_at=NOW))
    assert re.search(r"net\.bridge\.bridge-nf-call-iptables: live 1, boot 1 \(1 @ /etc/sysctl\.d/\S+:\d+\)", text)
    assert "fix: modprobe br_netfilter" in text


def test_markdown_escapes_table_cells_and_lists_every_finding(fleet):
    fleet["we|rd"] = dict(UNREACHABLE, msg="pipe | in message")
    report = build_report(fleet, generated_at=NOW)
    text = render_markdown(report)
    assert "| we\\|rd | unreachable |" in text
    for record in report["hosts"]:
        for finding in record["findings"]:
            assert "`%s`" % finding["code"] in text
    assert "Remediation: Remove or comment out that line" in text


def test_html_is_self_contained_and_escapes_host_data(fleet):
    fleet["<script>alert(1)</script>"] = dict(UNREACHABLE, msg="</script><img src=x onerror=alert(1)>")
    page = render_html(build_report(fleet, generated_at=NOW))
    assert "<script>alert(1)" not in page
    assert "<img src=x" not in page
    assert not re.search(r"<(link|img|iframe)\b", page)
    # Nothing is loaded from anywhere: only <a> links (references) carry a URL.
    assert not re.search(r"<(?!a\s)[a-z]+\b[^>]*\s(src|href)=", page)
    assert "@import" not in page and "url(" not in page
    assert page.count("<script") == 2  # the JSON data block and the inline script
    data = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S).group(1)
    assert json.loads(data)["summary"]["hosts"] == 7


def test_html_has_a_row_per_host_and_per_finding_with_severity_attributes(fleet):
    report = build_report(fleet, generated_at=NOW)
    page = render_html(report)
    host_rows = re.findall(r'<tr class="status-(\w+)" data-host="([^"]+)"', page)
    assert sorted(host for _status, host in host_rows) == sorted(fleet)
    assert ("unreachable", "node-down") in host_rows
    finding_rows = re.findall(r'<tr data-host="[^"]+" data-severity="(\w+)"', page)
    assert len(finding_rows) == sum(len(record["findings"]) for record in report["hosts"])
    assert 'class="sev-filter" value="high"' in page


SCHEMA_FILE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "docs", "audit-report.schema.json")


def test_report_matches_the_documented_json_schema(fleet, facts):
    import jsonschema

    with open(SCHEMA_FILE) as handle:
        schema = json.load(handle)
    fleet["node-docker"] = _audit_module_result(facts(BLOCKED))
    fleet["node-missing"] = None
    report = json.loads(render_json(build_report(fleet, fail_on="medium", generated_at=NOW)))
    jsonschema.validate(report, schema, cls=jsonschema.Draft202012Validator)
    broken = json.loads(render_json(build_report(fleet, generated_at=NOW)))
    broken["hosts"][0]["findings"].append({"code": "X", "severity": "critical"})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema, cls=jsonschema.Draft202012Validator)


def test_audit_without_br_netfilter_facts_is_a_high_finding_not_a_pass(facts):
    result = _audit_module_result(None)
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
