# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The filter wrappers: errors become data the role prints, registered results become flat values."""

from __future__ import annotations

from ansible_collections.nodeprep.netfilter.plugins.filter.br_netfilter import FilterModule

FILTERS = FilterModule().filters()
SYSCTLS = [{"name": "net.ipv4.ip_forward", "value": 1}]


def test_settings_filter_returns_errors_instead_of_raising():
    bad = FILTERS["br_netfilter_settings"](SYSCTLS, "", "/etc/modules-load.d/k8s.conf")
    assert bad == {"ok": False, "errors": ["Invalid settings: the sysctl file must be a non-empty path."],
                   "sysctl_keys": []}
    good = FILTERS["br_netfilter_settings"](SYSCTLS, "/etc/sysctl.d/k8s.conf", "/etc/modules-load.d/k8s.conf")
    assert good == {"ok": True, "errors": [], "sysctl_keys": ["net.ipv4.ip_forward"]}


def test_settings_filter_lists_every_key_to_watch_including_the_switches():
    sysctls = SYSCTLS + [{"name": "net/ipv4/conf/eth0.100/rp_filter", "value": 1}]
    result = FILTERS["br_netfilter_settings"](sysctls, "/etc/sysctl.d/k8s.conf", "/etc/modules-load.d/k8s.conf",
                                              ipv6_forwarding=True, arptables=True)
    assert result["sysctl_keys"] == ["net.ipv4.ip_forward", "net.ipv4.conf.eth0/100.rp_filter",
                                     "net.ipv6.conf.all.forwarding", "net.bridge.bridge-nf-call-arptables"]


def test_plan_filter_turns_bad_settings_into_an_error_plan():
    result = FILTERS["br_netfilter_plan"]({}, SYSCTLS, "/etc/sysctl.conf", "/etc/modules-load.d/k8s.conf")
    assert result["invalid"] is True
    assert result["errors"][0].startswith("Invalid settings: the sysctl file must be a file directly in /etc/sysctl.d")


def test_settings_filter_refuses_a_key_with_a_trailing_newline_before_any_task_writes_it():
    # The role's first task: a block-scalar key must stop the role, not land in k8s.conf.
    result = FILTERS["br_netfilter_settings"]([{"name": "net.ipv4.ip_forward\n", "value": 1}],
                                              "/etc/sysctl.d/k8s.conf", "/etc/modules-load.d/k8s.conf")
    assert result["ok"] is False and result["sysctl_keys"] == []
    assert result["errors"] == ["Invalid settings: sysctls[0].name 'net.ipv4.ip_forward\\n' is not a sysctl key: it "
                                "contains characters a sysctl key cannot have (whitespace, '=', a leading '-' or '/') "
                                "(e.g. net.ipv4.ip_forward)."]
