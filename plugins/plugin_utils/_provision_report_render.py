# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Render the fleet provisioning report (``_provision_report``) as a terminal table, Markdown, HTML and JSON.

The escaping is the audit report's (``_report_render``): every value a template prints comes from the hosts and
is made inert for its format by the environment's ``finalize`` (HTML autoescape, Markdown backslash escapes,
terminal control characters shown as ``\\xNN``). The layouts are Jinja2 templates in
``_provision_report_templates/``.
"""

from __future__ import annotations

import json
import os

import jinja2
import markupsafe

from ansible_collections.nodeprep.netfilter.plugins.plugin_utils._provision_report import (
    TABLE_COLUMNS,
    codes_text,
    restart_text,
    verdict_line,
    worst_text,
)
from ansible_collections.nodeprep.netfilter.plugins.plugin_utils._report_render import (
    Md,
    md_code,
    md_text,
    terminal_text,
)

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_provision_report_templates")


def _grid(header, rows):
    widths = [len(name) for name in header]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row)]

    def line(cells):
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip()
    return [line(header), "  ".join("-" * width for width in widths)] + [line(row) for row in rows]


def table_rows(report):
    return [[column(record) for _name, column in TABLE_COLUMNS] for record in report["hosts"]]


def render_table(report, details=True):
    """Plain-text table, then (``details``) per host what changed, was fixed and remains, and why it failed."""
    rows = [[terminal_text(cell) for cell in row] for row in table_rows(report)]
    return _template("table.txt.j2").render(
        report=report, details=details, grid=_grid([name for name, _column in TABLE_COLUMNS], rows),
        verdict=verdict_line(report))


def render_markdown(report):
    return _template("report.md.j2").render(_context(report))


def render_html(report):
    """A single self-contained page: inline CSS, no script, no network asset (its CSP forbids any load)."""
    return _template("report.html.j2").render(_context(report))


def render_json(report):
    return json.dumps(report, indent=2, sort_keys=True) + "\n"


def _context(report):
    return {
        "report": report,
        "columns": [name.title() for name, _column in TABLE_COLUMNS],
        "rows": table_rows(report),
        "verdict_line": verdict_line(report),
    }


def _html_finalize(value):
    return value if isinstance(value, markupsafe.Markup) else terminal_text(value)


def _md_finalize(value):
    return value if isinstance(value, Md) else md_text(value)


_ENVIRONMENTS = {}


def _environment(kind):
    env = _ENVIRONMENTS.get(kind)
    if env is None:
        options = dict(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
        if kind == "html":
            env = jinja2.Environment(autoescape=True, finalize=_html_finalize, **options)
        elif kind == "md":
            env = jinja2.Environment(autoescape=False, finalize=_md_finalize, **options)
        else:
            env = jinja2.Environment(autoescape=False, finalize=terminal_text, **options)
        env.filters.update(md_code=md_code, md=Md)
        env.globals.update(worst_text=worst_text, codes_text=codes_text, restart_text=restart_text,
                           asset=lambda name: markupsafe.Markup(env.loader.get_source(env, name)[0]))
        _ENVIRONMENTS[kind] = env
    return env


def _template(name):
    kind = "html" if name.endswith(".html.j2") else "md" if name.endswith(".md.j2") else "text"
    return _environment(kind).get_template(name)
