# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Decisions of the provisioning playbook (nodeprep.netfilter.provision). Pure, no Ansible import.

* ``check_settings`` and ``check_host``: every input judged on the controller before any host is touched
  (profile, batch sizes, failure percentage, order, reboot mode, threshold, pins);
* ``restart_decision``: does dockerd need its one restart of this run, and why;
* ``health``: the gate after that restart (engine answers, its chains and the DNAT rules of running containers);
* ``reboot_mismatches``: what the facts predicted for after a reboot against what the host shows after it.

The pins are judged by the same ``_pins`` functions the package_pin role's plan module runs on the host, with
what needs no host: names, versions, presets, a version pinned twice, pinned and forbidden, or known bad.
"""

from __future__ import annotations

import re

from ansible_collections.nodeprep.netfilter.plugins.module_utils._pins import (
    DOCKER_FLAVOURS,
    PinError,
    known_bad,
    plan_pins,
)
from ansible_collections.nodeprep.netfilter.plugins.module_utils._versions import upstream_version

PROFILES = ("docker_host", "k8s_node", "verify_only")
DEFAULT_PROFILE = "docker_host"
REBOOT_MODES = ("none", "canary", "all")
# ansible-core's play keyword `order`.
ORDERS = ("inventory", "reverse_inventory", "sorted", "reverse_sorted", "shuffle")
FAIL_ON_CHOICES = ("none", "info", "low", "medium", "high")
DEFAULT_PIN_PRESETS = ("docker", "iptables")

# Findings that say the engine's rules are not (yet) back; the health gate waits for them to clear.
RULE_CODES = ("DOCKER_CHAIN_MISSING", "DOCKER_JUMP_MISSING", "DOCKER_DNAT_MISSING", "DOCKER_MASQUERADE_MISSING")

# Words of _pins' refusals that are contradictions in the request itself, whatever the package manager.
_CONTRADICTIONS = ("pinned twice", "both pinned", "known bad", "unknown preset", "priority", "malformed")

_PERCENT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*$")
_INTEGER = re.compile(r"^\s*[0-9]+\s*$")

# Every Docker package any flavour pins, for "a docker_version and an exact pin that disagree".
_DOCKER_PACKAGES = frozenset(package for flavour in DOCKER_FLAVOURS.values()
                             for family in flavour.values() for package in family["packages"])


def _batch_size_problem(value, where):
    if isinstance(value, bool):
        return "%s must be a number of hosts or a percentage, got %r" % (where, value)
    if isinstance(value, int):
        return None if value > 0 else "%s must be at least 1 host, got %d (a batch of 0 hosts never ends)" % (where, value)
    if isinstance(value, str):
        if _INTEGER.match(value):
            return _batch_size_problem(int(value), where)
        match = _PERCENT.match(value)
        if match:
            percent = float(match.group(1))
            if 0 < percent <= 100:
                return None
            return "%s must be a percentage above 0%% and at most 100%%, got %r" % (where, value)
    return "%s must be a number of hosts (1, 5) or a percentage ('20%%'), got %r" % (where, value)


def check_settings(settings):
    """Problems with the play-wide settings, as a list of sentences (empty: fine).

    ``settings``: ``serial`` (a batch size or a list of them: the first is the canary batch),
    ``max_fail_percentage``, ``order``, ``reboot``, ``fail_on``, ``health_retries``, ``health_delay``.
    """
    errors = []
    serial = settings.get("serial")
    sizes = serial if isinstance(serial, (list, tuple)) else [serial]
    if not sizes:
        errors.append("provision_serial must name at least one batch size, got an empty list")
    for index, size in enumerate(sizes):
        where = "provision_serial" if not isinstance(serial, (list, tuple)) else "provision_serial[%d]" % index
        problem = _batch_size_problem(size, where)
        if problem:
            errors.append(problem)
    percent = settings.get("max_fail_percentage")
    if isinstance(percent, str) and re.match(r"^\s*[0-9]+(\.[0-9]+)?\s*$", percent):
        percent = float(percent)
    if isinstance(percent, bool) or not isinstance(percent, (int, float)) or not 0 <= percent <= 100:
        errors.append("provision_max_fail_percentage must be a number from 0 to 100, got %r" % (percent,))
    if settings.get("order") not in ORDERS:
        errors.append("provision_order must be one of %s, got %r" % (", ".join(ORDERS), settings.get("order")))
    if settings.get("reboot") not in REBOOT_MODES:
        errors.append("provision_reboot must be one of %s, got %r" % (", ".join(REBOOT_MODES), settings.get("reboot")))
    if settings.get("fail_on") not in FAIL_ON_CHOICES:
        errors.append("provision_fail_on must be one of %s, got %r"
                      % (", ".join(FAIL_ON_CHOICES), settings.get("fail_on")))
    for key, minimum in (("health_retries", 1), ("health_delay", 0)):
        value = settings.get(key)
        if isinstance(value, str) and _INTEGER.match(value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            errors.append("provision_%s must be an integer >= %d, got %r" % (key, minimum, settings.get(key)))
    return errors


def pin_request(host_vars):
    """The package_pin role's request as the provisioning playbook passes it to that role for this host."""
    presets = host_vars.get("provision_pin_presets", list(DEFAULT_PIN_PRESETS))
    return {
        "name": host_vars.get("package_pin_name") or "nodeprep-pins",
        "presets": presets,
        "docker_version": host_vars.get("package_pin_docker_version") or "",
        "pins": host_vars.get("package_pin_pins") or [],
        "forbid": host_vars.get("package_pin_forbid") or [],
        "allow_known_bad": host_vars.get("package_pin_allow_known_bad") or [],
        "priority": host_vars.get("package_pin_priority", 1001),
        "dnf_method": host_vars.get("package_pin_dnf_method") or "versionlock",
    }


def pin_problems(request, pkg_mgr="auto"):
    """Why this pin request would fail on any host, or [] (what is decided per host, such as the spelling of a
    Docker release on that distribution, is left to the role)."""
    managers = ("apt", "dnf") if pkg_mgr in (None, "", "auto") else (pkg_mgr,)
    # dnf5 takes the same names and versions as dnf 4; what only it needs, the epochs of its lock values, comes
    # from the host's repositories, which the controller does not know.
    managers = tuple("dnf" if manager == "dnf5" else manager for manager in managers)
    static = dict(request)
    docker_version = static.pop("docker_version", "") or ""
    refusals = []
    for manager in managers:
        try:
            plan_pins(static, os_release={}, pkg_mgr=manager, available=None, installed={})
        except PinError as exc:
            refusals.append(str(exc))
        else:
            refusals.append(None)
    # With pkg_mgr auto the host decides apt or dnf. A contradiction (a version pinned twice, pinned and forbidden,
    # known bad) is one under either; a name only one of them accepts (RPM names allow capitals) is the host's call.
    semantic = [text for text in refusals if text and any(marker in text for marker in _CONTRADICTIONS)]
    if semantic:
        return semantic[:1]
    if all(refusals):
        return refusals[:1]
    if not isinstance(docker_version, str) or not docker_version.strip():
        return []
    version = docker_version.strip()
    try:
        plan_pins(dict(static, docker_version=version, pins=[], forbid=[], presets=[]), os_release={},
                  pkg_mgr=managers[0], available=None, installed={})
    except PinError as exc:
        text = str(exc)
        # Only the Docker CE spelling, which needs the host's distribution, is host-dependent.
        if "cannot derive" not in text:
            return [text]
    bad = known_bad("docker-ce", version)
    allow = request.get("allow_known_bad") or []
    if bad and not (allow is True or all(row["code"] in allow for row in bad)):
        return ["refusing to pin Docker %s: known bad (%s)" % (version, ", ".join(row["code"] for row in bad))]
    for index, item in enumerate(request.get("pins") or []):
        for package in item.get("packages") or []:
            if package in _DOCKER_PACKAGES and upstream_version(str(item.get("version"))) != version:
                return ["%s is pinned twice: to Docker %s (package_pin_docker_version) and to %s (pins[%d])"
                        % (package, version, item.get("version"), index)]
    return []


def check_host(host, host_vars):
    """Problems with one host's inputs (its profile and its pins), each sentence naming the host."""
    errors = []
    profile = host_vars.get("provision_profile", DEFAULT_PROFILE)
    if profile not in PROFILES:
        errors.append("%s: unknown provision_profile %r (known: %s)" % (host, profile, ", ".join(PROFILES)))
    presets = host_vars.get("provision_pin_presets", list(DEFAULT_PIN_PRESETS))
    if not isinstance(presets, (list, tuple)):
        errors.append("%s: provision_pin_presets must be a list, got %r" % (host, presets))
    elif profile != "verify_only":
        for problem in pin_problems(pin_request(host_vars), host_vars.get("package_pin_pkg_mgr") or "auto"):
            errors.append("%s: pins: %s" % (host, problem))
    return errors


def check_inputs(settings, hosts):
    """All problems: the settings first, then each host's (``hosts``: ``[(name, vars)]`` in inventory order)."""
    errors = check_settings(settings)
    if not hosts:
        errors.append("provision_hosts matches no host of the inventory, so nothing would be provisioned")
    for name, host_vars in hosts:
        errors.extend(check_host(name, host_vars))
    return errors


# ------------------------------------------------------------------ Docker: one restart, then the gate

def _summary(result):
    return (result or {}).get("summary") or {} if isinstance(result, dict) else {}


def docker_present(result):
    return bool(_summary(result).get("docker_present"))


def restart_decision(before, facts_now, compat_result=None, profile=DEFAULT_PROFILE):
    """Whether dockerd needs this run's one restart: ``{"restart": bool, "reasons": [...]}``.

    Only what dockerd reads at start counts:

    * its unit's environment (the escape-hatch drop-in) differs from what the running engine has: the
      docker_br_netfilter_compat role's ``restart_pending`` (the role itself is never allowed to restart);
    * br_netfilter became ready in this run while the engine was down: a dockerd that refused to start without
      br_netfilter (``icc=false`` on a host where the module was missing) starts now.

    A running, healthy engine is left alone when only sysctls or modules-load.d changed: dockerd reads them at
    start, and they already hold live.
    """
    reasons = []
    if profile == "verify_only" or not docker_present(before):
        return {"restart": False, "reasons": []}
    if isinstance(compat_result, dict) and compat_result.get("restart_pending") in (True, "True", "true"):
        reasons.append("the Docker unit's environment changed (%s)"
                       % (compat_result.get("reason") or "escape-hatch drop-in"))
    before_br = (before or {}).get("br_netfilter") or {}
    now_ready = (facts_now or {}).get("ready")
    if _summary(before).get("engine_running") is False and before_br.get("ready") is False and now_ready is True:
        reasons.append("br_netfilter is ready now and the engine was not running before")
    return {"restart": bool(reasons), "reasons": reasons}


def settled(result):
    """An audit result as the module returned it. The health gate retries the audit task with ``until``; when the
    retries run out, Ansible marks the last (complete) result ``failed``, which is the gate's verdict, not the audit's."""
    if isinstance(result, dict) and result.get("failed") and "attempts" in result and isinstance(result.get("summary"), dict):
        result = dict(result)
        result.pop("failed")
    return result


def health(result):
    """The gate after a Docker restart: ``{"ok": bool, "reasons": [...]}`` from one audit result."""
    result = settled(result)
    if not isinstance(result, dict) or result.get("unreachable") or result.get("failed"):
        return {"ok": False, "reasons": ["the audit did not run: %s" % ((result or {}).get("msg") or "no result")]}
    summary = _summary(result)
    reasons = []
    if not summary.get("engine_running"):
        reasons.append("the Docker engine does not answer")
    if summary.get("rule_checks") not in (None, "done"):
        reasons.append("Docker's rules were not checked: %s" % summary.get("rule_checks"))
    for finding in result.get("findings") or []:
        if isinstance(finding, dict) and finding.get("code") in RULE_CODES:
            reasons.append("%s: %s" % (finding["code"], finding.get("message") or ""))
    return {"ok": not reasons, "reasons": reasons}


# ------------------------------------------------------------------ reboot verification

def reboot_mismatches(predicted, actual):
    """What the facts predicted for after a reboot (``predicted``: the br_netfilter facts before it) that the
    host does not show after it (``actual``: the facts read after it). Empty: the prediction held."""
    if not isinstance(predicted, dict) or not isinstance(actual, dict):
        return ["no br_netfilter facts %s the reboot" % ("before" if not isinstance(predicted, dict) else "after")]
    mismatches = []
    if predicted.get("ready_after_reboot") is not None and actual.get("ready") != predicted.get("ready_after_reboot"):
        mismatches.append("ready after reboot was predicted %s, the host is %s"
                          % (predicted.get("ready_after_reboot"), actual.get("ready")))
    live = actual.get("live") or {}
    for key, value in sorted((predicted.get("after_reboot") or {}).items()):
        if value is None:
            continue
        shown = live.get(key)
        if shown is None or str(shown) != str(value):
            mismatches.append("%s was predicted %s after the reboot, the host shows %s"
                              % (key, value, "absent" if shown is None else shown))
    if predicted.get("module_active_at_boot") is True and actual.get("state") not in ("loaded", "builtin"):
        mismatches.append("br_netfilter was predicted active at boot, the host reports it %s" % actual.get("state"))
    return mismatches
