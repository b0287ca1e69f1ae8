# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Fleet audit report: aggregate per-host results. Pure, no Ansible import.

``build_report(results, fail_on, generated_at)`` turns ``{host: registered result}`` into
the report dict documented in ``docs/audit-report-schema.md`` (schema version below).
The cell texts, ``verdict_line`` and ``findings_by_code`` below serve every renderer
(``_report_render``: terminal table, Markdown and HTML from Jinja2 templates).

A registered result is whatever the audit task left for the host:

* ``nodeprep.netfilter.docker_iptables_audit``: ``findings``, ``summary`` and
  ``br_netfilter`` (the full br_netfilter facts) in one round trip;
* ``nodeprep.netfilter.br_netfilter_facts``: ``ansible_facts.br_netfilter`` only;
* an unreachable host (``unreachable: true``), a failed task (``failed: true``), or nothing
  (the host never ran the task).

Hosts that could not be audited get a synthetic finding of severity ``high``
(``HOST_UNREACHABLE``, ``AUDIT_FAILED``, ``AUDIT_NOT_RUN``) so that ``fail_on`` treats an
unknown host like a broken one.
"""

from __future__ import annotations

import re

SCHEMA = "nodeprep.netfilter.audit-report"
SCHEMA_VERSION = 1

SEVERITIES = ("info", "low", "medium", "high")
FAIL_ON_CHOICES = ("none",) + SEVERITIES
STATUSES = ("ok", "failed", "unreachable", "not_run")

# Watched sysctls, in display order (the br_netfilter facts carry these keys).
SYSCTL_ORDER = (
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
    "net.bridge.bridge-nf-call-arptables",
    "net.ipv4.ip_forward",
    "net.ipv6.conf.all.forwarding",
    "net.ipv6.conf.default.forwarding",
)

# Findings the report itself raises; the same shape as module findings.
REPORT_FINDINGS = {
    "HOST_UNREACHABLE": {
        "severity": "high",
        "message": "The host could not be reached, so it was not audited: {error}",
        "remediation": "Check the connection settings (ansible_host, ansible_user, SSH keys) and that "
                       "the host is up, then run the audit again (--limit this host).",
        "reference": "https://docs.ansible.com/ansible/latest/inventory_guide/connection_details.html",
    },
    "AUDIT_FAILED": {
        "severity": "high",
        "message": "The audit module failed on this host: {error}",
        "remediation": "Read the error; a missing or too old Python (3.8+ is needed) is the usual cause. "
                       "Run the audit again with -vvv --limit this host.",
        "reference": "https://docs.ansible.com/ansible/latest/reference_appendices/interpreter_discovery.html",
    },
    "AUDIT_NOT_RUN": {
        "severity": "high",
        "message": "The host is in the play but left no audit result ({error}).",
        "remediation": "Run the audit again for this host and check why the audit task did not run.",
        "reference": "https://docs.ansible.com/ansible/latest/playbook_guide/playbooks_error_handling.html",
    },
    "BR_NETFILTER_UNKNOWN": {
        "severity": "high",
        "message": "The audit ran but could not tell the br_netfilter state: {error}",
        "remediation": "Read the error. With nodeprep_audit_root, the tree must hold a mounted /proc "
                       "(proc/sys/kernel/osrelease); otherwise run nodeprep.netfilter.br_netfilter_facts on the host.",
        "reference": "https://github.com/moby/moby/issues/48948",
    },
    "NODE_NOT_READY": {
        "severity": "high",
        "message": "br_netfilter_facts reports the node not ready, without a problem that says why.",
        "remediation": "Run nodeprep.netfilter.br_netfilter_facts on the host and read state and live.",
        "reference": "https://github.com/moby/moby/issues/48948",
    },
}

_MAX_ERROR = 600


class ReportError(ValueError):
    """Bad input to the report builder (unknown fail_on, malformed result)."""


def severity_rank(severity):
    """0 for info ... 3 for high; -1 for anything else (None, unknown)."""
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        return -1


def validate_fail_on(fail_on):
    if fail_on not in FAIL_ON_CHOICES:
        raise ReportError("fail_on must be one of %s; got %r" % (", ".join(FAIL_ON_CHOICES), fail_on))
    return fail_on


def worst_severity(findings):
    worst = None
    for finding in findings:
        if severity_rank(finding.get("severity")) > severity_rank(worst):
            worst = finding.get("severity")
    return worst


def _short(text, limit=_MAX_ERROR):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _report_finding(code, **context):
    spec = REPORT_FINDINGS[code]
    return {
        "code": code,
        "severity": spec["severity"],
        "source": "audit",
        "message": spec["message"].format(**context),
        "remediation": spec["remediation"],
        "reference": [spec["reference"]],
        "evidence": dict((key, value) for key, value in context.items()),
    }


def _as_list(reference):
    if reference is None:
        return []
    if isinstance(reference, (list, tuple)):
        return [str(item) for item in reference]
    return [str(reference)]


def _finding(raw, source):
    if not isinstance(raw, dict) or "code" not in raw:
        raise ReportError("a finding must be a dict with a code, got %r" % (raw,))
    severity = raw.get("severity")
    if severity not in SEVERITIES:
        raise ReportError("finding %s has unknown severity %r" % (raw.get("code"), severity))
    return {
        "code": str(raw["code"]),
        "severity": severity,
        "source": source,
        "message": str(raw.get("message") or ""),
        "remediation": str(raw.get("remediation") or ""),
        "reference": _as_list(raw.get("reference")),
        "evidence": raw.get("evidence") if isinstance(raw.get("evidence"), dict) else {},
    }


def _error_text(result):
    parts = []
    for key in ("msg", "module_stderr", "stderr", "exception"):
        value = result.get(key)
        if value:
            parts.append(str(value))
            if key == "msg":
                break
    return _short(" ".join(parts) or "no error message")


def _br_facts(result):
    facts = result.get("br_netfilter")
    if isinstance(facts, dict):
        return facts
    facts = (result.get("ansible_facts") or {}).get("br_netfilter")
    return facts if isinstance(facts, dict) else None


def _number(value):
    """sysctl.d values are text ('1'); live values are integers. Report both as integers when they are."""
    if isinstance(value, str) and re.match(r"^-?[0-9]+$", value.strip()):
        return int(value.strip())
    return value


def _sysctls(facts):
    live = facts.get("live") or {}
    persisted = facts.get("persisted") or {}
    after = facts.get("after_reboot") or {}
    keys = [key for key in SYSCTL_ORDER if key in live or key in persisted or key in after]
    keys += sorted(key for key in set(live) | set(persisted) | set(after) if key not in SYSCTL_ORDER)
    rows = []
    for key in keys:
        record = persisted.get(key) or None
        rows.append({
            "key": key,
            "live": _number(live.get(key)),
            "persisted": None if record is None else _number(record.get("value")),
            "persisted_file": None if record is None else record.get("file"),
            "persisted_line": None if record is None else record.get("line"),
            "after_reboot": _number(after.get(key)),
        })
    return rows


def _br_summary(facts):
    env = facts.get("environment") or {}
    module_load = (facts.get("modules_load") or {}).get("br_netfilter") or {}
    return {
        "state": facts.get("state"),
        "state_reason": facts.get("state_reason"),
        "unavailable_reason": facts.get("unavailable_reason"),
        "ready": facts.get("ready"),
        "ready_after_reboot": facts.get("ready_after_reboot"),
        "false_positive_bridge_dir": bool(facts.get("false_positive_bridge_dir")),
        "bridge_sysctl_dir_present": facts.get("bridge_sysctl_dir_present"),
        "bridge_nf_call_iptables_present": facts.get("bridge_nf_call_iptables_present"),
        "module_persisted": module_load.get("persisted"),
        "module_persisted_file": module_load.get("file"),
        "module_active_at_boot": facts.get("module_active_at_boot"),
        "blocked_by": facts.get("blocked_by"),
        "blacklisted": facts.get("blacklisted"),
        "kernel_release": facts.get("kernel_release"),
        "container": env.get("container"),
        "wsl": env.get("wsl"),
        "sysctls": _sysctls(facts),
    }


def _docker_summary(summary):
    if not isinstance(summary, dict):
        return None
    return {
        "present": summary.get("docker_present"),
        "version": summary.get("docker_version"),
        "version_source": summary.get("docker_version_source"),
        "package": summary.get("docker_package"),
        "package_version": summary.get("docker_package_version"),
        "engine_running": summary.get("engine_running"),
        "rootless_users": list(summary.get("rootless_users") or []),
        "settings": summary.get("settings") if isinstance(summary.get("settings"), dict) else {},
        "ignore_br_netfilter_error": summary.get("ignore_br_netfilter_error"),
        "rule_checks": summary.get("rule_checks"),
    }


def _iptables_summary(summary):
    if not isinstance(summary, dict):
        return None
    return {
        "version": summary.get("iptables_version"),
        "backend": summary.get("iptables_backend"),
        "package_version": summary.get("iptables_package_version"),
        "binary": summary.get("iptables_binary"),
        "backends_read": list(summary.get("backends_read") or []),
    }


def _dedupe(findings):
    seen = set()
    unique = []
    for finding in findings:
        key = (finding["code"], finding["message"])
        if key in seen:
            continue
        seen.add(key)
        unique.append(finding)
    return unique


def _sort_findings(findings):
    # Stable: worst first, then the order the modules reported them in.
    return sorted(findings, key=lambda item: -severity_rank(item["severity"]))


def host_record(host, result):
    """Normalise one host's registered result into the report's host entry."""
    record = {
        "host": str(host),
        "status": "ok",
        "error": None,
        "br_netfilter": None,
        "docker": None,
        "iptables": None,
        "findings": [],
    }
    if not isinstance(result, dict) or not result or result.get("skipped"):
        why = "skipped: %s" % result.get("skip_reason") if isinstance(result, dict) and result.get("skipped") \
            else "no result registered"
        record.update(status="not_run", error=why)
        record["findings"] = [_report_finding("AUDIT_NOT_RUN", error=why)]
        return _finish(record)
    if result.get("unreachable"):
        error = _error_text(result)
        record.update(status="unreachable", error=error)
        record["findings"] = [_report_finding("HOST_UNREACHABLE", error=error)]
        return _finish(record)
    if result.get("failed"):
        error = _error_text(result)
        record.update(status="failed", error=error)
        record["findings"] = [_report_finding("AUDIT_FAILED", error=error)]
        return _finish(record)

    findings = []
    facts = _br_facts(result)
    if facts is not None:
        record["br_netfilter"] = _br_summary(facts)
        findings.extend(_finding(problem, "br_netfilter") for problem in facts.get("problems") or [])
    else:
        record["error"] = _short(result.get("br_netfilter_error") or "the result holds no br_netfilter facts")
        findings.append(_report_finding("BR_NETFILTER_UNKNOWN", error=record["error"]))
    summary = result.get("summary")
    record["docker"] = _docker_summary(summary)
    record["iptables"] = _iptables_summary(summary)
    findings.extend(_finding(item, "docker_iptables_audit") for item in result.get("findings") or [])
    if facts is not None and facts.get("ready") is False \
            and not any(item["severity"] == "high" for item in findings if item["source"] == "br_netfilter"):
        findings.append(_report_finding("NODE_NOT_READY"))
    record["findings"] = findings
    return _finish(record)


def _finish(record):
    record["findings"] = _sort_findings(_dedupe(record["findings"]))
    worst = worst_severity(record["findings"])
    record["worst_severity"] = worst
    record["worst_finding"] = record["findings"][0]["code"] if record["findings"] else None
    counts = dict((severity, 0) for severity in SEVERITIES)
    for finding in record["findings"]:
        counts[finding["severity"]] += 1
    record["counts"] = counts
    return record


def fails_threshold(record, fail_on):
    """True when the host has a finding at or above ``fail_on`` (never for ``none``)."""
    if fail_on == "none":
        return False
    threshold = severity_rank(fail_on)
    return any(severity_rank(item["severity"]) >= threshold for item in record["findings"])


def build_report(results, fail_on="high", generated_at=None, title=None, hosts=None):
    """The whole report.

    ``results``: ``{host: registered result or None}``. ``hosts``: the order to list hosts in
    (default: sorted names); a host in ``hosts`` missing from ``results`` counts as not run.
    ``generated_at``: an ISO 8601 string supplied by the caller (the clock is injected).
    """
    validate_fail_on(fail_on)
    if not isinstance(results, dict):
        raise ReportError("results must be a mapping of host name to result, got %s" % type(results).__name__)
    order = list(hosts) if hosts is not None else sorted(results, key=str)
    records = []
    for host in order:
        record = host_record(host, results.get(host))
        record["fails_threshold"] = fails_threshold(record, fail_on)
        records.append(record)

    status_counts = dict((status, 0) for status in STATUSES)
    severity_counts = dict((severity, 0) for severity in SEVERITIES)
    hosts_by_worst = dict((severity, 0) for severity in SEVERITIES + ("none",))
    ready = not_ready = 0
    for record in records:
        status_counts[record["status"]] += 1
        for severity, count in record["counts"].items():
            severity_counts[severity] += count
        hosts_by_worst[record["worst_severity"] or "none"] += 1
        br_info = record["br_netfilter"]
        if br_info is not None and br_info.get("ready") is True:
            ready += 1
        else:
            not_ready += 1
    failing = [record["host"] for record in records if record["fails_threshold"]]
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "title": title or "nodeprep.netfilter fleet audit",
        "generated_at": generated_at,
        "fail_on": fail_on,
        "verdict": "fail" if failing else "pass",
        "failing_hosts": failing,
        "summary": {
            "hosts": len(records),
            "status": status_counts,
            "ready": ready,
            "not_ready": not_ready,
            "findings": severity_counts,
            "hosts_by_worst_severity": hosts_by_worst,
        },
        "hosts": records,
    }


# ------------------------------------------------------------------ cell texts (shared by renderers)

def bool_text(value):
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return "?"


def br_cell(record):
    br_info = record["br_netfilter"]
    if br_info is None:
        return "-" if record["status"] != "ok" else "?"
    text = br_info.get("state") or "?"
    if br_info.get("state") == "unavailable" and br_info.get("unavailable_reason"):
        text += " (%s)" % br_info["unavailable_reason"]
    if br_info.get("false_positive_bridge_dir"):
        text += " +false-positive"
    return text


def ready_cell(record):
    br_info = record["br_netfilter"]
    if br_info is None:
        return "-" if record["status"] != "ok" else "?"
    return bool_text(br_info.get("ready"))


def reboot_cell(record):
    br_info = record["br_netfilter"]
    if br_info is None:
        return "-" if record["status"] != "ok" else "?"
    return bool_text(br_info.get("ready_after_reboot"))


def docker_cell(record):
    docker = record["docker"]
    if docker is None:
        return "-" if record["status"] != "ok" else "not audited"
    if docker.get("present") is False:
        return "absent"
    text = docker.get("version") or "unknown version"
    extras = []
    if docker.get("engine_running") is False:
        extras.append("stopped")
    if docker.get("rootless_users"):
        extras.append("rootless")
    if extras:
        text += " (%s)" % ", ".join(extras)
    return text


def iptables_cell(record):
    ipt = record["iptables"]
    if ipt is None:
        return "-" if record["status"] != "ok" else "not audited"
    if not ipt.get("version"):
        return "absent" if not ipt.get("binary") else "unknown"
    text = ipt["version"]
    if ipt.get("backend"):
        text += " (%s)" % ipt["backend"]
    if ipt.get("package_version"):
        text += " %s" % ipt["package_version"]
    return text


def worst_cell(record):
    if not record["findings"]:
        return "none"
    first = record["findings"][0]
    more = len(record["findings"]) - 1
    return "%s %s%s" % (first["severity"].upper(), first["code"], " (+%d)" % more if more else "")


def value_text(value):
    return "absent" if value is None else str(value)


def sysctl_text(row):
    persisted = "not persisted"
    if row["persisted"] is not None:
        persisted = "%s @ %s:%s" % (row["persisted"], row["persisted_file"], row["persisted_line"])
    return "live %s, boot %s (%s)" % (value_text(row["live"]), value_text(row["after_reboot"]), persisted)


TABLE_COLUMNS = (
    ("HOST", lambda rec: rec["host"]),
    ("STATUS", lambda rec: rec["status"]),
    ("BR_NETFILTER", br_cell),
    ("READY", ready_cell),
    ("AFTER_REBOOT", reboot_cell),
    ("DOCKER", docker_cell),
    ("IPTABLES", iptables_cell),
    ("WORST FINDING", worst_cell),
)


def verdict_line(report, limit=None):
    """One line: host counts, then the verdict naming the failing hosts (the first ``limit`` of them)."""
    summary = report["summary"]
    status = summary["status"]
    parts = ["%d hosts" % summary["hosts"], "%d ready" % summary["ready"], "%d not ready" % summary["not_ready"]]
    for name in ("unreachable", "failed", "not_run"):
        if status[name]:
            parts.append("%d %s" % (status[name], name.replace("_", " ")))
    if report["fail_on"] == "none":
        verdict = "fail_on=none: the audit never fails"
    elif report["failing_hosts"]:
        failing = report["failing_hosts"]
        named = failing if limit is None else failing[:limit]
        more = len(failing) - len(named)
        verdict = "FAIL (fail_on=%s): %s%s" % (report["fail_on"], ", ".join(named),
                                               " and %d more" % more if more else "")
    else:
        verdict = "PASS (fail_on=%s)" % report["fail_on"]
    return "%s. %s" % (", ".join(parts), verdict)


def host_headline(record):
    if record["status"] != "ok":
        return "%s (%s)" % (record["status"].upper().replace("_", " "), record["error"])
    br_info = record["br_netfilter"]
    if br_info is None:
        return "br_netfilter facts missing (%s)" % (record["error"] or "not returned")
    text = "br_netfilter %s; %s" % (br_info["state"], br_info.get("state_reason") or "")
    if br_info["false_positive_bridge_dir"]:
        text += "; FALSE POSITIVE: /proc/sys/net/bridge exists without bridge-nf-call-iptables"
    text += "; ready now: %s, after reboot: %s" % (bool_text(br_info["ready"]),
                                                   bool_text(br_info["ready_after_reboot"]))
    return text


def findings_by_code(report):
    """The fleet's findings grouped by code, worst first, then by how many hosts have it.

    Each group: ``code``, ``severity`` (the worst seen), ``severities``, ``hosts`` (names, report order),
    ``example`` (the first host's message), ``messages`` (distinct message count), ``remediations``
    (``[text, hosts]`` pairs, most hosts first: container hosts and per-key findings word it differently),
    ``references`` (union, first seen first) and ``occurrences`` (``[host, message]`` pairs).
    """
    groups = {}
    for record in report["hosts"]:
        for finding in record["findings"]:
            group = groups.get(finding["code"])
            if group is None:
                group = groups[finding["code"]] = {
                    "code": finding["code"], "severity": finding["severity"], "severities": [],
                    "hosts": [], "example": finding["message"], "occurrences": [],
                    "_messages": set(), "_remediations": {}, "references": [],
                }
            if severity_rank(finding["severity"]) > severity_rank(group["severity"]):
                group["severity"] = finding["severity"]
            if finding["severity"] not in group["severities"]:
                group["severities"].append(finding["severity"])
            # A host reports a code once per distinct message (one per sysctl key, say): count the host once.
            if not group["hosts"] or group["hosts"][-1] != record["host"]:
                group["hosts"].append(record["host"])
            group["occurrences"].append([record["host"], finding["message"]])
            group["_messages"].add(finding["message"])
            if finding["remediation"]:
                hosts = group["_remediations"].setdefault(finding["remediation"], set())
                hosts.add(record["host"])
            for ref in finding["reference"]:
                if ref not in group["references"]:
                    group["references"].append(ref)
    result = []
    for group in groups.values():
        group["severities"].sort(key=severity_rank, reverse=True)
        group["messages"] = len(group.pop("_messages"))
        remediations = group.pop("_remediations")
        group["remediations"] = sorted(([text, len(hosts)] for text, hosts in remediations.items()),
                                       key=lambda pair: -pair[1])
        result.append(group)
    return sorted(result, key=lambda group: (-severity_rank(group["severity"]), -len(group["hosts"]), group["code"]))
