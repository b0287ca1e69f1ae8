# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Render the fleet audit report (``_report.build_report``) as a terminal table, Markdown, HTML and JSON.

The layouts are Jinja2 templates in ``_report_templates/`` (Jinja2 is an ansible-core requirement, so every
controller has it). Host names, errors, messages, file paths and versions come from the targets, so every
value a template prints is escaped for its format by default:

* HTML: Jinja2 autoescape (control characters as in the terminal); the page's script builds host rows and
  details with ``textContent``.
* Markdown: CommonMark backslash escapes for the characters that start markup, control characters and
  newlines flattened, so a value can neither add markup nor end a table cell or a line.
* Terminal: control characters (ESC sequences, ``\\r``, backspace, bidi overrides) shown as ``\\xNN`` text.

Templates mark the few values that are already formatted (``md_code``, ``Md``) instead of the many that are not.
"""

from __future__ import annotations

import functools
import json
import os
import re

import jinja2
import markupsafe

from ansible_collections.nodeprep.netfilter.plugins.plugin_utils._report import (
    SEVERITIES,
    STATUSES,
    TABLE_COLUMNS,
    docker_cell,
    findings_by_code,
    host_headline,
    iptables_cell,
    severity_rank,
    sysctl_text,
    value_text,
    verdict_line,
)

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_report_templates")

# Failing hosts named in the HTML and Markdown summary line; the host lists below it hold every one.
SUMMARY_HOST_LIMIT = 20

# ------------------------------------------------------------------ terminal

_WHITESPACE_CONTROLS = re.compile("[\t\n\v\f\r\x1c-\x1f\x85\u2028\u2029]")
# C0/C1 controls (ESC starts colour, cursor and title sequences; BS and CR overwrite what is shown) and the
# bidirectional overrides that reorder text on screen.
_OTHER_CONTROLS = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _visible_escape(match):
    code = ord(match.group(0))
    return "\\x%02x" % code if code < 0x100 else "\\u%04x" % code


def terminal_text(value):
    """``value`` as inert text on one line: line breaks and tabs become spaces, other controls ``\\xNN`` text."""
    return _OTHER_CONTROLS.sub(_visible_escape, _WHITESPACE_CONTROLS.sub(" ", str(value)))


def _grid(header, rows):
    widths = [len(name) for name in header]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row)]

    def line(cells):
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip()
    return [line(header), "  ".join("-" * width for width in widths)] + [line(row) for row in rows]


def render_table(report, details=True):
    """Plain-text summary table, then (``details``) each host's sysctls and findings."""
    rows = [[terminal_text(column(record)) for _name, column in TABLE_COLUMNS] for record in report["hosts"]]
    return _template("table.txt.j2").render(
        report=report, details=details, grid=_grid([name for name, _column in TABLE_COLUMNS], rows),
        verdict=verdict_line(report))


# ------------------------------------------------------------------ Markdown

class Md(str):
    """Text that is already Markdown: the Markdown templates print it as it is."""


# Everything that can start inline markup, a link, raw HTML, an entity, math or a table cell. An underscore
# between letters or digits cannot open emphasis, so br_netfilter and fail_on stay readable in the raw file.
_MD_INLINE = re.compile(r"([\\`*\[\]<>#|~&$]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")
# What turns the start of a line into a list item, quote, heading or setext underline.
_MD_LINE_START = re.compile(r"^(\s*)([-+=]|[0-9]+[.)])")


def _escape_line_start(match):
    # The backslash goes before the punctuation (``1\.``): before a digit it would be printed.
    indent, marker = match.groups()
    return "%s%s\\%s" % (indent, marker[:-1], marker[-1])


def md_text(value):
    """``value`` as Markdown that renders as exactly that text, on one line."""
    text = _MD_INLINE.sub(r"\\\1", " ".join(terminal_text(value).split()))
    return Md(_MD_LINE_START.sub(_escape_line_start, text))


def md_code(value, table=False):
    """``value`` as one code span. Backslashes do not escape inside code, so the fence outgrows any backtick run.

    ``table``: in a GFM table cell a ``|`` ends the cell even inside code, unless written ``\\|``.
    """
    text = " ".join(terminal_text(value).split())
    longest = max([len(run) for run in re.findall(r"`+", text)] or [0])
    fence = "`" * (longest + 1)
    if text.startswith("`") or text.endswith("`"):
        text = " %s " % text
    if table:
        text = text.replace("|", "\\|")
    return Md("%s%s%s" % (fence, text, fence))


# A reference that is linked: http(s) only (never javascript: or data:), with nothing that could end the link.
_URL = re.compile(r"^https?://[^\s\"'<>\\`]+$")


def is_url(ref):
    return bool(_URL.match(ref))


def md_link(ref):
    """A reference: an autolink when it is a plain http(s) URL, escaped text otherwise."""
    if is_url(ref):
        return Md("<%s>" % ref)
    return md_text(ref)


def _html_finalize(value):
    return value if isinstance(value, markupsafe.Markup) else terminal_text(value)


def _md_finalize(value):
    return value if isinstance(value, Md) else md_text(value)


def render_markdown(report):
    return _template("report.md.j2").render(_context(report))


# ------------------------------------------------------------------ HTML

def _bars(report):
    """The summary picture: hosts by verdict, by status and by worst severity, as CSS bar segments."""
    summary = report["summary"]
    total = summary["hosts"]
    failing = len(report["failing_hosts"])
    charts = [
        ("Verdict (fail_on=%s)" % report["fail_on"], "verdict",
         [("fail", "fail", failing), ("pass", "pass", total - failing)]),
        ("Status", "status", [(status.replace("_", " "), status, summary["status"][status]) for status in STATUSES]),
        ("Worst severity", "worst", [(severity, severity, summary["hosts_by_worst_severity"][severity])
                                     for severity in tuple(reversed(SEVERITIES)) + ("none",)]),
    ]
    return [{
        "title": title,
        "kind": kind,
        "segments": [{"label": label, "key": key, "count": count,
                      "percent": round(100.0 * count / total, 2) if total else 0}
                     for label, key, count in segments],
    } for title, kind, segments in charts]


def _view(report):
    """What the page's script needs up front, per host, in the hosts table's order: small beside the report."""
    hosts = []
    for record in report["hosts"]:
        severities = sorted(set(item["severity"] for item in record["findings"]), key=severity_rank, reverse=True)
        codes = []
        for finding in record["findings"]:
            if finding["code"] not in codes:
                codes.append(finding["code"])
        cells = [column(record) for _name, column in TABLE_COLUMNS]
        # The page shows the worst severity as a badge beside this cell, so the cell drops the word.
        more = len(record["findings"]) - 1
        cells[-1] = "%s%s" % (record["worst_finding"] or "", " (+%d)" % more if more > 0 else "")
        hosts.append({
            "name": record["host"],
            "status": record["status"],
            "cells": cells,
            "severities": severities,
            "codes": codes,
            "fails": record["fails_threshold"],
            "worst": severity_rank(record["worst_severity"]),
            "findings": len(record["findings"]),
            "headline": host_headline(record),
        })
    return {"columns": [name.title().replace("_", " ") for name, _column in TABLE_COLUMNS], "hosts": hosts}


def render_html(report):
    """A single self-contained page: inline CSS and script, no network asset (its CSP forbids any load)."""
    return _template("report.html.j2").render(_context(report, view=_view(report)))


# ------------------------------------------------------------------ JSON

def render_json(report):
    return json.dumps(report, indent=2, sort_keys=True) + "\n"


# ------------------------------------------------------------------ templates

def _context(report, **extra):
    context = {
        "report": report,
        "codes": findings_by_code(report),
        "columns": TABLE_COLUMNS,
        "severities": tuple(reversed(SEVERITIES)),
        "verdict_line": verdict_line(report, limit=SUMMARY_HOST_LIMIT),
        "bars": _bars(report),
    }
    context.update(extra)
    return context


_ENVIRONMENTS = {}


def _environment(kind):
    # One environment per output format: the escaping of every printed value is the format's, by default.
    env = _ENVIRONMENTS.get(kind)
    if env is None:
        options = dict(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
        if kind == "html":
            # Controls too: the page is also read with less and grep, and a raw ESC there is a terminal sequence.
            env = jinja2.Environment(autoescape=True, finalize=_html_finalize, **options)
        elif kind == "md":
            env = jinja2.Environment(autoescape=False, finalize=_md_finalize, **options)
        else:
            env = jinja2.Environment(autoescape=False, finalize=terminal_text, **options)
        env.filters.update(md_code=md_code, md_link=md_link, md=Md, sysctl_text=sysctl_text, value_text=value_text,
                           call=lambda function, *args: function(*args))
        env.globals.update(asset=functools.partial(_asset, env), headline=host_headline, docker_cell=docker_cell,
                           iptables_cell=iptables_cell, is_url=is_url)
        _ENVIRONMENTS[kind] = env
    return env


def _asset(env, name):
    """A CSS or script file inlined verbatim: kept out of the template syntax, so braces in it need no escaping."""
    source, _filename, _uptodate = env.loader.get_source(env, name)
    return markupsafe.Markup(source)


def _template(name):
    kind = "html" if name.endswith(".html.j2") else "md" if name.endswith(".md.j2") else "text"
    return _environment(kind).get_template(name)
