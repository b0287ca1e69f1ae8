# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The host side of the docker_br_netfilter_compat role: inputs, drop-in and service. No Ansible import.

``compat_from_host`` reads what ``_br_netfilter_need.br_netfilter_need`` decides
from (the Docker version, dockerd's flags and daemon.json, the engine's networks
when it answers, the br_netfilter facts) and what the role changes (its drop-in,
docker.service's running environment), and returns the decision with the
drop-in's content, the service state and whether a restart is pending. The
decision itself is not made here: the audit makes the same call.

Bad input raises ``CompatError`` (a ValueError) before anything is read.
"""

from __future__ import annotations

import os
import re

from ansible_collections.nodeprep.netfilter.plugins.module_utils import _docker_env as env
from ansible_collections.nodeprep.netfilter.plugins.module_utils._br_netfilter_need import (
    BR_STATES,
    ESCAPE_ENV,
    MODES,
    NeedError,
    br_netfilter_need,
    dropin_content,
    dropin_is_managed,
)
from ansible_collections.nodeprep.netfilter.plugins.module_utils._names import unit_name_problem
from ansible_collections.nodeprep.netfilter.plugins.module_utils._rootfs import RootFS

DROPIN_PATH = "/etc/systemd/system/docker.service.d/10-br-netfilter.conf"
DOCKER_SOCKET = "/var/run/docker.sock"
ACTIVE_STATES = ("active", "activating", "reloading", "deactivating")


class CompatError(ValueError):
    """Bad input: the message says what is wrong and how to fix it."""


def parse_systemctl_show(text):
    """``{Property: value}`` from ``systemctl show -p A -p B UNIT``."""
    result = {}
    for line in (text or "").splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            result[key.strip()] = value.strip()
    return result


def parse_environ(data):
    """``{NAME: value}`` of a NUL-separated /proc/PID/environ."""
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    result = {}
    for item in (data or "").split("\0"):
        if "=" in item:
            key, value = item.split("=", 1)
            result[key] = value
    return result


def env_enabled(value):
    """dockerd treats the variable as set when it is non-empty (moby reads os.Getenv(...) != "")."""
    return value not in (None, "")


def restart_pending(action, active_state, running_env, sub_state=None):
    """Does docker.service have to (re)start for the desired drop-in state to take effect?

    ``running_env``: whether the running dockerd has the variable (None: unknown).
    A failed unit, or one in systemd's restart loop (``activating``/``auto-restart``),
    is started once the drop-in lets it (``present``); an inactive unit is left
    alone; a running one restarts when its environment differs.
    """
    if action not in ("present", "absent"):
        return False
    want = action == "present"
    if active_state == "failed" or (active_state == "activating" and sub_state == "auto-restart"):
        return want
    if active_state in ACTIVE_STATES:
        return running_env is not None and running_env != want
    return False


_DOCKERD_VERSION = re.compile(r"Docker version (\S+?),")


def dockerd_version_from_output(text):
    """``28.5.2+dfsg4`` from ``Docker version 28.5.2+dfsg4, build ...``, or None."""
    match = _DOCKERD_VERSION.search(text or "")
    return match.group(1) if match else None


def detect_docker_version(fs, run=None, which=None):
    """``(version, source)`` of the Docker engine: the package database first, then ``dockerd --version``."""
    status = fs.read_text(env.DPKG_STATUS)
    if status is not None:
        installed = env.parse_dpkg_status(status, env.DOCKER_ENGINE_PACKAGES)
        for name in env.DOCKER_ENGINE_PACKAGES:
            if name in installed:
                return installed[name]["version"], "package %s (dpkg)" % name
    rpm = which("rpm") if which else None
    if rpm and run is not None:
        _rc, out, _err = run([rpm, "-q", "--qf", env.RPM_QUERY_FORMAT] + list(env.DOCKER_ENGINE_PACKAGES))
        installed = env.parse_rpm_query(out)
        for name in env.DOCKER_ENGINE_PACKAGES:
            if name in installed:
                return installed[name]["version"], "package %s (rpm)" % name
    dockerd = which("dockerd") if which else None
    if dockerd and run is not None:
        rc, out, _err = run([dockerd, "--version"])
        version = dockerd_version_from_output(out) if rc == 0 else None
        if version:
            return version, dockerd + " --version"
    return None, None


def check_compat_inputs(service, dropin_path, root="/", mode="auto"):
    """Refuse a root, unit name, drop-in path or mode that would read or write somewhere else.

    The role joins the service name into the drop-in path and passes it to
    systemctl, so a '/' or '..' in it would put the drop-in outside
    /etc/systemd/system and hand systemctl extra arguments. The drop-in holds
    Environment=, which only a .service unit has.
    """
    if not isinstance(root, str) or not root or not os.path.isdir(root):
        raise CompatError("root %r does not exist or is not a directory" % (root,))
    if mode not in MODES:
        raise CompatError("mode %r is not one of %s" % (mode, ", ".join(MODES)))
    problem = unit_name_problem(service, types=("service",))
    if problem:
        raise CompatError("service: %s" % problem)
    if (not isinstance(dropin_path, str) or not dropin_path.startswith("/") or dropin_path.endswith("/")
            or any(part in ("", ".", "..") for part in dropin_path[1:].split("/"))
            or any(char.isspace() for char in dropin_path)):
        raise CompatError("dropin_path %r must be an absolute, normalised path as seen on the target (no '.' or '..' "
                          "components, no whitespace)" % (dropin_path,))


def br_facts_of(br_netfilter):
    """br_netfilter facts from the facts dict or, for callers that only have it, the state alone."""
    if isinstance(br_netfilter, dict):
        if br_netfilter.get("state") not in BR_STATES:
            raise CompatError("br_netfilter facts have no valid state (one of %s): %r"
                              % (", ".join(BR_STATES), br_netfilter.get("state")))
        return br_netfilter
    if br_netfilter not in BR_STATES:
        raise CompatError("br_netfilter state %r is not one of %s" % (br_netfilter, ", ".join(BR_STATES)))
    return {"state": br_netfilter}


def engine_networks(query_engine, socket_path):
    """The engine's bridge networks, or None when it does not answer (``query_engine`` as in ``_docker_api``)."""
    if query_engine is None:
        return None
    answer = query_engine(socket_path) or {}
    if not answer.get("reachable") or answer.get("networks") is None:
        return None
    try:
        return env.parse_networks(answer["networks"])
    except (AttributeError, TypeError):
        return None


def compat_from_host(br_netfilter, docker_version=None, mode="auto", service="docker.service", dropin_path=DROPIN_PATH,
                     root="/", run=None, which=None, read_bytes=None, inspect_service=None, query_engine=None,
                     docker_socket=DOCKER_SOCKET):
    """Everything the role needs: the decision, the drop-in, the service and the warnings.

    ``br_netfilter``: the br_netfilter facts (or only their state). ``run(argv) -> (rc, out, err)``
    and ``which(name)`` run and find commands; ``read_bytes(path)`` reads a host file such as
    /proc/PID/environ (None when unreadable); ``query_engine(socket)`` asks the engine (see
    ``_docker_api.query_engine``). The running service and the engine are inspected only for
    the real root unless ``inspect_service``.
    """
    check_compat_inputs(service, dropin_path, root, mode)
    facts = br_facts_of(br_netfilter)
    fs = RootFS(root)
    if inspect_service is None:
        inspect_service = fs.root == "/"
    source = "given"
    if docker_version in (None, ""):
        docker_version, source = detect_docker_version(fs, run, which)

    unit = env.read_systemd_unit(fs, service)
    flags = env.parse_dockerd_flags(unit.get("exec_start"))
    daemon_json = env.read_daemon_json(fs, flags.get("config-file") or env.DAEMON_JSON)
    settings, _sources = env.effective_settings(daemon_json, flags, unit.get("unit"))
    networks = engine_networks(query_engine, docker_socket) if inspect_service and docker_version else None
    other_sources = [s for s in _env_sources(unit) if s != dropin_path]
    # Decide as if the drop-in were absent: the escape hatch's own effect is not a reason for it.
    ignore_env = "1" if other_sources else None
    try:
        result = br_netfilter_need(docker_version, settings, facts, networks, ignore_env, mode)
    except NeedError as exc:
        raise CompatError(str(exc))
    result["docker_version_raw"] = docker_version or None
    result["docker_version_source"] = source if docker_version else None
    result["br_state"] = facts["state"]
    result["code"], result["remediation"], result["reference"] = _code_of(result)

    text = fs.read_text(dropin_path)
    managed = dropin_is_managed(text)
    content = dropin_content("always" if mode == "always" else "auto")
    result["dropin"] = {"path": dropin_path, "present": text is not None, "managed": managed, "content": content,
                        "dir_exists": fs.isdir(dropin_path.rsplit("/", 1)[0] or "/")}
    result["daemon"] = {"icc": settings.get("icc"), "userland-proxy": settings.get("userland-proxy"),
                        "iptables": settings.get("iptables")}
    result["networks_icc_false"] = [net["name"] for net in networks or [] if net.get("icc") is False]

    service_state = {"name": service, "active_state": None, "sub_state": None, "main_pid": None, "running_env": None}
    systemctl = which("systemctl") if which else None
    if systemctl and run is not None and inspect_service:
        rc, out, _err = run([systemctl, "show", "-p", "ActiveState", "-p", "SubState", "-p", "MainPID", "-p",
                            "LoadState", service])
        shown = parse_systemctl_show(out) if rc == 0 else {}
        service_state["load_state"] = shown.get("LoadState")
        service_state["active_state"] = shown.get("ActiveState")
        service_state["sub_state"] = shown.get("SubState")
        pid = shown.get("MainPID")
        if pid and pid.isdigit() and int(pid) > 0:
            service_state["main_pid"] = int(pid)
            data = read_bytes("/proc/%s/environ" % pid) if read_bytes else None
            if data is not None:
                service_state["running_env"] = env_enabled(parse_environ(data).get(ESCAPE_ENV))
    result["service"] = service_state

    action = result["action"]
    result["notes"] = _notes(result, facts["state"], text, managed, other_sources, service)
    # The running service is compared with what it will have: ours, or set elsewhere anyway.
    effective = action if not (action == "absent" and other_sources) else "present"
    result["restart_pending"] = restart_pending(effective, service_state["active_state"], service_state["running_env"],
                                                service_state["sub_state"])
    return result


def _code_of(result):
    """The known-issue code behind the decision, with its remediation and references (lazily: the table is large)."""
    from ansible_collections.nodeprep.netfilter.plugins.module_utils._known_issues import issue
    if result["escape_hatch"] == "impossible":
        row = issue("DOCKER_BR_NETFILTER_REQUIRED_NO_ESCAPE")
        fix = ("Upgrade Docker to >= %s (the nodeprep.netfilter.package_pin role pins it, e.g. "
               "package_pin_docker_version: %s with package_pin_install: true), or make br_netfilter "
               "available and load it before dockerd starts (remove the modprobe.d block; the "
               "nodeprep.netfilter.br_netfilter role), or set icc/userland-proxy back to their defaults."
               % (result["threshold"], result["threshold"]))
        return row["code"], fix, list(row["reference"]) + list(result["source"])
    if result["action"] == "present" and result["escape_hatch"] == "needed":
        row = issue("DOCKER_BR_NETFILTER_ERROR_IGNORED")
        return row["code"], row["remediation"], list(row["reference"])
    if result["action"] == "present":
        row = issue("DOCKER_IGNORE_BR_NETFILTER_ERROR_DELIBERATE")
        return row["code"], row["remediation"], list(row["reference"])
    return None, None, list(result["source"]) if result["needed"] else []


def _notes(result, br_state, text, managed, other_sources, service):
    notes = []
    action = result["action"]
    dropin = result["dropin"]["path"]
    if action == "present" and result["escape_hatch"] == "needed":
        needs = result["needed_by"]
        notes.append("%s=1 lets dockerd %s start without br_netfilter (%s): inter-container isolation (icc=false, "
                     "networks with enable_icc=false) is NOT enforced%s." % (
                         ESCAPE_ENV, result["docker_version"], br_state,
                         " and userland-proxy=false traffic between containers is not filtered"
                         if "userland-proxy=false" in needs else ""))
    elif action == "present":
        notes.append("%s=1 is installed deliberately (mode always) for dockerd %s: where br_netfilter cannot be "
                     "loaded, icc=false networks created later start without isolation instead of failing."
                     % (ESCAPE_ENV, result["docker_version"]))
    if result["mode"] == "never" and result["escape_hatch"] in ("needed", "impossible"):
        notes.append("mode never: %s" % result["reason"])
    if result["outcome"] == "degraded":
        notes.append("dockerd %s starts, but %s." % (result["docker_version"], result["why"]))
    if action == "absent" and text is not None and not managed:
        notes.append("%s exists but was not written by this role; it is left in place." % dropin)
    if action == "absent" and other_sources:
        notes.append("%s is still set for %s by %s; remove it there if br_netfilter is now available."
                     % (ESCAPE_ENV, service, ", ".join(other_sources)))
    return notes


def _env_sources(unit):
    """Files that set DOCKER_IGNORE_BR_NETFILTER_ERROR non-empty in the unit's effective environment."""
    value = (unit.get("environment") or {}).get(ESCAPE_ENV)
    if not env_enabled(value):
        return []
    where = (unit.get("environment_sources") or {}).get(ESCAPE_ENV) or "the unit"
    return [where.rsplit(":", 1)[0] if ":" in where else where]
