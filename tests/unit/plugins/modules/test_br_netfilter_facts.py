# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The thin module: argument handling, exit shape, clear failures."""

from __future__ import annotations

import json
import os

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.nodeprep.netfilter.plugins.modules import br_netfilter_facts

FIXTURES = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "br_netfilter"))


def run_module(capsys, args):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exc:
            br_netfilter_facts.main()
    return exc.value.code, json.loads(capsys.readouterr().out)


def test_module_publishes_facts_and_never_changes(capsys, tree):
    rc, result = run_module(capsys, {"root": tree("trixie-6.12-state-c-bridge-br_netfilter"),
                                     "_ansible_check_mode": True})
    assert rc == 0
    assert result["changed"] is False
    assert result["ansible_facts"]["br_netfilter"]["state"] == "loaded"


def test_module_fails_clearly_on_missing_root(capsys):
    rc, result = run_module(capsys, {"root": os.path.join(FIXTURES, "no-such-tree")})
    assert rc == 1
    assert result["failed"] is True
    assert "does not exist or is not a directory" in result["msg"]


def test_module_rejects_relative_managed_file(capsys):
    rc, result = run_module(capsys, {"managed_sysctl_file": "k8s.conf"})
    assert rc == 1
    assert result["msg"] == "managed_sysctl_file must be an absolute path as seen on the target, got 'k8s.conf'"


def test_module_watches_the_extra_sysctl_keys(capsys, make_tree):
    root = make_tree("derived-trixie-6.12-persisted-k8s", {"proc/sys/net/ipv4/conf/all/rp_filter": "2\n"})
    rc, result = run_module(capsys, {"root": root, "sysctl_keys": ["net/ipv4/conf/all/rp_filter"]})
    assert rc == 0
    facts = result["ansible_facts"]["br_netfilter"]
    assert facts["live"]["net.ipv4.conf.all.rp_filter"] == 2
    assert facts["after_reboot"]["net.ipv4.conf.all.rp_filter"] is None
    assert facts["after_reboot_unknown"] == ["net.ipv4.conf.all.rp_filter"]
    assert facts["modules"]["overlay"]["state"] == "loadable"


def test_module_rejects_a_glob_key_naming_it(capsys, tree):
    rc, result = run_module(capsys, {"root": tree("trixie-6.12-state-a-nothing-loaded"),
                                     "sysctl_keys": ["net.ipv4.ip_forward", "net.ipv4.conf.*.rp_filter"]})
    assert rc == 1
    assert result["msg"].startswith("sysctl_keys: 'net.ipv4.conf.*.rp_filter' is a glob pattern")


def test_module_rejects_a_key_with_a_trailing_newline(capsys, tree):
    # A YAML block scalar's newline; '$' used to let it through to the sysctl.d comparison.
    rc, result = run_module(capsys, {"root": tree("trixie-6.12-state-a-nothing-loaded"),
                                     "sysctl_keys": ["net.ipv4.ip_forward\n"]})
    assert rc == 1
    assert result["msg"].startswith("sysctl_keys: 'net.ipv4.ip_forward\\n' contains characters a sysctl key cannot have")
