# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The docker_rules_guard role bundles exactly the module_utils its checker imports (directly or lazily)."""

from __future__ import annotations

import ast
import os

import yaml

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "..")
MODULE_UTILS = os.path.join(ROOT, "plugins", "module_utils")
PREFIX = "ansible_collections.nodeprep.netfilter.plugins.module_utils"


def imported(name):
    """Names of the collection's module_utils that module_utils ``name`` imports anywhere in its source."""
    with open(os.path.join(MODULE_UTILS, name + ".py")) as handle:
        tree = ast.parse(handle.read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == PREFIX:
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PREFIX + "."):
            found.add(node.module[len(PREFIX) + 1:])
    return found


def closure(name):
    seen, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(imported(current))
    return seen


def test_the_bundle_is_the_import_closure_of_the_guard():
    with open(os.path.join(ROOT, "roles", "docker_rules_guard", "vars", "main.yml")) as handle:
        listed = yaml.safe_load(handle)["_docker_rules_guard_module_utils"]
    assert sorted(listed) == listed
    assert set(listed) == closure("_docker_rules_guard")
