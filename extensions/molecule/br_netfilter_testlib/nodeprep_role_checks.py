# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Independent readers for the br_netfilter / k8s_node scenarios (testinfra ``host`` objects)."""

from __future__ import annotations

import os
import re
import subprocess

REBOOT_MARKER = "/var/lib/nodeprep-test/rebooted"


def rebooted(host):
    return host.file(REBOOT_MARKER).exists


def sysctl(host, key):
    """Live value read from /proc/sys, or None when the key does not exist."""
    path = "/proc/sys/" + key.replace(".", "/")
    if not host.file(path).exists:
        return None
    return host.file(path).content_string.strip()


def module_state(host, name):
    """'live' for a loaded module, 'builtin' for /sys/module/<name> without initstate, None when absent."""
    if host.file("/sys/module/%s/initstate" % name).exists:
        return host.file("/sys/module/%s/initstate" % name).content_string.strip()
    return "builtin" if host.file("/sys/module/%s" % name).exists else None


def config_lines(host, path):
    """Non-comment, non-blank lines of a configuration file."""
    return [line.strip() for line in host.file(path).content_string.splitlines()
            if line.strip() and not line.strip().startswith(("#", ";"))]


def boot_journal(host, unit):
    return host.run("journalctl -b --no-pager -o cat -u %s" % unit).stdout


def playbook(*args, check=False, extra_vars=None):
    """Run a playbook of this scenario from the controller against the molecule inventory.

    Returns (returncode, recap dict of the instance, full output).
    """
    scenario = os.environ["MOLECULE_SCENARIO_DIRECTORY"]
    venv_bin = os.path.join(os.environ.get("MOLECULE_PROJECT_DIRECTORY", "."), ".venv", "bin", "ansible-playbook")
    command = [venv_bin if os.path.exists(venv_bin) else "ansible-playbook",
               "-i", os.environ["MOLECULE_INVENTORY_FILE"]]
    if check:
        command.append("--check")
    for key, value in (extra_vars or {}).items():
        command += ["-e", "%s=%s" % (key, value)]
    command += [os.path.join(scenario, arg) if not os.path.isabs(arg) else arg for arg in args]
    env = dict(os.environ)
    env.setdefault("ANSIBLE_COLLECTIONS_PATH",
                   os.path.join(os.environ.get("MOLECULE_PROJECT_DIRECTORY", "."), "build", "collections"))
    env.update(ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_CALLBACK_RESULT_FORMAT="json")
    proc = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, check=False)
    recap = {}
    for line in proc.stdout.splitlines():
        match = re.match(r"^(\S+)\s+:\s+(.*)$", line)
        if match and "ok=" in match.group(2):
            recap = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", match.group(2)))
    return proc.returncode, recap, proc.stdout
