# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The report's terminal table, Markdown and HTML: layout, and target text that tries to be markup.

The hostile values are what a compromised or misconfigured target could hand back: a host name or a module
message holding HTML, Markdown, table separators, newlines and terminal escape sequences.
"""

from __future__ import annotations

import html.parser
import json
import re

import pytest

from ansible_collections.nodeprep.netfilter.plugins.plugin_utils._report import build_report
from ansible_collections.nodeprep.netfilter.plugins.plugin_utils._report_render import (
    md_code,
    md_text,
    render_html,
    render_markdown,
    render_table,
    terminal_text,
)
from ansible_collections.nodeprep.netfilter.tests.unit.plugins.plugin_utils.report_fleet import (
    BRIDGE_ONLY,
    HEALTHY,
    NOW,
    UNREACHABLE,
)

HOSTILE_MESSAGE = "<script>alert(1)</script> | x"
HOSTILE_HOST = "we|rd`host`\n# pwned"
HOSTILE_PATH = "/etc/sysctl.d/a|b`c*d*.conf"


@pytest.fixture
def hostile(fleet):
    """The fleet plus a host whose name, finding message and sysctl file path all carry markup."""
    fleet[HOSTILE_HOST] = {"br_netfilter": {
        "state": "loaded", "ready": False,
        "live": {"net.ipv4.ip_forward": 0},
        "persisted": {"net.ipv4.ip_forward": {"value": "1", "file": HOSTILE_PATH, "line": 3}},
        "problems": [{"code": "SYSCTL_NOT_LIVE", "severity": "high", "message": HOSTILE_MESSAGE,
                      "remediation": "run *this* [now](javascript:alert(1))", "reference": "javascript:alert(1)"}],
    }}
    fleet["esc"] = dict(UNREACHABLE, msg="boom\r\x1b]0;pwned\x07\x1b[2J gone")
    return build_report(fleet, generated_at=NOW)


# ------------------------------------------------------------------ terminal

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


def test_table_shows_control_characters_as_text_and_keeps_one_line_per_host(hostile):
    text = render_table(hostile)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", text)
    assert "boom \\x1b]0;pwned\\x07\\x1b[2J gone" in text
    rows = text.split("\n\n")[0].splitlines()[2:]
    assert len(rows) == len(hostile["hosts"])
    assert "we|rd`host` # pwned  ok" in text


@pytest.mark.parametrize("raw, shown", [
    ("plain text", "plain text"),
    ("a\r\nb\tc", "a  b c"),
    ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
    ("back\x08space\x00", "back\\x08space\\x00"),
    ("\u202egnp.exe", "\\u202egnp.exe"),
    ("\x9b31m", "\\x9b31m"),
])
def test_terminal_text_turns_controls_into_visible_text(raw, shown):
    assert terminal_text(raw) == shown
    assert terminal_text(terminal_text(raw)) == shown


# ------------------------------------------------------------------ Markdown

@pytest.mark.parametrize("raw, markdown", [
    ("br_netfilter fail_on", "br_netfilter fail_on"),
    ("a|b", "a\\|b"),
    ("*bold* _em_", "\\*bold\\* \\_em\\_"),
    ("`code`", "\\`code\\`"),
    ("[text](http://x)", "\\[text\\](http://x)"),
    ("<b>&amp;", "\\<b\\>\\&amp;"),
    ("# heading", "\\# heading"),
    ("- item", "\\- item"),
    ("+ item", "\\+ item"),
    ("1. item", "1\\. item"),
    ("12) item", "12\\) item"),
    ("===", "\\==="),
    ("~~gone~~ $x$", "\\~\\~gone\\~\\~ \\$x\\$"),
    ("two\nlines\r\n| cell", "two lines \\| cell"),
    ("trailing \\", "trailing \\\\"),
])
def test_md_text_escapes_what_would_be_markup(raw, markdown):
    assert md_text(raw) == markdown


@pytest.mark.parametrize("raw, table, markdown", [
    ("BR_NETFILTER_BLOCKED", False, "`BR_NETFILTER_BLOCKED`"),
    ("a`b", False, "``a`b``"),
    ("`x``", False, "``` `x`` ```"),
    ("/etc/a|b.conf", True, "`/etc/a\\|b.conf`"),
    ("/etc/a|b.conf", False, "`/etc/a|b.conf`"),
    ("two\nlines", False, "`two lines`"),
])
def test_md_code_fence_outgrows_every_backtick_run(raw, table, markdown):
    assert md_code(raw, table=table) == markdown


def _cells(line):
    """Cells of a GFM table row: split on the pipes that no backslash escapes."""
    cells, current, index = [], "", 0
    while index < len(line):
        char = line[index]
        if char == "\\" and index + 1 < len(line):
            current += line[index:index + 2]
            index += 2
            continue
        if char == "|":
            cells.append(current)
            current = ""
        else:
            current += char
        index += 1
    cells.append(current)
    return cells[1:-1]


def test_markdown_escapes_table_cells_and_lists_every_finding(fleet):
    fleet["we|rd"] = dict(UNREACHABLE, msg="pipe | in message")
    report = build_report(fleet, generated_at=NOW)
    text = render_markdown(report)
    assert "| we\\|rd | unreachable |" in text
    for record in report["hosts"]:
        for finding in record["findings"]:
            assert "`%s`" % finding["code"] in text
    assert "Remediation: Remove or comment out that line" in text


def test_markdown_leads_with_the_summary_then_findings_by_code_then_hosts(fleet):
    text = render_markdown(build_report(fleet, generated_at=NOW))
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings[:3] == ["# nodeprep.netfilter fleet audit", "## Summary", "## Findings by code"]
    hosts_at = headings.index("## Hosts")
    assert all(line.startswith("### `") for line in headings[3:hosts_at])
    assert headings[hosts_at + 1:] == ["### %s" % host for host in sorted(fleet)]
    assert "- Status: ok 4, failed 1, unreachable 1, not run 0." in text
    assert "- Worst severity: high 5, medium 0, low 0, info 0, none 1." in text
    blocked = text[text.index("### `BR_NETFILTER_BLOCKED`"):]
    assert blocked.split("\n\n")[1] == "**high** on 1 host: node-blocked."
    # Remediation once, in the code's section, not again under each host.
    assert text.count("Remediation: Remove or comment out that line") == 1


def test_markdown_keeps_hostile_target_text_inert(hostile):
    text = render_markdown(hostile)
    lines = text.splitlines()
    tables = 0
    for index, line in enumerate(lines):
        if line.startswith("|---"):
            tables += 1
            end = next(i for i in range(index + 1, len(lines) + 1) if i == len(lines) or not lines[i].startswith("|"))
            width = len(_cells(line))
            assert [len(_cells(row)) for row in lines[index - 1:end]] == [width] * (end - index + 1)
    audited = [record for record in hostile["hosts"] if record["br_netfilter"] and record["br_netfilter"]["sysctls"]]
    assert tables == 2 + len(audited)  # findings by code, hosts, then a sysctl table per audited host
    unescaped_lt = re.findall(r"(?<!\\)<(?!https?://)", text)
    assert unescaped_lt == []
    assert [line for line in lines if line.startswith("#") and "pwned" in line] == \
        ["### we\\|rd\\`host\\` \\# pwned"]
    assert "\\<script\\>alert(1)\\</script\\> \\| x" in text
    assert "run \\*this\\* \\[now\\](javascript:alert(1))" in text
    assert "- Reference: javascript:alert(1)" in text
    assert "``/etc/sysctl.d/a\\|b`c*d*.conf`` line 3 (= 1) |" in text
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", text)


# ------------------------------------------------------------------ HTML

class _Page(html.parser.HTMLParser):
    """Start tags with their attributes, the text of each script element, and all other text."""

    def __init__(self, page):
        super().__init__(convert_charrefs=True)
        self.tags, self.scripts, self.text = [], [], []
        self._in_script = None
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script = dict(attrs).get("id") or ""
            self.scripts.append([self._in_script, ""])

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = None

    def handle_data(self, data):
        if self._in_script is not None:
            self.scripts[-1][1] += data
        else:
            self.text.append(data)

    def script(self, ident):
        return next(text for name, text in self.scripts if name == ident)

    def all(self, tag, **attrs):
        return [found for name, found in self.tags
                if name == tag and all(found.get(key) == value for key, value in attrs.items())]


def test_html_is_self_contained_and_escapes_host_data(fleet):
    fleet["<script>alert(1)</script>"] = dict(UNREACHABLE, msg="</script><img src=x onerror=alert(1)>")
    page = render_html(build_report(fleet, generated_at=NOW))
    parsed = _Page(page)
    assert "<script>alert(1)" not in page
    assert "<img src=x" not in page
    assert parsed.all("img") == [] and parsed.all("link") == [] and parsed.all("iframe") == []
    # Nothing is loaded from anywhere: only <a> links (references) carry a URL.
    assert [tag for tag, attrs in parsed.tags if tag != "a" and ("src" in attrs or "href" in attrs)] == []
    assert "@import" not in page and "url(" not in page
    assert [ident for ident, _text in parsed.scripts] == ["report-view", "report-data", ""]
    assert json.loads(parsed.script("report-data"))["summary"]["hosts"] == 7
    assert "<script>alert(1)</script>" in [host["name"] for host in json.loads(parsed.script("report-view"))["hosts"]]


def test_html_keeps_hostile_target_text_as_text(hostile):
    parsed = _Page(render_html(hostile))
    assert len(parsed.all("script")) == 3
    text = "".join(parsed.text)
    assert HOSTILE_MESSAGE in text
    assert "run *this* [now](javascript:alert(1))" in text
    # A reference that is not an http(s) URL is shown, never linked.
    assert [attrs["href"] for attrs in parsed.all("a") if not attrs["href"].startswith("https://")] == []
    assert "boom \\x1b]0;pwned\\x07\\x1b[2J gone" in text
    view = json.loads(parsed.script("report-view"))
    assert HOSTILE_HOST in [host["name"] for host in view["hosts"]]
    assert json.loads(parsed.script("report-data"))["hosts"][-1]["host"] == HOSTILE_HOST


def test_html_leads_with_the_summary_picture_and_one_row_per_code(fleet):
    report = build_report(fleet, generated_at=NOW)
    parsed = _Page(render_html(report))
    legend = dict((attrs["data-key"], int(attrs["data-count"])) for attrs in parsed.all("li") if "data-key" in attrs)
    assert legend["fail"] == 5 and legend["pass"] == 1
    assert (legend["unreachable"], legend["failed"], legend["ok"]) == (1, 1, 4)
    assert (legend["high"], legend["none"]) == (5, 1)
    code_rows = [attrs for attrs in parsed.all("tr") if "data-code" in attrs]
    codes = [finding["code"] for record in report["hosts"] for finding in record["findings"]]
    assert sorted(attrs["data-code"] for attrs in code_rows) == sorted(set(codes))
    totals = dict((attrs["data-code"], int(attrs["data-total"])) for attrs in code_rows)
    assert totals["BR_NETFILTER_BLOCKED"] == 1 and totals["HOST_UNREACHABLE"] == 1
    assert code_rows[0]["data-severities"] == "high"
    assert [attrs["value"] for attrs in parsed.all("input", **{"class": "sev-filter"})] == [
        "high", "medium", "low", "info", "none"]
    assert [attrs["value"] for attrs in parsed.all("option")][1:] == [attrs["data-code"] for attrs in code_rows]


def test_html_hosts_come_from_a_compact_view_in_report_order(fleet):
    report = build_report(fleet, generated_at=NOW)
    parsed = _Page(render_html(report))
    view = json.loads(parsed.script("report-view"))
    assert [host["name"] for host in view["hosts"]] == [record["host"] for record in report["hosts"]]
    down = next(host for host in view["hosts"] if host["name"] == "node-down")
    assert (down["status"], down["severities"], down["codes"], down["fails"]) == (
        "unreachable", ["high"], ["HOST_UNREACHABLE"], True)
    assert down["cells"][-1] == "HOST_UNREACHABLE"
    assert view["columns"][0] == "Host" and len(view["columns"]) == len(down["cells"])
    # Rows are built by the page's script: none is in the markup, however large the fleet.
    assert [attrs for attrs in parsed.all("tr") if "data-host" in attrs] == []


def test_a_fleet_without_findings_renders_every_format(facts_result):
    for results in ({}, {"n1": facts_result(HEALTHY)}):
        report = build_report(results, generated_at=NOW)
        assert sum(report["summary"]["findings"].values()) == 0
        parsed = _Page(render_html(report))
        assert "No findings on any host." in "".join(parsed.text)
        assert [attrs for attrs in parsed.all("tr") if "data-code" in attrs] == []
        markdown = render_markdown(report)
        assert "## Findings by code\n\nNo findings.\n" in markdown
        assert render_table(report).splitlines()[-1].startswith("%d hosts" % len(results))
