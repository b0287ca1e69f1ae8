# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The fleet provisioning report: before and after per host, the post-check, and its four renderings."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.nodeprep.netfilter.plugins.plugin_utils._provision_report import (
    SCHEMA,
    SCHEMA_VERSION,
    build_provision_report,
)
from ansible_collections.nodeprep.netfilter.plugins.plugin_utils._provision_report_render import (
    render_html,
    render_json,
    render_markdown,
    render_table,
)
from ansible_collections.nodeprep.netfilter.tests.unit.plugins.plugin_utils.report_fleet import (
    BLOCKED,
    BRIDGE_ONLY,
    HEALTHY,
    NOW,
    UNREACHABLE,
)


def audit_result(facts, findings=(), docker=False, engine_running=None):
    return {"changed": False, "br_netfilter": facts, "findings": list(findings),
            "summary": {"docker_present": docker, "engine_running": engine_running, "rule_checks": "done"}}


def batch(number, *hosts):
    return {"batch": number, "started_at": "2025-01-02T03:04:0%dZ" % number, "hosts": list(hosts)}


@pytest.fixture
def results(facts):
    return {name: audit_result(facts(tree)) for name, tree in
            (("healthy", HEALTHY), ("blocked", BLOCKED), ("bridge_only", BRIDGE_ONLY))}


def build(entries, hosts=None, **options):
    return build_provision_report(hosts or list(entries), entries, generated_at=NOW, **options)


def test_a_fixed_host_passes_and_says_what_was_fixed(results):
    entries = {"node1": {"profile": "k8s_node", "before": results["bridge_only"], "after": results["healthy"],
                         "batch": batch(1, "node1")}}
    report = build(entries)
    assert report["schema"] == SCHEMA and report["schema_version"] == SCHEMA_VERSION
    host = report["hosts"][0]
    assert host["verdict"] == "pass", host["problems"]
    assert "BR_NETFILTER_NOT_LOADED" in [item["code"] for item in host["fixed"]]
    assert host["new"] == [] and host["worse"] is False and host["above_threshold"] is False
    assert "ready now no -> yes" in host["changes"]
    assert any(change.startswith("net.bridge.bridge-nf-call-iptables live absent -> 1") for change in host["changes"])
    assert report["verdict"] == "pass"


def test_a_host_that_stays_above_the_threshold_fails(results):
    entries = {"node1": {"profile": "docker_host", "before": results["blocked"], "after": results["blocked"],
                         "batch": batch(1, "node1")}}
    host = build(entries)["hosts"][0]
    assert host["verdict"] == "fail"
    assert host["problems"] == ["at or above fail_on=high (BR_NETFILTER_BLOCKED)"]
    assert "BR_NETFILTER_BLOCKED" in [item["code"] for item in host["remains"]]


def test_a_host_worse_than_before_fails_even_below_the_threshold(results):
    after = dict(results["healthy"], findings=[{"code": "DOCKER_DNAT_MISSING", "severity": "high", "message": "m"}])
    entries = {"node1": {"before": results["healthy"], "after": after, "batch": batch(1, "node1")}}
    host = build(entries, fail_on="none")["hosts"][0]
    assert host["worse"] is True
    assert host["new"] == [{"code": "DOCKER_DNAT_MISSING", "severity": "high"}]
    assert host["problems"] == ["worse than before"]


def test_errors_failed_gates_and_reboot_mismatches_fail_the_host(results):
    entries = {
        "node1": {"before": results["healthy"], "after": results["healthy"], "batch": batch(1, "node1"),
                  "error": "Load br_netfilter: modprobe failed"},
        "node2": {"before": results["healthy"], "after": results["healthy"], "batch": batch(2, "node2", "node3"),
                  "restart": {"restart": True, "reasons": ["drop-in"], "done": True},
                  "health": {"ok": False, "reasons": ["the Docker engine does not answer"]}},
        "node3": {"before": results["healthy"], "after": results["healthy"], "batch": batch(2, "node2", "node3"),
                  "reboot": {"ok": False, "mismatches": ["net.ipv4.ip_forward was predicted 1 after the reboot, the host shows 0"]}},
    }
    report = build(entries)
    problems = dict((host["host"], host["problems"]) for host in report["hosts"])
    assert problems["node1"] == ["provisioning failed: Load br_netfilter: modprobe failed"]
    assert problems["node2"] == ["health gate after the Docker restart: the Docker engine does not answer"]
    assert problems["node3"] == ["after the reboot: net.ipv4.ip_forward was predicted 1 after the reboot, the host shows 0"]
    assert report["summary"]["docker_restarts"] == 1
    assert report["batches"][1] == {"batch": 2, "hosts": ["node2", "node3"], "started_at": "2025-01-02T03:04:02Z",
                                    "failed": ["node2", "node3"]}


def test_an_unreachable_host_after_provisioning_fails(results):
    entries = {"node1": {"before": results["healthy"], "after": dict(UNREACHABLE), "batch": batch(1, "node1")}}
    host = build(entries)["hosts"][0]
    assert host["verdict"] == "fail"
    assert host["problems"][0].startswith("after audit unreachable:")


def test_untouched_hosts_and_batch_order(results):
    entries = {
        "node1": {"before": results["healthy"]},
        "node2": {"before": results["healthy"], "after": results["healthy"], "batch": batch(2, "node3", "node2")},
        "node3": {"before": results["healthy"], "after": results["healthy"], "batch": batch(2, "node3", "node2")},
        "node4": {"before": results["healthy"], "after": results["healthy"], "batch": batch(1, "node4")},
    }
    report = build(entries, hosts=["node1", "node2", "node3", "node4"])
    assert [host["host"] for host in report["hosts"]] == ["node4", "node3", "node2", "node1"]
    assert report["untouched_hosts"] == ["node1"]
    assert report["verdict"] == "in_progress"
    assert report["hosts"][-1]["after"] is None and report["hosts"][-1]["verdict"] == "untouched"


def test_check_mode_plans_and_fails_only_on_errors(results):
    entries = {"node1": {"before": results["blocked"], "after": results["blocked"], "batch": batch(1, "node1"),
                         "pending": True, "restart": {"restart": True, "reasons": ["drop-in"], "done": False}},
               "node2": {"before": results["healthy"], "after": results["healthy"], "batch": batch(1, "node1", "node2"),
                         "error": "Stop before any change: br_netfilter is blocked"}}
    report = build(entries, check_mode=True)
    assert [host["verdict"] for host in report["hosts"]] == ["planned", "fail"]
    assert report["verdict"] == "fail"
    report = build({"node1": entries["node1"]}, check_mode=True)
    assert report["verdict"] == "dry_run" and report["check_mode"] is True
    assert "restart planned: drop-in" in render_table(report)


def test_renderings_carry_the_same_report(results):
    entries = {"node1": {"profile": "k8s_node", "before": results["bridge_only"], "after": results["healthy"],
                         "batch": batch(1, "node1")},
               "node2": {"profile": "docker_host", "before": results["blocked"], "after": results["blocked"],
                         "batch": batch(2, "node2")},
               "node3": {"profile": "docker_host", "before": results["healthy"]}}
    report = build(entries, hosts=["node1", "node2", "node3"])
    assert json.loads(render_json(report)) == report
    table = render_table(report)
    assert table.splitlines()[0].split() == ["HOST", "BATCH", "PROFILE", "VERDICT", "BEFORE", "AFTER", "FIXED",
                                             "REMAINS", "NEW", "DOCKER"]
    assert "FAIL: node2; rollout stopped, untouched: node3" in table
    markdown = render_markdown(report)
    assert "| 2 | 2025-01-02T03:04:02Z | node2 | node2 |" in markdown
    assert "- Fixed: HIGH `BR_NETFILTER_NOT_LOADED`" in markdown
    html = render_html(report)
    assert "Content-Security-Policy" in html and "<script" not in html
    assert '<tr class="v-untouched" data-host="node3">' in html


def test_host_text_is_inert_in_every_format(results):
    hostile = "evil<script>alert(1)</script>|*x*\x1b[31m"
    entries = {hostile: {"before": results["healthy"], "after": results["healthy"], "batch": batch(1, hostile),
                         "error": "boom\x1b]0;title\x07 <b>bold</b>"}}
    report = build(entries)
    html = render_html(report)
    assert "<script>" not in html and "<b>bold</b>" not in html and "\x1b" not in html
    markdown = render_markdown(report)
    assert "<script>" not in markdown and "\x1b" not in markdown and "\\|" in markdown
    assert "\x1b" not in render_table(report)


SCHEMA_FILE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "docs", "provision-report.schema.json")


def test_report_matches_the_documented_json_schema(results):
    import jsonschema

    with open(SCHEMA_FILE) as handle:
        schema = json.load(handle)
    entries = {"node1": {"profile": "k8s_node", "before": results["bridge_only"], "after": results["healthy"],
                         "batch": batch(1, "node1"), "restart": {"restart": True, "reasons": ["x"], "done": True},
                         "health": {"ok": True, "reasons": []}, "reboot": {"ok": True, "mismatches": []}},
               "node2": {"profile": "docker_host", "before": dict(UNREACHABLE), "after": dict(UNREACHABLE),
                         "batch": batch(2, "node2"), "error": "Pin: unreachable"},
               "node3": {"profile": "docker_host", "before": results["healthy"]},
               "node4": {"profile": "verify_only", "before": None}}
    report = json.loads(render_json(build(entries, hosts=sorted(entries))))
    jsonschema.validate(report, schema, cls=jsonschema.Draft202012Validator)
    report["hosts"][0]["verdict"] = "maybe"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(report, schema, cls=jsonschema.Draft202012Validator)
