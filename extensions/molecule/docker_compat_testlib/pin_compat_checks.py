# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers for the package_pin_* and docker_compat_* scenarios (testinfra ``host`` objects)."""

from __future__ import annotations

import json
import os
import re
import subprocess


def playbook(name, extra_vars=None, check=False):
    """Run playbook ``name`` of this scenario from the controller; returns (rc, recap of the instance, output)."""
    scenario = os.environ["MOLECULE_SCENARIO_DIRECTORY"]
    project = os.environ.get("MOLECULE_PROJECT_DIRECTORY", ".")
    binary = os.path.join(project, ".venv", "bin", "ansible-playbook")
    command = [binary if os.path.exists(binary) else "ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"]]
    if check:
        command += ["--check", "--diff"]
    if extra_vars:
        command += ["-e", json.dumps(extra_vars)]
    command.append(os.path.join(scenario, name))
    env = dict(os.environ)
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", os.path.join(project, "build", "collections"))
    env.update(ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    proc = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, check=False)
    recap = {}
    for line in proc.stdout.splitlines():
        match = re.match(r"^(\S+)\s+:\s+(.*)$", line)
        if match and "ok=" in match.group(2):
            recap = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", match.group(2)))
    return proc.returncode, recap, proc.stdout


def shell_session(host, commands, noise=None, quote=False):
    """{command: (rc, output)} of shell ``commands`` run one after another in a single SSH call (LC_ALL=C).

    A package manager is slow to start under TCG, so each phase's commands share one connection. Lines matching
    ``noise`` (progress and warnings that say nothing about the pins) are dropped; with ``quote`` every command
    and its output are printed, so the tool's own words end up in the molecule log (the verifier then runs -s).
    """
    script = "".join("echo '### %s'; %s 2>&1; echo \"### rc=$?\"; " % (c, c) for c in commands)
    out = host.run("export LC_ALL=C; " + script).stdout
    result = {}
    for command in commands:
        block = out.split("### %s\n" % command, 1)[1]
        text, rc = re.match(r"(.*?)### rc=(\d+)\n", block, re.S).groups()
        kept = [line for line in text.splitlines() if not (noise and noise.match(line.strip()))]
        result[command] = (int(rc), "\n".join(kept))
        if quote:
            print("\n$ %s   # rc=%d\n%s" % (command, result[command][0], result[command][1]))
    return result


def rpm_versions(host, *names):
    """``NAME EPOCH:VERSION-RELEASE`` of the installed ``names``, as rpm reports them."""
    return host.run("rpm -q --qf '%%{NAME} %%{EPOCH}:%%{VERSION}-%%{RELEASE}\\n' %s" % " ".join(names)).stdout.splitlines()


def unwrap(output):
    """Ansible output with its line wrapping undone, for searching long messages."""
    return re.sub(r"\s+", " ", output)


def sha256(host, path):
    result = host.run("sha256sum %s" % path)
    return result.stdout.split()[0] if result.rc == 0 else None


def service_state(host, unit="docker.service"):
    shown = host.run("systemctl show -p ActiveState -p SubState -p MainPID %s" % unit).stdout
    return dict(line.split("=", 1) for line in shown.splitlines() if "=" in line)


def process_env(host, pid):
    data = host.run("tr '\\0' '\\n' < /proc/%s/environ" % pid).stdout
    return dict(line.split("=", 1) for line in data.splitlines() if "=" in line)


def journal(host, unit, pid=None):
    """Messages of ``unit`` in this boot; with ``pid`` only those that process logged."""
    if pid:
        return host.run("journalctl -b --no-pager -o cat _PID=%s" % pid).stdout
    return host.run("journalctl -b --no-pager -o cat -u %s" % unit).stdout
