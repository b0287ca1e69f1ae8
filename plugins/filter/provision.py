# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filters behind the provisioning playbook; the logic is in plugin_utils/_provision.py.

Documentation: the sidecar files named after each filter (provision_restart.yml ...).
"""

from __future__ import annotations

from ansible_collections.nodeprep.netfilter.plugins.plugin_utils._provision import (
    DEFAULT_PROFILE,
    health,
    reboot_mismatches,
    restart_decision,
)


def provision_restart(before, facts_now=None, compat_result=None, profile=DEFAULT_PROFILE):
    return restart_decision(before, facts_now or {}, compat_result or {}, profile or DEFAULT_PROFILE)


def provision_health(result):
    return health(result)


def provision_reboot_check(predicted, actual):
    mismatches = reboot_mismatches(predicted, actual)
    return {"ok": not mismatches, "mismatches": mismatches}


class FilterModule(object):

    def filters(self):
        return {
            "provision_restart": provision_restart,
            "provision_health": provision_health,
            "provision_reboot_check": provision_reboot_check,
        }
