# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import re

import yaml

from ansible_collections.nodeprep.netfilter.plugins.module_utils._known_issues import KNOWN_ISSUES
from ansible_collections.nodeprep.netfilter.plugins.modules import docker_iptables_audit


def test_documentation_lists_exactly_the_codes_of_the_known_issue_table():
    doc = yaml.safe_load(docker_iptables_audit.DOCUMENTATION)
    line = [item for item in doc["description"] if item.startswith("Finding codes:")][0]
    documented = re.findall(r"\b[A-Z][A-Z0-9_]{3,}\b", line.split(".")[0])
    assert documented == [row["code"] for row in KNOWN_ISSUES]


def test_fail_on_choices_are_the_severities_that_can_fail():
    doc = yaml.safe_load(docker_iptables_audit.DOCUMENTATION)
    assert doc["options"]["fail_on"]["choices"] == ["none", "low", "medium", "high"]
    assert doc["options"]["fail_on"]["default"] == "none"


def test_documented_deadlines_are_the_ones_the_code_applies():
    from ansible_collections.nodeprep.netfilter.plugins.module_utils import _docker_api, _docker_collect, _subprocess
    doc = yaml.safe_load(docker_iptables_audit.DOCUMENTATION)
    note = [item for item in doc["notes"] if item.startswith("Deadlines:")][0]
    assert "deadline of %d seconds" % _docker_collect.COMMAND_TIMEOUT in note
    assert "%d MiB" % (_subprocess.MAX_OUTPUT_BYTES // 2 ** 20) in note
    assert "rc %d" % _subprocess.RC_TIMEOUT in note and "rc %d" % _subprocess.RC_TOO_MUCH_OUTPUT in note
    assert "%g seconds per request and %g seconds" % (_docker_api.REQUEST_DEADLINE, _docker_api.QUERY_DEADLINE) in note


def test_the_module_runs_commands_through_the_bounded_runner_not_run_command():
    import inspect
    source = inspect.getsource(docker_iptables_audit.main)
    assert "run_command" not in source.replace("Not module.run_command", "")
    assert "bounded_runner(COMMAND_TIMEOUT)" in source
