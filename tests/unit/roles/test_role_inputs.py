# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Roles stop on a hostile name in their first checking task, before any task changes anything.

Real ``ansible-playbook --check`` runs against this machine through the local connection. Every task up to the
failure only reads (facts, plan modules, set_fact), and the bad value fails the first task that applies the shared
name rules, so nothing on the machine is touched even without check mode. argument_specs cannot express these rules
(they have no pattern type), which is why each role's first checking task is a module or filter call.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

import ansible_collections.nodeprep.netfilter as collection

PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
COLLECTIONS = os.path.dirname(os.path.dirname(os.path.dirname(list(collection.__path__)[0])))

pytestmark = pytest.mark.skipif(not os.path.exists(PLAYBOOK), reason="ansible-playbook is not installed next to python")


def run_role(tmp_path, role, variables):
    """``ansible-playbook --check`` of one role on localhost; returns (rc, output)."""
    lines = ["- hosts: localhost", "  connection: local", "  gather_facts: false", "  roles:",
             "    - role: nodeprep.netfilter.%s" % role]
    (tmp_path / "play.yml").write_text("\n".join(lines) + "\n")
    # Variables go in as JSON so a value keeps its trailing newline exactly as a YAML block scalar would give it.
    (tmp_path / "vars.json").write_text(json.dumps(variables))
    env = dict(os.environ, ANSIBLE_NOCOWS="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_COLLECTIONS_PATH=COLLECTIONS,
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    completed = subprocess.run(
        [PLAYBOOK, "--check", "-i", "localhost,", "-e", "ansible_python_interpreter=%s" % sys.executable,
         "-e", "@%s" % (tmp_path / "vars.json"), str(tmp_path / "play.yml")],
        cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False,
        timeout=300)
    return completed.returncode, completed.stdout


def failed_task(output):
    """Name of the task that failed (the last TASK header before 'fatal:')."""
    head = output[:output.index("fatal: [localhost]")]
    return re.findall(r"^TASK \[[^\]:]+ : (.+?)\] \*+$", head, re.MULTILINE)[-1]


def assert_stopped_unchanged(rc, output, task, message):
    assert rc == 2, output[-3000:]
    assert failed_task(output) == task, output[-3000:]
    assert message in output, output[-3000:]
    assert re.search(r"localhost\s+: ok=\d+\s+changed=0\s+unreachable=0\s+failed=1", output), output[-3000:]


def test_package_pin_stops_on_a_package_name_with_a_trailing_newline(tmp_path):
    rc, output = run_role(tmp_path, "package_pin", {
        "package_pin_pkg_mgr": "apt",
        "package_pin_forbid": [{"packages": ["docker-ce\n"], "versions": ["27.3.1"]}]})
    assert_stopped_unchanged(rc, output, "Plan the pin set", "forbid[0]: 'docker-ce\\\\n' is not a Debian package name")


def test_package_pin_checks_before_refreshing_the_apt_cache(tmp_path):
    rc, output = run_role(tmp_path, "package_pin", {
        "package_pin_pkg_mgr": "dnf", "package_pin_dnf_method": "excludepkgs", "package_pin_update_cache": True,
        "package_pin_forbid": [{"packages": ["docker-ce"], "versions": ["1.0,kernel"]}]})
    assert_stopped_unchanged(rc, output, "Check the pin set before refreshing the apt cache",
                             "forbid[0]: '1.0,kernel' is not an RPM version")
    assert "Refresh the apt cache" not in output


def test_docker_compat_stops_on_a_traversing_service_name(tmp_path):
    rc, output = run_role(tmp_path, "docker_br_netfilter_compat", {"docker_br_netfilter_compat_service": "../../../tmp/x"})
    assert_stopped_unchanged(rc, output, "Decide whether Docker needs DOCKER_IGNORE_BR_NETFILTER_ERROR",
                             "service: '../../../tmp/x' is not a systemd unit name")
    assert "Install the DOCKER_IGNORE_BR_NETFILTER_ERROR drop-in" not in output


def test_br_netfilter_stops_on_a_sysctl_key_with_a_trailing_newline(tmp_path):
    rc, output = run_role(tmp_path, "br_netfilter", {
        "br_netfilter_sysctls": [{"name": "net.ipv4.ip_forward\n", "value": 1}]})
    assert_stopped_unchanged(rc, output, "Stop on invalid settings",
                             "sysctls[0].name 'net.ipv4.ip_forward\\\\n' is not a sysctl key")


def test_package_pin_accepts_dnf5_and_refuses_it_where_there_is_none(tmp_path):
    # This machine has no dnf5: the lock would be read by nobody, so the plan stops before any change.
    rc, output = run_role(tmp_path, "package_pin", {"package_pin_pkg_mgr": "dnf5", "package_pin_presets": ["docker"]})
    assert_stopped_unchanged(rc, output, "Plan the pin set", "dnf5 was asked for, but no dnf5 command was found")
