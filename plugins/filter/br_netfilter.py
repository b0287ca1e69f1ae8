# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filters behind the br_netfilter and k8s_node roles; the logic is in module_utils/_br_netfilter_plan.py.

Documentation: the sidecar files named after each filter (br_netfilter_plan.yml ...).
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.nodeprep.netfilter.plugins.module_utils._br_netfilter_plan import (
    PlanError,
    check_settings,
    k8s_node_readiness,
    plan_br_netfilter,
    sysctl_keys_of,
    verify_br_netfilter,
)


def br_netfilter_plan(facts, sysctls, sysctl_file, modules_load_file, extra_modules=None,
                      accept_overrides=False, unavailable_action="fail", ipv6_forwarding=False, arptables=False):
    try:
        return plan_br_netfilter(facts, sysctls, sysctl_file, modules_load_file, extra_modules or [],
                                 accept_overrides=bool(accept_overrides), unavailable_action=unavailable_action,
                                 ipv6_forwarding=bool(ipv6_forwarding), arptables=bool(arptables))
    except PlanError as exc:
        # A plan that only carries the error: the role's "Stop before any change" task prints it cleanly.
        return {"errors": ["Invalid settings: %s." % exc], "warnings": [], "notes": [], "invalid": True}


def br_netfilter_settings(sysctls, sysctl_file, modules_load_file, extra_modules=None, unavailable_action="fail",
                          ipv6_forwarding=False, arptables=False):
    try:
        entries, _modules = check_settings(sysctls, sysctl_file, modules_load_file, extra_modules or [],
                                           unavailable_action, bool(ipv6_forwarding), bool(arptables))
    except PlanError as exc:
        return {"ok": False, "errors": ["Invalid settings: %s." % exc], "sysctl_keys": []}
    return {"ok": True, "errors": [], "sysctl_keys": sysctl_keys_of(entries)}


def br_netfilter_verify(facts, plan):
    if not isinstance(plan, dict) or "promised" not in plan:
        raise AnsibleFilterError("br_netfilter_verify: plan must be the result of br_netfilter_plan")
    return verify_br_netfilter(plan, facts)


def k8s_node_ready(facts, dual_stack=False, overlay=False):
    return k8s_node_readiness(facts, dual_stack=bool(dual_stack), overlay=bool(overlay))


class FilterModule(object):

    def filters(self):
        return {
            "br_netfilter_plan": br_netfilter_plan,
            "br_netfilter_settings": br_netfilter_settings,
            "br_netfilter_verify": br_netfilter_verify,
            "k8s_node_readiness": k8s_node_ready,
        }
