# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A fleet for the report tests, made the way the audit playbook makes it: br_netfilter facts gathered from the
real-host fixture trees (tests/unit/fixtures/br_netfilter), wrapped like a registered task result."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.nodeprep.netfilter.plugins.module_utils._br_netfilter import gather_br_netfilter_facts
from ansible_collections.nodeprep.netfilter.tests.unit.plugins.plugin_utils.report_fleet import (
    BLOCKED,
    BRIDGE_ONLY,
    FAILED,
    FALSE_POSITIVE,
    HEALTHY,
    UNREACHABLE,
)


@pytest.fixture
def facts(tree):
    """facts(fixture) -> br_netfilter facts gathered from that fixture tree (each tree built once per test)."""
    cache = {}

    def _facts(name):
        if name not in cache:
            cache[name] = gather_br_netfilter_facts(tree(name))
        return copy.deepcopy(cache[name])
    return _facts


@pytest.fixture
def facts_result(facts):
    """facts_result(fixture) -> the result br_netfilter_facts registers for that tree."""
    def _result(name):
        return {"changed": False, "ansible_facts": {"br_netfilter": facts(name)}}
    return _result


@pytest.fixture
def fleet(facts_result):
    return {
        "node-healthy": facts_result(HEALTHY),
        "node-false-positive": facts_result(FALSE_POSITIVE),
        "node-bridge-only": facts_result(BRIDGE_ONLY),
        "node-blocked": facts_result(BLOCKED),
        "node-down": dict(UNREACHABLE),
        "node-nopython": dict(FAILED),
    }
