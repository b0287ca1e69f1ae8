# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The Docker rules guard: after boot, are Docker's rules there, and is one restart of dockerd due? No Ansible import.

The role ``docker_rules_guard`` installs this file, with the module_utils it imports, next to a small checker that a
systemd oneshot unit runs after ``docker.service`` at every boot. The checker calls ``main()``.

What "the rules are there" means is not decided here: the guard runs the same collection and audit as
``docker_iptables_audit`` (``_docker_collect.collect`` and ``_docker_audit.audit``), so the guard and the audit never
disagree about a host. The guard acts on the audit's rule findings listed in ``RESTART_CODES``: Docker's chains,
the jumps to them, MASQUERADE per bridge network and the DNAT rule of every running container's published port, in
IPv4 and, where dockerd writes ip6tables rules and a network has IPv6, in IPv6.

The decisions are pure functions (``verdict``, ``decide``, ``parse_state``); ``run_guard`` strings them together
with every side effect injected (the probe, the restart, the state file, the clock), so tests drive it with fakes.
A restart happens at most once per boot (the state file records the boot_id) and never sooner than
``min_interval`` seconds after the last one, so the guard cannot loop.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time

#: Audit findings that mean "Docker's rules are incomplete", which a restart of dockerd recreates (code -> what).
RESTART_CODES = {
    "DOCKER_RULES_ABSENT": "no Docker chain at all",
    "DOCKER_CHAIN_MISSING": "a Docker chain is missing",
    "DOCKER_JUMP_MISSING": "a jump to a Docker chain is missing",
    "DOCKER_MASQUERADE_MISSING": "a MASQUERADE rule of a Docker network is missing",
    "DOCKER_DNAT_MISSING": "a published port has no DNAT rule and nothing else forwards it",
    "DOCKER_DNAT_MISSING_PROXIED": "a published port has no DNAT rule (docker-proxy still answers it)",
}

SERVICE = "docker.service"
SOCKET = "/var/run/docker.sock"
STATE_FILE = "/var/lib/nodeprep-docker-rules-guard/last-restart.json"
BOOT_ID_FILE = "/proc/sys/kernel/random/boot_id"
#: Defaults of the checker's options (the role's argument_specs carry the same numbers).
ENGINE_TIMEOUT = 120.0
SETTLE_TIMEOUT = 60.0
RESTART_TIMEOUT = 180.0
MIN_INTERVAL = 600.0
POLL_SECONDS = 2.0
SBIN_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/local/bin", "/usr/bin", "/bin")

EXIT_OK = 0
EXIT_RULES_STILL_MISSING = 1
EXIT_USAGE = 2


def verdict(audit_result):
    """``{"missing": [finding...], "checked": str, "skipped": reason or None}`` from ``_docker_audit.audit``'s result.

    ``skipped`` names why the audit did not check Docker's rules at all (Docker absent, the engine down, iptables=false,
    ...): then nothing is missing as far as the guard can tell, and nothing is done.
    """
    summary = audit_result.get("summary") or {}
    missing = [item for item in audit_result.get("findings") or [] if item.get("code") in RESTART_CODES]
    rule_checks = summary.get("rule_checks") or "skipped: the audit said nothing about the rules"
    skipped = rule_checks[len("skipped: "):] if rule_checks.startswith("skipped: ") else None
    ip6 = summary.get("ip6tables") or {}
    parts = ["Docker's chains and jumps", "%d published port(s) (IPv4)" % (summary.get("published_ports_checked") or 0)]
    if ip6.get("rule_checks") == "done":
        parts.append("%d published port(s) (IPv6)" % (ip6.get("published_ports_checked") or 0))
    else:
        parts.append("IPv6 not checked (%s)" % (ip6.get("rule_checks") or "unknown").replace("skipped: ", "", 1))
    return {"missing": missing, "checked": ", ".join(parts), "skipped": skipped}


def parse_state(text):
    """The state file's ``{"boot_id": str, "time": float, "why": str}``; ``(state, problem)``.

    An absent file (``text`` None) is no earlier restart. A corrupt one is reported and also treated as no earlier
    restart: the guard rewrites the file before it restarts anything, so a corrupt file cannot repeat.
    """
    if text is None:
        return None, None
    try:
        data = json.loads(text)
    except ValueError as exc:
        return None, "state file unreadable (%s): treated as no earlier restart" % exc
    if not isinstance(data, dict) or not isinstance(data.get("boot_id"), str) \
            or not isinstance(data.get("time"), (int, float)) or isinstance(data.get("time"), bool):
        return None, "state file holds no boot_id and time: treated as no earlier restart"
    return {"boot_id": data["boot_id"], "time": float(data["time"]), "why": str(data.get("why") or "")}, None


def state_text(boot_id, now, why):
    return json.dumps({"boot_id": boot_id, "time": now, "why": why}, sort_keys=True) + "\n"


def decide(found, state, boot_id, now, min_interval=MIN_INTERVAL, restart_allowed=True):
    """``{"action": "none" | "restart" | "hold" | "report", "reason": str}``.

    ``found`` is ``verdict()``'s result. ``hold``: rules are missing but a restart already happened in this boot, or
    less than ``min_interval`` seconds ago. ``report``: rules are missing and restarts are not allowed.
    """
    if found["skipped"]:
        return {"action": "none", "reason": "Docker's rules not checked: %s; nothing to do" % found["skipped"]}
    if not found["missing"]:
        return {"action": "none", "reason": "healthy: %s are in place; nothing to do" % found["checked"]}
    why = describe_missing(found["missing"])
    if state is not None and state["boot_id"] == boot_id:
        return {"action": "hold", "reason": "%s; %s was already restarted once in this boot, not again"
                % (why, SERVICE)}
    if state is not None and 0 <= now - state["time"] < min_interval:
        return {"action": "hold", "reason": "%s; the last restart of %s was %d s ago (minimum interval %d s), not again"
                % (why, SERVICE, now - state["time"], min_interval)}
    if not restart_allowed:
        return {"action": "report", "reason": "%s; restarts are not allowed, %s left alone" % (why, SERVICE)}
    return {"action": "restart", "reason": why}


def describe_missing(missing):
    """One line: how many rule findings, and each finding's message."""
    return "Docker's rules are incomplete (%d finding(s)): %s" % (
        len(missing), " | ".join("%s: %s" % (item["code"], item.get("message", "")) for item in missing))


def wait_for_engine(ping, timeout, clock=time.monotonic, sleep=time.sleep, poll=POLL_SECONDS):
    """Ask ``ping()`` (raises on failure) until it answers or ``timeout`` s pass; ``(answered, seconds, last_error)``."""
    started = clock()
    error = None
    while True:
        try:
            ping()
            return True, clock() - started, None
        except Exception as exc:  # any failure to answer is "not yet"; the last one is reported
            error = str(exc)
        if clock() - started + poll > timeout:
            return False, clock() - started, error
        sleep(poll)


def run_guard(options, probe, restart, ping, read_state, write_state, boot_id, say,
              clock=time.monotonic, wall=time.time, sleep=time.sleep):
    """One run of the guard; returns the exit code. Every side effect is a parameter:

    ``probe()`` -> ``_docker_audit.audit`` result; ``restart()`` -> ``(ok, detail)``; ``ping()`` raises until the
    engine answers; ``read_state()`` -> text or None; ``write_state(text)``; ``say(line)`` writes to the journal.
    """
    answered, seconds, error = wait_for_engine(ping, options["engine_timeout"], clock, sleep)
    if not answered:
        say("the Docker engine did not answer within %d s (%s); nothing checked, nothing done"
            % (options["engine_timeout"], error))
        return EXIT_OK
    say("the Docker engine answered after %.1f s" % seconds)
    found = verdict(probe())
    state, problem = parse_state(read_state())
    if problem:
        say(problem)
    decision = decide(found, state, boot_id, wall(), options["min_interval"], not options["dry_run"])
    if decision["action"] == "none":
        say(decision["reason"])
        return EXIT_OK
    if decision["action"] in ("hold", "report"):
        say(decision["reason"])
        return EXIT_RULES_STILL_MISSING
    say("restarting %s once (at most once per boot): %s" % (SERVICE, decision["reason"]))
    write_state(state_text(boot_id, wall(), decision["reason"]))
    ok, detail = restart()
    if not ok:
        say("the restart of %s failed: %s" % (SERVICE, detail))
        return EXIT_RULES_STILL_MISSING
    return _after_restart(options, probe, ping, say, clock, sleep)


def _after_restart(options, probe, ping, say, clock, sleep):
    """Check again until the rules are back or ``settle_timeout`` passes (restarted containers take a moment)."""
    started = clock()
    while True:
        answered, _seconds, error = wait_for_engine(ping, options["engine_timeout"], clock, sleep)
        found = verdict(probe()) if answered else None
        if found is not None and not found["missing"] and not found["skipped"]:
            say("%s restarted; Docker's rules are back: %s are in place" % (SERVICE, found["checked"]))
            return EXIT_OK
        if clock() - started + POLL_SECONDS > options["settle_timeout"]:
            if found is None:
                why = "the engine did not answer (%s)" % error
            elif found["skipped"]:
                why = "the rules could not be checked (%s)" % found["skipped"]
            else:
                why = describe_missing(found["missing"])
            say("%s restarted, but after %d s: %s; not restarting again in this boot"
                % (SERVICE, options["settle_timeout"], why))
            return EXIT_RULES_STILL_MISSING
        sleep(POLL_SECONDS)


def parse_args(argv):
    """``--self-test``, ``--dry-run``, ``--engine-timeout S``, ``--settle-timeout S``, ``--restart-timeout S``, ``--min-interval S``,
    ``--socket PATH``, ``--state-file PATH``; ``(options, error)``."""
    options = {"self_test": False, "dry_run": False, "engine_timeout": ENGINE_TIMEOUT, "settle_timeout": SETTLE_TIMEOUT,
               "restart_timeout": RESTART_TIMEOUT, "min_interval": MIN_INTERVAL, "socket": SOCKET,
               "state_file": STATE_FILE}
    numbers = {"--engine-timeout": "engine_timeout", "--settle-timeout": "settle_timeout",
               "--restart-timeout": "restart_timeout", "--min-interval": "min_interval"}
    paths = {"--socket": "socket", "--state-file": "state_file"}
    words = list(argv)
    while words:
        word = words.pop(0)
        if word in ("--dry-run", "--self-test"):
            options[word[2:].replace("-", "_")] = True
            continue
        if word not in numbers and word not in paths:
            return None, "unknown option %r" % word
        if not words:
            return None, "%s needs a value" % word
        value = words.pop(0)
        if word in paths:
            if not value.startswith("/"):
                return None, "%s needs an absolute path, not %r" % (word, value)
            options[paths[word]] = value
            continue
        try:
            number = float(value)
        except ValueError:
            return None, "%s needs a number of seconds, not %r" % (word, value)
        if not 0 <= number < float("inf"):  # also refuses nan
            return None, "%s needs a finite number of seconds >= 0, not %r" % (word, value)
        options[numbers[word]] = number
    return options, None


# --- the host: real side effects, used by main() only ---------------------------------------------------------

def _which(name):
    if os.path.isabs(name):
        return name if os.access(name, os.X_OK) else None
    return shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", "")] + list(SBIN_DIRS)))


def _read(path):
    try:
        with open(path) as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def _write_atomic(path, text):
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(argv=None):
    """The installed checker's entry point (imports the collection's collector, audit and engine client)."""
    from ansible_collections.nodeprep.netfilter.plugins.module_utils._docker_api import http_get
    from ansible_collections.nodeprep.netfilter.plugins.module_utils._docker_audit import audit
    from ansible_collections.nodeprep.netfilter.plugins.module_utils._docker_collect import bounded_runner, collect
    from ansible_collections.nodeprep.netfilter.plugins.module_utils._subprocess import run_bounded

    options, error = parse_args(sys.argv[1:] if argv is None else argv)
    if error:
        _say("usage error: %s" % error)
        return EXIT_USAGE
    if options["self_test"]:
        # The modules the audit imports lazily, so that a missing or broken one shows now and not at boot.
        from ansible_collections.nodeprep.netfilter.plugins.module_utils import _br_netfilter_need, _docker_checks, _versions
        del _br_netfilter_need, _docker_checks, _versions
        _say("self-test: the checker and the collection's audit it runs import cleanly")
        return EXIT_OK

    def probe():
        # The same collection and audit as docker_iptables_audit (br_netfilter facts aside: no rule depends on them).
        return audit(collect(root="/", run=bounded_runner(), which=_which, socket_path=options["socket"]))

    def restart():
        rc, out, err = run_bounded(["systemctl", "restart", SERVICE], timeout=options["restart_timeout"])
        return rc == 0, (err or out).strip() or "rc %d" % rc

    return run_guard(
        options, probe=probe, restart=restart,
        ping=lambda: http_get(options["socket"], "/version", timeout=5.0),
        read_state=lambda: _read(options["state_file"]),
        write_state=lambda text: _write_atomic(options["state_file"], text),
        boot_id=(_read(BOOT_ID_FILE) or "unknown").strip(), say=_say)
