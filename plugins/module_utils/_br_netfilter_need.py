# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Does this dockerd need br_netfilter here, can it have it, and is the escape hatch needed? No Ansible import.

``br_netfilter_need(...)`` is the one answer to that question. The audit
(``_docker_audit``/``_docker_checks``) reports from it and the
``docker_br_netfilter_compat`` role (through the ``docker_br_netfilter_compat_plan``
module) acts on it, so the two cannot disagree about a host.

It models what each Docker release's bridge driver really does, per setting,
from moby's released source (``BEHAVIOURS`` cites the lines):

* before 27.3.0: when iptables or ip6tables is on, the driver runs
  ``modprobe -va bridge br_netfilter`` at start if ``/proc/sys/net/bridge`` is
  absent, and only logs a failure. A network with icc=false then reads
  ``bridge-nf-call-iptables``; if it is missing, creating the network fails
  ("ensure that the br_netfilter kernel module is loaded"): for the default
  bridge that stops dockerd. userland-proxy=false is never checked.
* 27.3.0 and 27.3.1: nothing is loaded at start. Only icc=false networks check,
  and they run modprobe only when ``/proc/sys/net/bridge`` is absent: where the
  directory exists without the key (the ``bridge`` module alone on some
  kernels) the check fails although br_netfilter is loadable. userland-proxy=false
  is not checked and nothing loads br_netfilter for it.
* 27.4.0 and later: icc=false and userland-proxy=false both check the key
  itself and load br_netfilter when it is missing; a failed load is fatal.
* 27.5.1 and later: ``DOCKER_IGNORE_BR_NETFILTER_ERROR=1`` turns that failure
  into a warning ("Continuing without enabling br_netfilter"), and isolation is
  then not enforced.

Not modelled: ``/.dockerenv`` (inside a Docker container a missing key is only
logged), ``ip-forward=false`` with ip_forward at 0 (the IPv4 check is skipped),
and IPv6-only networks with iptables=false (treated like IPv4).
"""

from __future__ import annotations

from ansible_collections.nodeprep.netfilter.plugins.module_utils._versions import (
    VersionError,
    compare_versions,
    upstream_version,
)

BR_STATES = ("loaded", "builtin", "loadable", "unavailable", "blocked")
MODES = ("auto", "always", "never")
ESCAPE_ENV = "DOCKER_IGNORE_BR_NETFILTER_ERROR"
#: First release honouring the variable (moby PR #49306); the same as the
#: DOCKER_BR_NETFILTER_REQUIRED row of ``_known_issues``, which a test checks.
ESCAPE_HATCH_SINCE = "27.5.1"

MOBY_BLOB = "https://github.com/moby/moby/blob/"

#: What each release range of the bridge driver does about br_netfilter.
#: ``loads_at_start``: modprobe at driver start when /proc/sys/net/bridge is absent.
#: ``checks``: settings whose networks check bridge-nf-call-iptables (a missing key is fatal).
#: ``loads_for_check``: what the check stats before its modprobe: the directory
#: (``dir``), the key itself (``key``), or nothing (None: no modprobe).
BEHAVIOURS = [
    {
        "name": "before 27.3.0", "min": None, "before": "27.3.0",
        "loads_at_start": True, "checks": ("icc",), "loads_for_check": None,
        "source": [MOBY_BLOB + "v26.1.5/libnetwork/drivers/bridge/bridge_linux.go#L424-L430",
                   MOBY_BLOB + "v26.1.5/libnetwork/drivers/bridge/bridge_linux.go#L819",
                   MOBY_BLOB + "v26.1.5/libnetwork/drivers/bridge/setup_bridgenetfiltering.go#L34-L45"],
    },
    {
        "name": "27.3", "min": "27.3.0", "before": "27.4.0",
        "loads_at_start": False, "checks": ("icc",), "loads_for_check": "dir",
        "source": [MOBY_BLOB + "v27.3.1/libnetwork/drivers/bridge/bridge_linux.go#L882-L884",
                   MOBY_BLOB + "v27.3.1/libnetwork/drivers/bridge/setup_bridgenetfiltering.go#L50-L66"],
    },
    {
        "name": "27.4.0 and later", "min": "27.4.0", "before": None,
        "loads_at_start": False, "checks": ("icc", "userland-proxy"), "loads_for_check": "key",
        "source": [MOBY_BLOB + "v27.4.0/libnetwork/drivers/bridge/bridge_linux.go#L840-L842",
                   MOBY_BLOB + "v27.4.0/libnetwork/drivers/bridge/setup_bridgenetfiltering.go#L48-L58"],
    },
]

DROPIN_MARKER = "# Managed by nodeprep.netfilter.docker_br_netfilter_compat"
_DROPIN_WHY = {
    "auto": "br_netfilter cannot be had on this host and this dockerd's settings need it.",
    "always": "set deliberately (docker_br_netfilter_compat_mode: always), for icc=false networks created later.",
}


class NeedError(ValueError):
    """Input the decision cannot be made from; the message is meant for the user."""


def _cmp(version, other):
    return compare_versions(version, other, "deb")


def behaviour(version):
    """The ``BEHAVIOURS`` row of upstream ``version``."""
    for row in BEHAVIOURS:
        if row["min"] and _cmp(version, row["min"]) < 0:
            continue
        if row["before"] and _cmp(version, row["before"]) >= 0:
            continue
        return row
    raise NeedError("no behaviour row for Docker %s" % version)  # the table covers every version


def br_view(facts):
    """What the decision reads from br_netfilter facts (``br_netfilter_facts`` or a subset); None when unknown."""
    if not isinstance(facts, dict) or facts.get("state") not in BR_STATES:
        return None
    state = facts["state"]
    key = facts.get("bridge_nf_call_iptables_present")
    if key is None:
        key = state in ("loaded", "builtin")
    directory = facts.get("bridge_sysctl_dir_present")
    if directory is None:
        directory = bool(key or facts.get("false_positive_bridge_dir"))
    return {"state": state, "key_present": bool(key), "dir_present": bool(directory),
            "false_positive_dir": bool(directory and not key)}


def _needs(settings, networks, checks):
    """Settings that tie this dockerd to br_netfilter: ``[{setting, scope, network, checked}]``."""
    if settings.get("iptables") is False and not settings.get("ip6tables"):
        return []  # every br_netfilter step is gated on iptables or ip6tables
    found = []
    if settings.get("icc") is False:
        found.append({"setting": "icc=false", "scope": "start", "network": "bridge", "checked": "icc" in checks})
    if settings.get("userland-proxy") is False:
        found.append({"setting": "userland-proxy=false", "scope": "start", "network": None,
                      "checked": "userland-proxy" in checks})
    for net in networks or []:
        if net.get("icc") is False and not net.get("default_bridge") and net.get("name") != "bridge":
            found.append({"setting": "network %s with enable_icc=false" % net.get("name"), "scope": "network",
                          "network": net.get("name"), "checked": "icc" in checks})
    return found


def _check(row, br):
    """``(outcome, why, branch)`` of a br_netfilter check in release range ``row``."""
    state = br["state"]
    if br["key_present"]:
        return "ok", "bridge-nf-call-iptables exists", "key present"
    if state != "loadable":
        if state in ("loaded", "builtin"):
            return "fails", "br_netfilter is %s but bridge-nf-call-iptables is absent" % state, "key absent"
        return "fails", "br_netfilter is %s" % state, "missing"
    if row["loads_for_check"] == "key":
        return "ok", "dockerd loads br_netfilter itself", "loads it"
    if row["loads_for_check"] == "dir":
        if br["dir_present"]:
            return ("fails", "br_netfilter is loadable, but /proc/sys/net/bridge exists without bridge-nf-call-iptables, "
                    "so Docker 27.3 skips its modprobe and then fails", "27.3 directory check")
        return "ok", "dockerd runs modprobe bridge br_netfilter (no /proc/sys/net/bridge)", "loads it"
    if br["dir_present"]:
        return ("fails", "br_netfilter is loadable, but /proc/sys/net/bridge exists without bridge-nf-call-iptables, "
                "so dockerd does not load it at start", "directory check at start")
    return "ok", "dockerd loads br_netfilter when it starts", "loads it at start"


def _worst(outcomes):
    for outcome in ("fails", "degraded", "ok"):
        if outcome in outcomes:
            return outcome
    return "ok"


def br_netfilter_need(docker_version, settings=None, br_facts=None, networks=None, ignore_env=None, mode="auto"):
    """The decision, as data.

    * ``docker_version``: any spelling (``28.5.2``, ``5:27.5.1-1~debian.13~trixie``,
      ``28.5.2+dfsg4-5``); empty or None: Docker is not installed.
    * ``settings``: dockerd's effective ``icc``, ``userland-proxy``, ``iptables``,
      ``ip6tables`` (flags over daemon.json over defaults); missing keys take dockerd's defaults.
    * ``br_facts``: ``br_netfilter_facts`` (``state``, ``bridge_nf_call_iptables_present``,
      ``bridge_sysctl_dir_present``), or None when unknown.
    * ``networks``: the engine's bridge networks (``_docker_env.parse_networks``),
      or None when the engine did not answer.
    * ``ignore_env``: DOCKER_IGNORE_BR_NETFILTER_ERROR in docker.service's environment, None when unset.
    * ``mode``: the role's ``auto``, ``always`` or ``never``.

    Returns ``needed``/``needs``/``needed_by`` (does this dockerd need br_netfilter),
    ``br`` and ``available`` (can it have it), ``outcome`` (without the escape hatch:
    ``ok``, ``degraded`` = starts but silently without br_netfilter, ``fails``) and
    ``failure`` (``start`` or ``network``), ``escape_hatch`` (``not_needed``,
    ``needed``, ``impossible`` or ``unknown``), ``escape_hatch_allowed`` (>= 27.5.1),
    ``escape_hatch_set`` and ``effective`` (with the variable as set now), and the
    role's ``action`` (``present``, ``absent``, ``fail``) with ``reason``.
    """
    if mode not in MODES:
        raise NeedError("mode %r is not one of %s" % (mode, ", ".join(MODES)))
    settings = dict(settings or {})
    result = {
        "docker_version": None, "behaviour": None, "source": [], "mode": mode,
        "needed": False, "needs": [], "needed_by": [], "networks_known": networks is not None,
        "br": br_view(br_facts), "available": None, "outcome": "ok", "failure": None, "why": None,
        "escape_hatch": "not_needed", "escape_hatch_allowed": False, "threshold": ESCAPE_HATCH_SINCE,
        "escape_hatch_set": ignore_env == "1", "effective": "ok",
        "action": "absent", "reason": None,
    }
    if docker_version in (None, ""):
        result["reason"] = "Docker is not installed; no drop-in is needed."
        return result
    upstream = upstream_version(str(docker_version))
    if upstream is None:
        raise NeedError("cannot read a Docker release from version %r (expected e.g. 28.5.2, "
                        "5:27.5.1-1~debian.13~trixie or 28.5.2+dfsg4-5)" % (docker_version,))
    try:
        row = behaviour(upstream)
        allowed = _cmp(upstream, ESCAPE_HATCH_SINCE) >= 0
    except VersionError as exc:
        raise NeedError("cannot compare Docker version %r: %s" % (docker_version, exc))
    result.update(docker_version=upstream, behaviour=row["name"], source=list(row["source"]),
                  escape_hatch_allowed=allowed)
    needs = _needs(settings, networks, row["checks"])
    result.update(needs=needs, needed=bool(needs), needed_by=[need["setting"] for need in needs])
    br = result["br"]
    if br is None:
        for need in needs:
            need.update(outcome="unknown", why="br_netfilter state unknown", branch=None)
        result.update(available="unknown", outcome="unknown" if needs else "ok",
                      escape_hatch="unknown" if needs else "not_needed")
    else:
        result["available"] = _available(row, br)
        _outcomes(row, br, needs)
        result["outcome"] = _worst([need["outcome"] for need in needs])
        failing = [need for need in needs if need["outcome"] == "fails"]
        if failing:
            result["failure"] = "start" if any(need["scope"] == "start" for need in failing) else "network"
            result["why"] = failing[0]["why"]
            result["escape_hatch"] = "needed" if allowed else "impossible"
        elif result["outcome"] == "degraded":
            result["why"] = [need["why"] for need in needs if need["outcome"] == "degraded"][0]
    if result["outcome"] == "fails":
        result["effective"] = "isolation_lost" if allowed and result["escape_hatch_set"] else "fails"
    else:
        result["effective"] = result["outcome"]
    _action(result, upstream)
    return result


def _available(row, br):
    if br["key_present"]:
        return "active"
    if br["state"] == "loadable":
        if row["loads_for_check"] == "key" or not br["dir_present"]:
            return "dockerd loads it"
        return "loadable, but dockerd will not load it"
    return "missing"


def _outcomes(row, br, needs):
    """Each need's outcome; a need the release does not check relies on what the checks (or start) loaded."""
    loaded = br["key_present"] or (row["loads_at_start"] and br["state"] == "loadable" and not br["dir_present"])
    for need in needs:
        if need["checked"]:
            need["outcome"], need["why"], need["branch"] = _check(row, br)
            if need["outcome"] == "ok" and br["state"] == "loadable":
                loaded = True
    for need in needs:
        if need["checked"]:
            continue
        need["branch"] = "not checked"
        if loaded:
            need["outcome"], need["why"] = "ok", "br_netfilter is active once dockerd has started"
        else:
            need["outcome"] = "degraded"
            need["why"] = ("Docker %s does not check br_netfilter for %s and nothing loads it (br_netfilter is %s): "
                           "containers get wrong replies from published ports of their own network"
                           % (row["name"], need["setting"], br["state"]))


def _action(result, version):
    """The role's action for ``result["mode"]``."""
    mode = result["mode"]
    hatch = result["escape_hatch"]
    names = " and ".join(result["needed_by"])
    if mode == "never":
        result["action"] = "absent"
        result["reason"] = "docker_br_netfilter_compat_mode is never: no drop-in."
        if hatch in ("needed", "impossible"):
            result["reason"] += " Docker %s with %s fails without br_netfilter (%s)." % (version, names, result["why"])
        return
    if hatch == "needed":
        result["action"] = "present"
        result["reason"] = ("Docker %s with %s needs br_netfilter, and %s; it honours %s=1: install the drop-in so "
                            "dockerd starts (isolation NOT enforced)." % (version, names, result["why"], ESCAPE_ENV))
        return
    if hatch == "impossible":
        result["action"] = "fail"
        result["reason"] = ("Docker %s predates %s=1 (honoured from %s): with %s it fails %s (%s)."
                            % (version, ESCAPE_ENV, ESCAPE_HATCH_SINCE, names,
                               "to start" if result["failure"] == "start" else "to create or restore those networks",
                               result["why"]))
        return
    if mode == "always":
        if result["escape_hatch_allowed"]:
            result["action"] = "present"
            result["reason"] = ("docker_br_netfilter_compat_mode is always: the drop-in is installed deliberately "
                                "(not needed now: %s)." % _not_needed(result))
        else:
            result["action"] = "absent"
            result["reason"] = ("docker_br_netfilter_compat_mode is always, but Docker %s ignores %s (honoured from %s): "
                                "nothing to install (not needed now: %s)." % (version, ESCAPE_ENV, ESCAPE_HATCH_SINCE,
                                                                              _not_needed(result)))
        return
    result["action"] = "absent"
    result["reason"] = "Docker %s needs no %s: %s." % (version, ESCAPE_ENV, _not_needed(result))


def _not_needed(result):
    if not result["needs"]:
        return "nothing needs br_netfilter (icc and userland-proxy at their defaults%s)" % (
            ", no network with enable_icc=false" if result["networks_known"] else "; engine networks unknown")
    if result["outcome"] == "unknown":
        return "br_netfilter state unknown"
    if result["outcome"] == "degraded":
        return "dockerd starts without it, but %s" % result["why"]
    return "%s: %s" % (" and ".join(result["needed_by"]), result["needs"][0]["why"])


# --- the role's drop-in, and how the audit recognises it ----------------------------------

def dropin_content(mode):
    """The drop-in the role writes in ``mode`` (auto or always); its first line carries the marker and the mode."""
    if mode not in _DROPIN_WHY:
        raise NeedError("no drop-in is written in mode %r" % (mode,))
    return (
        "%s (mode=%s): %s\n" % (DROPIN_MARKER, mode, _DROPIN_WHY[mode])
        + "# Docker >= %s then starts with icc=false or userland-proxy=false where br_netfilter cannot be loaded, but\n"
        "# inter-container isolation is NOT enforced. Re-run the role (mode auto) to remove this file when it is not needed.\n"
        "[Service]\n"
        "Environment=%s=1\n" % (ESCAPE_HATCH_SINCE, ESCAPE_ENV)
    )


def dropin_is_managed(text):
    """Did the role write this drop-in (its first line carries the marker)?"""
    return bool(text) and text.splitlines()[0].startswith(DROPIN_MARKER)


def dropin_mode(first_line):
    """``auto``/``always`` from the marker line of a drop-in the role wrote; ``auto`` for an older marker; else None."""
    if not first_line or not first_line.startswith(DROPIN_MARKER):
        return None
    rest = first_line[len(DROPIN_MARKER):]
    for mode in MODES:
        if rest.startswith(" (mode=%s)" % mode):
            return mode
    return "auto"
