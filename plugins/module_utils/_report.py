# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Fleet audit report: aggregate per-host results and render them. Pure, no Ansible import.

``build_report(results, fail_on, generated_at)`` turns ``{host: registered result}`` into
the report dict documented in ``docs/audit-report-schema.md`` (schema version below).
``render_table``, ``render_markdown`` and ``render_html`` render that dict; the HTML is
self-contained (inline CSS and JavaScript, no network asset).

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

import json
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

def _bool_text(value):
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
    return _bool_text(br_info.get("ready"))


def reboot_cell(record):
    br_info = record["br_netfilter"]
    if br_info is None:
        return "-" if record["status"] != "ok" else "?"
    return _bool_text(br_info.get("ready_after_reboot"))


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


def _value_text(value):
    return "absent" if value is None else str(value)


def sysctl_text(row):
    persisted = "not persisted"
    if row["persisted"] is not None:
        persisted = "%s @ %s:%s" % (row["persisted"], row["persisted_file"], row["persisted_line"])
    return "live %s, boot %s (%s)" % (_value_text(row["live"]), _value_text(row["after_reboot"]), persisted)


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


# ------------------------------------------------------------------ terminal

def _grid(header, rows):
    widths = [len(name) for name in header]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(header, widths)).rstrip()]
    lines.append("  ".join("-" * width for width in widths))
    for row in rows:
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return lines


def _verdict_line(report):
    summary = report["summary"]
    status = summary["status"]
    parts = ["%d hosts" % summary["hosts"], "%d ready" % summary["ready"], "%d not ready" % summary["not_ready"]]
    for name in ("unreachable", "failed", "not_run"):
        if status[name]:
            parts.append("%d %s" % (status[name], name.replace("_", " ")))
    if report["fail_on"] == "none":
        verdict = "fail_on=none: the audit never fails"
    elif report["failing_hosts"]:
        verdict = "FAIL (fail_on=%s): %s" % (report["fail_on"], ", ".join(report["failing_hosts"]))
    else:
        verdict = "PASS (fail_on=%s)" % report["fail_on"]
    return "%s. %s" % (", ".join(parts), verdict)


def render_table(report, details=True):
    """Plain-text summary table, then (``details``) each host's sysctls and findings."""
    rows = [[column(record) for _name, column in TABLE_COLUMNS] for record in report["hosts"]]
    lines = _grid([name for name, _column in TABLE_COLUMNS], rows)
    if details:
        for record in report["hosts"]:
            lines.append("")
            lines.append("%s: %s" % (record["host"], _host_headline(record)))
            br_info = record["br_netfilter"]
            if br_info is not None:
                for row in br_info["sysctls"]:
                    lines.append("    %s: %s" % (row["key"], sysctl_text(row)))
            for finding in record["findings"]:
                lines.append("  - %s %s: %s" % (finding["severity"].upper(), finding["code"], finding["message"]))
                if finding["remediation"]:
                    lines.append("      fix: %s" % finding["remediation"])
    lines.append("")
    lines.append(_verdict_line(report))
    return "\n".join(lines) + "\n"


def _host_headline(record):
    if record["status"] != "ok":
        return "%s (%s)" % (record["status"].upper().replace("_", " "), record["error"])
    br_info = record["br_netfilter"]
    if br_info is None:
        return "br_netfilter facts missing (%s)" % (record["error"] or "not returned")
    text = "br_netfilter %s; %s" % (br_info["state"], br_info.get("state_reason") or "")
    if br_info["false_positive_bridge_dir"]:
        text += "; FALSE POSITIVE: /proc/sys/net/bridge exists without bridge-nf-call-iptables"
    text += "; ready now: %s, after reboot: %s" % (_bool_text(br_info["ready"]),
                                                   _bool_text(br_info["ready_after_reboot"]))
    return text


# ------------------------------------------------------------------ Markdown

def _md(text):
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def render_markdown(report):
    summary = report["summary"]
    out = ["# %s" % _md(report["title"]), ""]
    out.append("Generated %s. fail_on: `%s`. Verdict: **%s**." % (
        _md(report["generated_at"] or "?"), report["fail_on"], report["verdict"].upper()))
    out.append("")
    out.append(_md(_verdict_line(report)))
    out.append("")
    out.append("Findings by severity: %s." % ", ".join(
        "%s %d" % (severity, summary["findings"][severity]) for severity in reversed(SEVERITIES)))
    out.append("")
    header = [name.title().replace("_", " ") for name, _column in TABLE_COLUMNS]
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "---|" * len(header))
    for record in report["hosts"]:
        out.append("| " + " | ".join(_md(column(record)) for _name, column in TABLE_COLUMNS) + " |")
    for record in report["hosts"]:
        out.append("")
        out.append("## %s" % _md(record["host"]))
        out.append("")
        out.append(_md(_host_headline(record)))
        br_info = record["br_netfilter"]
        if br_info is not None and br_info["sysctls"]:
            out.append("")
            out.append("| sysctl | live | after reboot | persisted by |")
            out.append("|---|---|---|---|")
            for row in br_info["sysctls"]:
                where = "-" if row["persisted"] is None else "`%s` line %s (= %s)" % (
                    _md(row["persisted_file"]), row["persisted_line"], _md(row["persisted"]))
                out.append("| `%s` | %s | %s | %s |" % (
                    row["key"], _md(_value_text(row["live"])), _md(_value_text(row["after_reboot"])), where))
        out.append("")
        if not record["findings"]:
            out.append("No findings.")
        for finding in record["findings"]:
            out.append("- **%s** `%s`: %s" % (finding["severity"].upper(), finding["code"], _md(finding["message"])))
            if finding["remediation"]:
                out.append("  - Remediation: %s" % _md(finding["remediation"]))
            for ref in finding["reference"]:
                out.append("  - Reference: <%s>" % ref if re.match(r"^https?://", ref) else "  - Reference: %s" % _md(ref))
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------ HTML

def _h(text):
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#x27;"))


def _ref_html(ref):
    if re.match(r"^https?://[^\s\"'<>]+$", ref):
        return '<a href="%s" rel="noreferrer">%s</a>' % (_h(ref), _h(ref))
    return _h(ref)


_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5em;color:#1b1f24}
h1{font-size:1.5em;margin:0 0 .3em}h2{font-size:1.2em;margin:1.5em 0 .4em}
table{border-collapse:collapse;margin:.5em 0 1em;width:100%}
th,td{border:1px solid #d0d7de;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f6f8fa;white-space:nowrap}th.sortable{cursor:pointer;user-select:none}
th.sortable::after{content:" \\2195";color:#8c959f}th[aria-sort=ascending]::after{content:" \\2191"}
th[aria-sort=descending]::after{content:" \\2193"}
.sev{font-weight:600;border-radius:3px;padding:0 .35em;white-space:nowrap}
.sev-high{background:#ffebe9;color:#a40e26}.sev-medium{background:#fff8c5;color:#7d4e00}
.sev-low{background:#ddf4ff;color:#0a3069}.sev-info{background:#eef1f4;color:#424a53}
.sev-none{background:#dafbe1;color:#116329}
tr.status-unreachable td,tr.status-failed td,tr.status-not_run td{background:#fff5f5}
.verdict-fail{color:#a40e26}.verdict-pass{color:#116329}
#controls{display:flex;flex-wrap:wrap;gap:1em;align-items:center;padding:.5em;background:#f6f8fa;
border:1px solid #d0d7de;border-radius:6px}
#controls label{white-space:nowrap}code{font-size:.95em}details{margin:.3em 0}
.muted{color:#57606a}
"""

_JS = r"""
(function () {
  "use strict";
  var SEV_RANK = {none: -1, info: 0, low: 1, medium: 2, high: 3};
  function checkedSeverities() {
    var boxes = document.querySelectorAll("input.sev-filter");
    var on = {};
    for (var i = 0; i < boxes.length; i++) { if (boxes[i].checked) { on[boxes[i].value] = true; } }
    return on;
  }
  function applyFilters() {
    var on = checkedSeverities();
    var text = document.getElementById("host-filter").value.trim().toLowerCase();
    var failingOnly = document.getElementById("failing-only").checked;
    var hostRows = document.querySelectorAll("#hosts tbody tr");
    var shownHosts = 0;
    for (var i = 0; i < hostRows.length; i++) {
      var row = hostRows[i];
      var sevs = row.getAttribute("data-severities").split(" ").filter(Boolean);
      if (sevs.length === 0) { sevs = ["none"]; }
      var sevOk = sevs.some(function (s) { return on[s]; });
      var textOk = !text || row.getAttribute("data-host").toLowerCase().indexOf(text) !== -1;
      var failOk = !failingOnly || row.getAttribute("data-fails") === "true";
      var show = sevOk && textOk && failOk;
      row.hidden = !show;
      if (show) { shownHosts++; }
    }
    var findingRows = document.querySelectorAll("#findings tbody tr");
    var shownFindings = 0;
    for (var j = 0; j < findingRows.length; j++) {
      var frow = findingRows[j];
      var fshow = !!on[frow.getAttribute("data-severity")] &&
        (!text || frow.getAttribute("data-host").toLowerCase().indexOf(text) !== -1) &&
        (!failingOnly || frow.getAttribute("data-fails") === "true");
      frow.hidden = !fshow;
      if (fshow) { shownFindings++; }
    }
    document.getElementById("shown-count").textContent =
      shownHosts + " of " + hostRows.length + " hosts, " + shownFindings + " of " + findingRows.length + " findings shown";
  }
  function cellKey(cell) {
    var key = cell.getAttribute("data-sort");
    return key === null ? cell.textContent.trim().toLowerCase() : key;
  }
  function sortBy(th) {
    var table = th.closest("table");
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var numeric = th.getAttribute("data-type") === "number";
    var dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
    var ths = th.parentNode.children;
    for (var i = 0; i < ths.length; i++) { ths[i].removeAttribute("aria-sort"); }
    th.setAttribute("aria-sort", dir);
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellKey(a.cells[index]), y = cellKey(b.cells[index]);
      var cmp = numeric ? (parseFloat(x) - parseFloat(y)) : (x < y ? -1 : (x > y ? 1 : 0));
      return dir === "ascending" ? cmp : -cmp;
    });
    for (var k = 0; k < rows.length; k++) { body.appendChild(rows[k]); }
  }
  document.addEventListener("DOMContentLoaded", function () {
    var inputs = document.querySelectorAll("#controls input");
    for (var i = 0; i < inputs.length; i++) {
      inputs[i].addEventListener("input", applyFilters);
      inputs[i].addEventListener("change", applyFilters);
    }
    var heads = document.querySelectorAll("th.sortable");
    for (var j = 0; j < heads.length; j++) {
      heads[j].addEventListener("click", function (ev) { sortBy(ev.currentTarget); });
    }
    var match = /(?:^|[#&])severity=([a-z,]+)/.exec(window.location.hash);
    if (match) {
      var wanted = match[1].split(",");
      var boxes = document.querySelectorAll("input.sev-filter");
      for (var k = 0; k < boxes.length; k++) { boxes[k].checked = wanted.indexOf(boxes[k].value) !== -1; }
    }
    applyFilters();
    document.body.setAttribute("data-ready", "true");
  });
}());
"""


def _sev_badge(severity):
    name = severity or "none"
    return '<span class="sev sev-%s">%s</span>' % (_h(name), _h(name))


def render_html(report):
    """A single self-contained HTML page (no external asset, no network access)."""
    summary = report["summary"]
    out = ['<!DOCTYPE html>', '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           # No network: forbid every fetch except inline style/script and data: images.
           '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
           'style-src \'unsafe-inline\'; script-src \'unsafe-inline\'; img-src data:">',
           "<title>%s</title>" % _h(report["title"]), "<style>%s</style>" % _CSS, "</head>", "<body>"]
    out.append("<h1>%s</h1>" % _h(report["title"]))
    out.append('<p>Generated %s &middot; fail_on <code>%s</code> &middot; verdict '
               '<strong id="verdict" class="verdict-%s">%s</strong></p>' % (
                   _h(report["generated_at"] or "?"), _h(report["fail_on"]), _h(report["verdict"]),
                   _h(report["verdict"].upper())))
    out.append('<p id="summary">%s</p>' % _h(_verdict_line(report)))
    out.append('<p class="muted">Findings: %s</p>' % " ".join(
        "%s&nbsp;%d" % (_sev_badge(sev), summary["findings"][sev]) for sev in reversed(SEVERITIES)))

    out.append('<div id="controls"><strong>Filter</strong>')
    for severity in tuple(reversed(SEVERITIES)) + ("none",):
        out.append('<label><input type="checkbox" class="sev-filter" value="%s" checked> %s</label>' % (
            severity, _sev_badge(severity)))
    out.append('<label>Host <input type="search" id="host-filter" placeholder="name contains"></label>')
    out.append('<label><input type="checkbox" id="failing-only"> failing fail_on only</label>')
    out.append('<span id="shown-count" class="muted"></span></div>')

    out.append("<h2>Hosts</h2>")
    out.append('<table id="hosts"><thead><tr>')
    for name, _column in TABLE_COLUMNS:
        out.append('<th class="sortable" scope="col">%s</th>' % _h(name.title().replace("_", " ")))
    out.append('<th class="sortable" scope="col" data-type="number">Findings</th>')
    out.append("</tr></thead><tbody>")
    for record in report["hosts"]:
        severities = sorted(set(item["severity"] for item in record["findings"]), key=severity_rank)
        out.append('<tr class="status-%s" data-host="%s" data-status="%s" data-worst="%s" data-severities="%s" '
                   'data-fails="%s">' % (_h(record["status"]), _h(record["host"]), _h(record["status"]),
                                         _h(record["worst_severity"] or "none"), _h(" ".join(severities)),
                                         "true" if record["fails_threshold"] else "false"))
        for name, column in TABLE_COLUMNS:
            text = column(record)
            if name == "WORST FINDING":
                out.append('<td data-sort="%d %s">%s %s</td>' % (
                    severity_rank(record["worst_severity"]) + 1, _h(record["worst_finding"] or ""),
                    _sev_badge(record["worst_severity"]), _h(record["worst_finding"] or "")))
            elif name == "HOST":
                out.append('<td><a href="#host-%s">%s</a></td>' % (_h(_anchor(record["host"])), _h(text)))
            else:
                out.append("<td>%s</td>" % _h(text))
        out.append('<td data-sort="%d">%d</td>' % (len(record["findings"]), len(record["findings"])))
        out.append("</tr>")
    out.append("</tbody></table>")

    out.append("<h2>Findings</h2>")
    out.append('<table id="findings"><thead><tr>')
    for name, kind in (("Host", ""), ("Severity", "number"), ("Code", ""), ("Source", ""), ("Message", ""),
                       ("Remediation", ""), ("Reference", "")):
        out.append('<th class="sortable" scope="col"%s>%s</th>' % (
            ' data-type="number"' if kind else "", name))
    out.append("</tr></thead><tbody>")
    for record in report["hosts"]:
        for finding in record["findings"]:
            out.append('<tr data-host="%s" data-severity="%s" data-code="%s" data-fails="%s">' % (
                _h(record["host"]), _h(finding["severity"]), _h(finding["code"]),
                "true" if record["fails_threshold"] else "false"))
            out.append("<td>%s</td>" % _h(record["host"]))
            out.append('<td data-sort="%d">%s</td>' % (severity_rank(finding["severity"]),
                                                       _sev_badge(finding["severity"])))
            out.append("<td><code>%s</code></td>" % _h(finding["code"]))
            out.append("<td>%s</td>" % _h(finding["source"]))
            out.append("<td>%s</td>" % _h(finding["message"]))
            out.append("<td>%s</td>" % _h(finding["remediation"]))
            out.append("<td>%s</td>" % "<br>".join(_ref_html(ref) for ref in finding["reference"]))
            out.append("</tr>")
    out.append("</tbody></table>")

    out.append("<h2>Host details</h2>")
    for record in report["hosts"]:
        out.append('<details id="host-%s"%s><summary><strong>%s</strong> %s</summary>' % (
            _h(_anchor(record["host"])), " open" if record["fails_threshold"] else "",
            _h(record["host"]), _h(_host_headline(record))))
        br_info = record["br_netfilter"]
        if br_info is not None and br_info["sysctls"]:
            out.append('<table class="sysctls"><thead><tr><th>sysctl</th><th>live</th><th>after reboot</th>'
                       "<th>persisted by</th></tr></thead><tbody>")
            for row in br_info["sysctls"]:
                where = "-" if row["persisted"] is None else "%s line %s (= %s)" % (
                    row["persisted_file"], row["persisted_line"], row["persisted"])
                out.append("<tr><td><code>%s</code></td><td>%s</td><td>%s</td><td>%s</td></tr>" % (
                    _h(row["key"]), _h(_value_text(row["live"])), _h(_value_text(row["after_reboot"])), _h(where)))
            out.append("</tbody></table>")
        if record["docker"] is not None or record["iptables"] is not None:
            out.append("<p>Docker: %s &middot; iptables: %s</p>" % (_h(docker_cell(record)), _h(iptables_cell(record))))
        out.append("</details>")

    # The data itself, for anyone who wants to script against the page; with <, > and & escaped no text in it
    # can end the script element or start markup.
    data = json.dumps(report, sort_keys=True).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    out.append('<script type="application/json" id="report-data">%s</script>' % data)
    out.append("<script>%s</script>" % _JS)
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _anchor(host):
    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(host))


def render_json(report):
    return json.dumps(report, indent=2, sort_keys=True) + "\n"
