# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Controller side of nodeprep.netfilter.audit_report: no module, no round trip.

Reads every audited host's registered result from hostvars, builds the report with the
pure ``plugin_utils._report``, prints the table, writes report.json/.md/.html on the controller
(``plugin_utils._report_render``, Jinja2 templates) and fails when a host reaches ``fail_on``.
Documentation: plugins/modules/audit_report.py.
"""

from __future__ import annotations

import datetime
import os
import tempfile

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.nodeprep.netfilter.plugins.plugin_utils._report import (
    FAIL_ON_CHOICES,
    ReportError,
    build_report,
)
from ansible_collections.nodeprep.netfilter.plugins.plugin_utils._report_render import (
    render_html,
    render_json,
    render_markdown,
    render_table,
)

display = Display()

RENDERERS = {
    "json": ("report.json", render_json),
    "md": ("report.md", render_markdown),
    "html": ("report.html", render_html),
}

ARGUMENT_SPEC = dict(
    hosts=dict(type="list", elements="str", required=True),
    result_var=dict(type="str", default="nodeprep_audit_result"),
    fail_on=dict(type="str", default="high", choices=list(FAIL_ON_CHOICES)),
    dest=dict(type="path", default="reports"),
    formats=dict(type="list", elements="str", default=["json", "md", "html"], choices=sorted(RENDERERS)),
    title=dict(type="str"),
    show_table=dict(type="bool", default=True),
    show_details=dict(type="bool", default=True),
    fail_task=dict(type="bool", default=True),
)


def _plain(value):
    """Builtin containers and scalars only (hostvars hand out lazy, tagged wrappers)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, (str, bytes)):
        return to_text(value)
    if isinstance(value, dict) or hasattr(value, "items"):
        return dict((to_text(key), _plain(item)) for key, item in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(item) for item in value]
    return to_text(value)


def _write_if_changed(path, text):
    data = to_bytes(text)
    try:
        with open(path, "rb") as handle:
            if handle.read() == data:
                return False
    except OSError:
        pass
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".report-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)

        # Not `or {}`: without an inventory hostvars is empty (len 0) yet still answers for the implicit localhost.
        hostvars = task_vars.get("hostvars")
        if hostvars is None:
            hostvars = {}
        results = {}
        unknown = []
        for host in args["hosts"]:
            # ansible-core 2.19+ answers hostvars[name] for a name not in the inventory with an undefined marker,
            # and any use of it raises ReferenceError ("A required TemplateContext context is not active"); ask
            # the inventory first. Such a host gets no result, which the report lists as AUDIT_NOT_RUN (high).
            if host not in hostvars:
                unknown.append(host)
                results[host] = None
                continue
            try:
                host_vars = hostvars[host]
                value = host_vars.get(args["result_var"])
            except (KeyError, ReferenceError):
                unknown.append(host)
                results[host] = None
                continue
            results[host] = _plain(value)
        if unknown:
            display.warning("audit_report: %d of the hosts are not in the inventory and are reported as not "
                            "audited: %s%s" % (len(unknown), ", ".join(unknown[:10]), " ..." if len(unknown) > 10 else ""))

        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        try:
            report = build_report(results, fail_on=args["fail_on"], generated_at=now.isoformat().replace("+00:00", "Z"),
                                  title=args["title"], hosts=args["hosts"])
        except ReportError as exc:
            raise AnsibleActionFail("cannot build the audit report: %s" % exc)

        table = render_table(report, details=args["show_details"])
        if args["show_table"]:
            display.display(table)

        dest = os.path.abspath(os.path.expanduser(args["dest"]))
        paths = {}
        changed = False
        if not self._task.check_mode:
            try:
                os.makedirs(dest, exist_ok=True)
                for fmt in args["formats"]:
                    name, render = RENDERERS[fmt]
                    path = os.path.join(dest, name)
                    changed = _write_if_changed(path, render(report)) or changed
                    paths[fmt] = path
            except OSError as exc:
                raise AnsibleActionFail("cannot write the audit report under %s: %s" % (dest, exc))

        result.update(
            changed=changed,
            paths=paths,
            verdict=report["verdict"],
            failing_hosts=report["failing_hosts"],
            summary=report["summary"],
        )
        if report["failing_hosts"]:
            result["failed"] = args["fail_task"]
            result["msg"] = "fleet audit FAILED: %d of %d hosts have findings at or above fail_on=%s: %s%s" % (
                len(report["failing_hosts"]), report["summary"]["hosts"], args["fail_on"],
                ", ".join(report["failing_hosts"][:20]),
                " ..." if len(report["failing_hosts"]) > 20 else "")
        else:
            result["msg"] = "audit %s: %d hosts, fail_on=%s" % (report["verdict"], report["summary"]["hosts"],
                                                                args["fail_on"])
        return result
