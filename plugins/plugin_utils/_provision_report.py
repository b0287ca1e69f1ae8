# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Fleet provisioning report: before and after per host. Pure, no Ansible import.

``build_provision_report(hosts, entries, fail_on, ...)`` turns what the provisioning playbook left per host
(the "before" and "after" audit results, its batch, the Docker restart decision, the health gate, the reboot
check, an error) into the report documented in ``docs/provision-report-schema.md``. The audit results are
normalised by the audit report's own ``_report.host_record``, so a host reads the same in both reports.

``host_verdict`` is the post-check of one host: a host fails when it could not be provisioned, when its "after"
audit is worse than its "before" (a higher worst severity, or a new ``high`` finding), when it is at or above the
threshold, when the health gate after its Docker restart failed, or when the reboot check found a mismatch.
"""

from __future__ import annotations

from ansible_collections.nodeprep.netfilter.plugins.plugin_utils._provision import settled
from ansible_collections.nodeprep.netfilter.plugins.plugin_utils._report import (
    fails_threshold,
    host_record,
    severity_rank,
    validate_fail_on,
)

SCHEMA = "nodeprep.netfilter.provision-report"
SCHEMA_VERSION = 1

# pass: provisioned and post-checked; fail: see problems; planned: check mode, no error; untouched: a later batch
# that never started (the rollout stopped, or is still running).
HOST_VERDICTS = ("pass", "fail", "planned", "untouched")


def _codes(record):
    """``{code: worst severity}`` of an audit host record."""
    codes = {}
    for finding in (record or {}).get("findings") or []:
        if severity_rank(finding["severity"]) > severity_rank(codes.get(finding["code"])):
            codes[finding["code"]] = finding["severity"]
    return codes


def _brief(record):
    """What the provisioning report keeps of an audit host record (the audit report's schema, version 1)."""
    if record is None:
        return None
    br_info = record.get("br_netfilter") or {}
    docker = record.get("docker") or {}
    return {
        "status": record["status"],
        "error": record["error"],
        "worst_severity": record["worst_severity"],
        "worst_finding": record["worst_finding"],
        "counts": record["counts"],
        "br_netfilter_state": br_info.get("state"),
        "ready": br_info.get("ready"),
        "ready_after_reboot": br_info.get("ready_after_reboot"),
        "docker_version": docker.get("version") if docker.get("present") else None,
        "engine_running": docker.get("engine_running"),
        "sysctls": br_info.get("sysctls") or [],
        "findings": record["findings"],
    }


def _position(batch, host):
    hosts = (batch or {}).get("hosts") or []
    return hosts.index(host) if host in hosts else len(hosts)


def _bool(value):
    return {True: "yes", False: "no"}.get(value, "?")


def state_changes(before, after):
    """What differs between two brief records, as sentences (br_netfilter, readiness, sysctls, Docker)."""
    if before is None or after is None or before["status"] != "ok" or after["status"] != "ok":
        return []
    changes = []
    if before["br_netfilter_state"] != after["br_netfilter_state"]:
        changes.append("br_netfilter %s -> %s" % (before["br_netfilter_state"], after["br_netfilter_state"]))
    for key, label in (("ready", "ready now"), ("ready_after_reboot", "ready after reboot")):
        if before[key] != after[key]:
            changes.append("%s %s -> %s" % (label, _bool(before[key]), _bool(after[key])))
    old = dict((row["key"], row) for row in before["sysctls"])
    for row in after["sysctls"]:
        prior = old.get(row["key"]) or {}
        for field, label in (("live", "live"), ("after_reboot", "at boot")):
            if prior.get(field) != row.get(field):
                changes.append("%s %s %s -> %s" % (row["key"], label, _absent(prior.get(field)), _absent(row.get(field))))
    if before["engine_running"] != after["engine_running"] and after["engine_running"] is not None:
        changes.append("Docker engine %s -> %s" % ("running" if before["engine_running"] else "not running",
                                                   "running" if after["engine_running"] else "not running"))
    return changes


def _absent(value):
    return "absent" if value is None else str(value)


def compare(before, after):
    """Fixed, remaining and new finding codes (``[{code, severity}]``), and whether ``after`` is worse."""
    old, new = _codes(before), _codes(after)
    fixed = [{"code": code, "severity": old[code]} for code in old if code not in new]
    remains = [{"code": code, "severity": new[code]} for code in new if code in old]
    added = [{"code": code, "severity": new[code]} for code in new if code not in old]
    worse = False
    if before is not None and after is not None and before["status"] == "ok":
        worse = severity_rank(after["worst_severity"]) > severity_rank(before["worst_severity"]) \
            or any(item["severity"] == "high" for item in added)
    return {"fixed": _by_severity(fixed), "remains": _by_severity(remains), "new": _by_severity(added), "worse": worse}


def _by_severity(items):
    return sorted(items, key=lambda item: (-severity_rank(item["severity"]), item["code"]))


def host_verdict(entry, after_record, fail_on, check_mode):
    """``(verdict, problems)`` for a host that started its batch."""
    problems = []
    if entry.get("error"):
        problems.append("provisioning failed: %s" % entry["error"])
    if after_record is None:
        problems.append("no after audit")
    elif after_record["status"] != "ok":
        problems.append("after audit %s: %s" % (after_record["status"], after_record["error"]))
    gate = entry.get("health")
    if gate and not gate.get("ok"):
        problems.append("health gate after the Docker restart: %s" % "; ".join(gate.get("reasons") or ["failed"]))
    reboot = entry.get("reboot")
    if reboot and reboot.get("mismatches"):
        problems.append("after the reboot: %s" % "; ".join(reboot["mismatches"]))
    if check_mode:
        # A dry run changed nothing, so after equals before: only errors (a role refusing the host) count.
        problems = [text for text in problems if text.startswith("provisioning failed")]
        return ("fail" if problems else "planned"), problems
    if after_record is not None and after_record["status"] == "ok":
        if entry.get("_worse"):
            problems.append("worse than before")
        if fails_threshold(after_record, fail_on):
            problems.append("at or above fail_on=%s (%s)" % (fail_on, after_record["worst_finding"]))
    return ("fail" if problems else "pass"), problems


def build_provision_report(hosts, entries, fail_on="high", generated_at=None, title=None, check_mode=False):
    """The whole report.

    ``hosts``: every targeted host, in play order. ``entries``: ``{host: entry}`` with ``profile``, ``before``
    and ``after`` (registered audit results), ``batch`` (``{"batch": n, "started_at": iso}`` or None: untouched),
    ``error``, ``restart`` (``{"restart", "reasons", "done"}``), ``health`` (``{"ok", "reasons"}``),
    ``reboot`` (``{"mismatches"}``), ``pending`` (check mode: a role has changes pending).
    """
    validate_fail_on(fail_on)
    records = []
    for host in hosts:
        entry = entries.get(host) or {}
        before = _brief(host_record(host, entry.get("before")))
        batch = entry.get("batch") or None
        record = {
            "host": str(host),
            "profile": entry.get("profile"),
            "batch": batch.get("batch") if batch else None,
            "started_at": batch.get("started_at") if batch else None,
            "_position": _position(batch, host),
            "before": before,
            "after": None,
            "changes": [],
            "fixed": [], "remains": [], "new": [],
            "worse": False,
            "above_threshold": False,
            "restart": entry.get("restart") or {"restart": False, "reasons": [], "done": False},
            "health": entry.get("health"),
            "reboot": entry.get("reboot"),
            "pending": bool(entry.get("pending")),
            "error": entry.get("error") or None,
            "problems": [],
            "verdict": "untouched",
        }
        if batch:
            after_raw = entry.get("after")
            after = _brief(host_record(host, settled(after_raw))) if after_raw is not None else None
            diff = compare(before, after)
            record.update(after=after, changes=state_changes(before, after), fixed=diff["fixed"],
                          remains=diff["remains"], new=diff["new"], worse=diff["worse"],
                          above_threshold=bool(after and after["status"] == "ok"
                                               and fails_threshold(after, fail_on)))
            verdict, problems = host_verdict(dict(entry, _worse=diff["worse"]), after, fail_on, check_mode)
            record.update(verdict=verdict, problems=problems)
        records.append(record)
    # Batch order, and inside a batch the order Ansible gave its hosts (provision_order); untouched hosts last.
    records.sort(key=lambda rec: (rec["batch"] is None, rec["batch"] or 0, rec.pop("_position")))

    counts = dict((verdict, 0) for verdict in HOST_VERDICTS)
    batches = {}
    for record in records:
        counts[record["verdict"]] += 1
        if record["batch"] is not None:
            batch = batches.setdefault(record["batch"], {"batch": record["batch"], "hosts": [],
                                                         "started_at": record["started_at"], "failed": []})
            batch["hosts"].append(record["host"])
            if record["verdict"] == "fail":
                batch["failed"].append(record["host"])
    failing = [record["host"] for record in records if record["verdict"] == "fail"]
    if failing:
        verdict = "fail"
    elif counts["untouched"]:
        verdict = "in_progress"
    else:
        verdict = "dry_run" if check_mode else "pass"
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "title": title or "nodeprep.netfilter fleet provisioning",
        "generated_at": generated_at,
        "check_mode": bool(check_mode),
        "fail_on": fail_on,
        "verdict": verdict,
        "failing_hosts": failing,
        "untouched_hosts": [record["host"] for record in records if record["verdict"] == "untouched"],
        "summary": {
            "hosts": len(records),
            "verdicts": counts,
            "batches": len(batches),
            "docker_restarts": sum(1 for record in records if record["restart"].get("done")),
            "fixed": sum(len(record["fixed"]) for record in records),
            "remains": sum(len(record["remains"]) for record in records),
            "new": sum(len(record["new"]) for record in records),
        },
        "batches": [batches[number] for number in sorted(batches)],
        "hosts": records,
    }


# ------------------------------------------------------------------ cell texts (shared by renderers)

def worst_text(brief):
    if brief is None:
        return "-"
    if brief["status"] != "ok":
        return brief["status"]
    if not brief["worst_finding"]:
        return "none"
    return "%s %s" % (brief["worst_severity"].upper(), brief["worst_finding"])


def codes_text(items, limit=3):
    if not items:
        return "-"
    names = [item["code"] for item in items[:limit]]
    more = len(items) - len(names)
    return ", ".join(names) + (" (+%d)" % more if more else "")


def restart_text(record):
    restart = record["restart"]
    if restart.get("done"):
        return "restarted"
    if restart.get("restart"):
        return "planned" if record["verdict"] in ("planned",) else "needed"
    return "-"


TABLE_COLUMNS = (
    ("HOST", lambda rec: rec["host"]),
    ("BATCH", lambda rec: "-" if rec["batch"] is None else str(rec["batch"])),
    ("PROFILE", lambda rec: rec["profile"] or "-"),
    ("VERDICT", lambda rec: rec["verdict"]),
    ("BEFORE", lambda rec: worst_text(rec["before"])),
    ("AFTER", lambda rec: worst_text(rec["after"])),
    ("FIXED", lambda rec: codes_text(rec["fixed"])),
    ("REMAINS", lambda rec: codes_text(rec["remains"])),
    ("NEW", lambda rec: codes_text(rec["new"])),
    ("DOCKER", restart_text),
)


def verdict_line(report):
    summary = report["summary"]
    counts = summary["verdicts"]
    parts = ["%d hosts in %d batches" % (summary["hosts"], summary["batches"])]
    for name in HOST_VERDICTS:
        if counts[name]:
            parts.append("%d %s" % (counts[name], name))
    parts.append("%d Docker restarts" % summary["docker_restarts"])
    parts.append("%d findings fixed, %d remain, %d new" % (summary["fixed"], summary["remains"], summary["new"]))
    verdicts = {
        "pass": "PASS (fail_on=%s)" % report["fail_on"],
        "dry_run": "DRY RUN (check mode): nothing was changed",
        "in_progress": "IN PROGRESS: later batches not started yet",
        "fail": "FAIL: %s; rollout stopped, untouched: %s" % (", ".join(report["failing_hosts"]),
                                                              ", ".join(report["untouched_hosts"]) or "none"),
    }
    return "%s. %s" % (", ".join(parts), verdicts[report["verdict"]])
