# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The audit_report action plugin in a real ansible-playbook run: hosts the inventory does not know."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import ansible_collections.nodeprep.netfilter as collection

PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
COLLECTIONS = os.path.dirname(os.path.dirname(os.path.dirname(list(collection.__path__)[0])))

pytestmark = pytest.mark.skipif(not os.path.exists(PLAYBOOK), reason="ansible-playbook is not installed next to python")

PLAY = """- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Register an audit result that fails
      ansible.builtin.set_fact:
        nodeprep_audit_result: {failed: true, msg: boom}
    - name: Report
      nodeprep.netfilter.audit_report:
        hosts: %s
        dest: %s
        fail_task: false
        show_details: false
"""


def run_report(tmp_path, hosts, inventory="localhost,"):
    (tmp_path / "play.yml").write_text(PLAY % (json.dumps(hosts), tmp_path / "reports"))
    env = dict(os.environ, ANSIBLE_NOCOWS="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_COLLECTIONS_PATH=COLLECTIONS,
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    argv = [PLAYBOOK, "-e", "ansible_python_interpreter=%s" % sys.executable, str(tmp_path / "play.yml")]
    if inventory:
        argv[1:1] = ["-i", inventory]
    completed = subprocess.run(argv, cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, check=False, timeout=300)
    return completed.returncode, completed.stdout


def test_a_host_missing_from_the_inventory_is_reported_not_run(tmp_path):
    # ansible-core 2.19 used to end this in ReferenceError: "A required TemplateContext context is not active".
    rc, output = run_report(tmp_path, ["localhost", "ghost.example", "../x"])
    assert rc == 0, output[-3000:]
    assert "TemplateContext" not in output and "Traceback" not in output
    assert "3 of the hosts" not in output
    assert "audit_report: 2 of the hosts are not in the inventory and are reported as not audited: ghost.example, ../x" \
        in output.replace("\n", " ")
    report = json.loads((tmp_path / "reports" / "report.json").read_text())
    by_name = dict((host["host"], host) for host in report["hosts"])
    assert by_name["localhost"]["status"] == "failed"
    assert by_name["ghost.example"]["status"] == "not_run"
    assert by_name["../x"]["status"] == "not_run"


def test_the_implicit_localhost_still_counts_without_an_inventory(tmp_path):
    rc, output = run_report(tmp_path, ["localhost"], inventory=str(tmp_path / "no-such-inventory"))
    assert rc == 0, output[-3000:]
    assert "not in the inventory" not in output
    report = json.loads((tmp_path / "reports" / "report.json").read_text())
    assert [host["status"] for host in report["hosts"]] == ["failed"]
