# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Controller side of nodeprep.netfilter.provision: no module, no round trip.

Three phases, each one task of the playbook that runs once on the controller:

* ``validate``: every targeted host's inputs (profile, pins) and the play-wide settings, before any host is touched;
* ``start``: numbers the batch that starts now (registered on every host of the batch);
* ``finish``: builds the fleet report (``plugin_utils._provision_report``) from what each host left in hostvars,
  prints it, writes provision.json/.md/.html, and names the hosts of this batch that failed their post-check.

Documentation: plugins/modules/provision_fleet.py.
"""

from __future__ import annotations

import datetime
import os
import tempfile

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.nodeprep.netfilter.plugins.plugin_utils._provision import (
    DEFAULT_PROFILE,
    PROFILES,
    check_inputs,
)
from ansible_collections.nodeprep.netfilter.plugins.plugin_utils._provision_report import (
    build_provision_report,
)
from ansible_collections.nodeprep.netfilter.plugins.plugin_utils._provision_report_render import (
    render_html,
    render_json,
    render_markdown,
    render_table,
)
from ansible_collections.nodeprep.netfilter.plugins.plugin_utils._report import FAIL_ON_CHOICES, ReportError

display = Display()

RENDERERS = {
    "json": ("provision.json", render_json),
    "md": ("provision.md", render_markdown),
    "html": ("provision.html", render_html),
}

# The host variables validate reads; anything else a host sets is the roles' business (their argument specs).
HOST_INPUTS = ("provision_profile", "provision_pin_presets", "package_pin_name", "package_pin_docker_version",
               "package_pin_pins", "package_pin_forbid", "package_pin_allow_known_bad", "package_pin_priority",
               "package_pin_dnf_method", "package_pin_pkg_mgr")

# What the playbook leaves per host, by name (the playbook and this plugin agree on these).
HOST_RESULTS = dict(
    before="nodeprep_provision_before",
    after="nodeprep_provision_after",
    batch="nodeprep_provision_batch",
    error="nodeprep_provision_error",
    restart="nodeprep_provision_restart",
    health="nodeprep_provision_health",
    reboot="nodeprep_provision_reboot",
    node="br_netfilter_result",
)

ARGUMENT_SPEC = dict(
    phase=dict(type="str", required=True, choices=["validate", "start", "finish"]),
    hosts=dict(type="list", elements="str", required=True),
    batch=dict(type="list", elements="str", default=[]),
    settings=dict(type="dict", default={}),
    default_profile=dict(type="str", default=DEFAULT_PROFILE, choices=list(PROFILES)),
    fail_on=dict(type="str", default="high", choices=list(FAIL_ON_CHOICES)),
    dest=dict(type="path", default="reports"),
    formats=dict(type="list", elements="str", default=["json", "md", "html"], choices=sorted(RENDERERS)),
    title=dict(type="str"),
    show_details=dict(type="bool", default=True),
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
    fd, tmp = tempfile.mkstemp(prefix=".provision-", dir=os.path.dirname(path))
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


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    def _hostvars(self, task_vars):
        # Not `or {}`: without an inventory hostvars is empty (len 0) yet still answers for the implicit localhost.
        hostvars = task_vars.get("hostvars")
        return {} if hostvars is None else hostvars

    def _host_value(self, hostvars, host, name, default=None):
        try:
            host_vars = hostvars[host]
        except KeyError:
            return default
        if name not in host_vars:
            return default
        return _plain(host_vars.get(name))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        hostvars = self._hostvars(task_vars)
        phase = args["phase"]
        if phase == "validate":
            result.update(self._validate(hostvars, args))
        elif phase == "start":
            result.update(self._start(hostvars, args))
        else:
            result.update(self._finish(hostvars, args))
        return result

    def _validate(self, hostvars, args):
        hosts = []
        for host in args["hosts"]:
            host_vars = dict((name, self._host_value(hostvars, host, name))
                             for name in HOST_INPUTS if self._host_value(hostvars, host, name) is not None)
            host_vars.setdefault("provision_profile", args["default_profile"])
            hosts.append((host, host_vars))
        errors = check_inputs(_plain(args["settings"]), hosts)
        if errors:
            shown = errors[:30]
            more = len(errors) - len(shown)
            return {"failed": True, "changed": False, "errors": errors,
                    "msg": "provisioning refused before any host was touched: %s%s"
                           % (" | ".join(shown), " (and %d more)" % more if more else "")}
        return {"changed": False, "errors": [],
                "msg": "inputs of %d hosts checked" % len(hosts)}

    def _start(self, hostvars, args):
        previous = 0
        for host in args["hosts"]:
            record = self._host_value(hostvars, host, HOST_RESULTS["batch"]) or {}
            if isinstance(record, dict) and isinstance(record.get("batch"), int):
                previous = max(previous, record["batch"])
        number = previous + 1
        return {"changed": False, "batch": number, "started_at": _now(), "hosts": list(args["batch"]),
                "canary": number == 1, "msg": "batch %d: %s" % (number, ", ".join(args["batch"]))}

    def _finish(self, hostvars, args):
        entries = {}
        for host in args["hosts"]:
            left = dict((key, self._host_value(hostvars, host, name)) for key, name in HOST_RESULTS.items())
            node = left.pop("node") or {}
            left.update(profile=self._host_value(hostvars, host, "provision_profile", args["default_profile"]),
                        pending=isinstance(node, dict) and node.get("pending") in (True, "True", "true"))
            entries[host] = left
        check_mode = bool(self._task.check_mode)
        try:
            report = build_provision_report(args["hosts"], entries, fail_on=args["fail_on"], generated_at=_now(),
                                            title=args["title"], check_mode=check_mode)
        except ReportError as exc:
            raise AnsibleActionFail("cannot build the provisioning report: %s" % exc)
        display.display(render_table(report, details=args["show_details"]))

        dest = os.path.abspath(os.path.expanduser(args["dest"]))
        paths = {}
        changed = False
        try:
            os.makedirs(dest, exist_ok=True)
            for fmt in args["formats"]:
                name, render = RENDERERS[fmt]
                path = os.path.join(dest, name)
                changed = _write_if_changed(path, render(report)) or changed
                paths[fmt] = path
        except OSError as exc:
            raise AnsibleActionFail("cannot write the provisioning report under %s: %s" % (dest, exc))
        batch = set(args["batch"])
        batch_failed = [record["host"] for record in report["hosts"]
                        if record["host"] in batch and record["verdict"] == "fail"]
        problems = dict((record["host"], record["problems"]) for record in report["hosts"] if record["host"] in batch)
        return {"changed": changed, "paths": paths, "verdict": report["verdict"], "batch_failed": batch_failed,
                "problems": problems, "summary": report["summary"], "failing_hosts": report["failing_hosts"],
                "msg": report["verdict"]}
