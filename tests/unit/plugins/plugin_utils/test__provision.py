# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The provisioning playbook's decisions: input checks, the one Docker restart, the health gate, the reboot check."""

from __future__ import annotations

import pytest

from ansible_collections.nodeprep.netfilter.plugins.plugin_utils._provision import (
    check_host,
    check_inputs,
    check_settings,
    health,
    reboot_mismatches,
    restart_decision,
)

GOOD = {"serial": [1, "20%"], "max_fail_percentage": 0, "order": "inventory", "reboot": "none", "fail_on": "high",
        "health_retries": 12, "health_delay": 5}


def settings(**changes):
    return dict(GOOD, **changes)


def test_default_settings_pass():
    assert check_settings(GOOD) == []


@pytest.mark.parametrize("serial", [1, "3", "20%", "100%", [1, 5], [1, "25%", "100%"], "12.5%"])
def test_batch_sizes_accepted(serial):
    assert check_settings(settings(serial=serial)) == []


@pytest.mark.parametrize("serial, message", [
    (0, "provision_serial must be at least 1 host, got 0"),
    ("0", "provision_serial must be at least 1 host, got 0"),
    ([1, 0], "provision_serial[1] must be at least 1 host"),
    ("0%", "provision_serial must be a percentage above 0% and at most 100%"),
    ("150%", "provision_serial must be a percentage above 0% and at most 100%"),
    (-1, "provision_serial must be at least 1 host, got -1"),
    ([], "provision_serial must name at least one batch size"),
    (True, "provision_serial must be a number of hosts or a percentage, got True"),
    ("some", "provision_serial must be a number of hosts (1, 5) or a percentage"),
])
def test_bad_batch_sizes_are_refused(serial, message):
    errors = check_settings(settings(serial=serial))
    assert any(error.startswith(message) for error in errors), errors


@pytest.mark.parametrize("key, value, message", [
    ("max_fail_percentage", 101, "provision_max_fail_percentage must be a number from 0 to 100"),
    ("max_fail_percentage", "x", "provision_max_fail_percentage must be a number from 0 to 100"),
    ("order", "random", "provision_order must be one of inventory, reverse_inventory"),
    ("reboot", "yes", "provision_reboot must be one of none, canary, all"),
    ("fail_on", "critical", "provision_fail_on must be one of none, info, low, medium, high"),
    ("health_retries", 0, "provision_health_retries must be an integer >= 1"),
    ("health_delay", -1, "provision_health_delay must be an integer >= 0"),
])
def test_bad_settings_are_refused(key, value, message):
    errors = check_settings(settings(**{key: value}))
    assert len(errors) == 1 and errors[0].startswith(message), errors


def test_string_numbers_from_extra_vars_are_accepted():
    assert check_settings(settings(max_fail_percentage="25", health_retries="3", health_delay="0")) == []


def test_a_host_with_defaults_passes():
    assert check_host("node1", {}) == []


@pytest.mark.parametrize("host_vars, message", [
    ({"provision_profile": "kubernetes"}, "node1: unknown provision_profile 'kubernetes'"),
    ({"provision_pin_presets": ["dockr"]}, "node1: pins: unknown preset 'dockr'"),
    ({"provision_pin_presets": "docker"}, "node1: provision_pin_presets must be a list"),
    ({"package_pin_pins": [{"packages": ["iptables"], "version": "1.8.10-1"},
                           {"packages": ["iptables"], "version": "1.8.10-2"}]},
     "node1: pins: iptables is pinned twice, to 1.8.10-1 (pins[0]) and to 1.8.10-2 (pins[1])"),
    ({"package_pin_pins": [{"packages": ["curl"], "version": "8.14.1-2"}],
      "package_pin_forbid": [{"packages": ["curl"], "versions": ["8.14.1-2"]}]},
     "node1: pins: curl 8.14.1-2 is both pinned (pins[0]) and forbidden"),
    ({"package_pin_pins": [{"packages": ["iptables"], "version": "1.8.11-1"}]},
     "node1: pins: refusing to pin iptables 1.8.11-1; it is known bad"),
    ({"package_pin_docker_version": "27.3.1"}, "node1: pins: refusing to pin Docker 27.3.1"),
    ({"package_pin_docker_version": "v28"}, "node1: pins: docker_version 'v28' is malformed"),
    ({"package_pin_docker_version": "28.5.2",
      "package_pin_pins": [{"packages": ["docker-ce"], "version": "5:27.5.1-1~debian.13~trixie"}]},
     "node1: pins: docker-ce is pinned twice: to Docker 28.5.2"),
    ({"package_pin_pins": [{"packages": ["foo bar"], "version": "1.0-1"}]}, "node1: pins: pins[0]: 'foo bar'"),
])
def test_bad_host_inputs_are_refused(host_vars, message):
    host_vars = dict({"provision_pin_presets": ["iptables"]}, **host_vars) if "provision_pin_presets" not in host_vars \
        else host_vars
    errors = check_host("node1", host_vars)
    assert any(error.startswith(message) for error in errors), errors


def test_a_known_bad_pin_that_is_allowed_passes():
    host_vars = {"provision_pin_presets": ["iptables"], "package_pin_docker_version": "27.3.1",
                 "package_pin_allow_known_bad": ["DOCKER_27_3_BR_NETFILTER_DETECTION"]}
    assert check_host("node1", host_vars) == []


def test_an_rpm_name_with_capitals_is_left_to_the_host_when_the_manager_is_auto():
    assert check_host("node1", {"provision_pin_presets": [],
                                "package_pin_pins": [{"packages": ["NetworkManager"], "version": "1.46.0-1.el9"}]}) == []


def test_verify_only_hosts_have_no_pins_to_check():
    assert check_host("node1", {"provision_profile": "verify_only", "package_pin_docker_version": "27.3.1"}) == []


def test_check_inputs_names_every_problem_and_an_empty_target():
    errors = check_inputs(settings(serial=0), [("a", {"provision_profile": "x"}), ("b", {"provision_profile": "y"})])
    assert len(errors) == 3
    assert check_inputs(GOOD, [])[0].startswith("provision_hosts matches no host")


# ------------------------------------------------------------------ the one restart

def before(engine_running=True, docker=True, ready=True):
    return {"summary": {"docker_present": docker, "engine_running": engine_running},
            "br_netfilter": {"ready": ready}}


def test_no_restart_without_docker_or_with_verify_only():
    pending = {"restart_pending": True}
    assert restart_decision(before(docker=False), {"ready": True}, pending) == {"restart": False, "reasons": []}
    assert restart_decision(before(), {"ready": True}, pending, "verify_only")["restart"] is False


def test_restart_when_the_escape_hatch_changed_what_dockerd_reads():
    decision = restart_decision(before(), {"ready": False}, {"restart_pending": True, "reason": "drop-in installed"})
    assert decision["restart"] is True
    assert decision["reasons"] == ["the Docker unit's environment changed (drop-in installed)"]


def test_restart_when_br_netfilter_became_ready_and_the_engine_was_down():
    decision = restart_decision(before(engine_running=False, ready=False), {"ready": True}, {})
    assert decision == {"restart": True, "reasons": ["br_netfilter is ready now and the engine was not running before"]}


def test_no_restart_for_a_running_engine_when_only_sysctls_changed():
    assert restart_decision(before(engine_running=True, ready=False), {"ready": True}, {})["restart"] is False


def test_no_restart_for_a_converged_host():
    assert restart_decision(before(), {"ready": True}, {"restart_pending": False})["restart"] is False


# ------------------------------------------------------------------ the health gate

def audit(engine_running=True, codes=(), rule_checks="done"):
    return {"summary": {"engine_running": engine_running, "rule_checks": rule_checks},
            "findings": [{"code": code, "severity": "high", "message": "m"} for code in codes]}


def test_health_needs_the_engine_and_its_rules():
    assert health(audit()) == {"ok": True, "reasons": []}
    assert health(audit(engine_running=False))["reasons"][0] == "the Docker engine does not answer"
    gate = health(audit(codes=["DOCKER_DNAT_MISSING", "BR_NETFILTER_BLOCKED"]))
    assert gate["ok"] is False and gate["reasons"] == ["DOCKER_DNAT_MISSING: m"]
    assert health(audit(rule_checks="skipped: engine down"))["ok"] is False


def test_health_judges_a_result_whose_retries_ran_out_on_its_content():
    result = dict(audit(codes=["DOCKER_CHAIN_MISSING"]), failed=True, attempts=12)
    assert health(result)["reasons"] == ["DOCKER_CHAIN_MISSING: m"]
    assert health({"unreachable": True, "msg": "down"})["reasons"] == ["the audit did not run: down"]


# ------------------------------------------------------------------ reboot verification

PREDICTED = {"ready_after_reboot": True, "module_active_at_boot": True,
             "after_reboot": {"net.bridge.bridge-nf-call-iptables": 1, "net.ipv4.ip_forward": 1}}


def test_reboot_prediction_held():
    actual = {"ready": True, "state": "loaded", "live": {"net.bridge.bridge-nf-call-iptables": 1, "net.ipv4.ip_forward": 1}}
    assert reboot_mismatches(PREDICTED, actual) == []


def test_reboot_prediction_broken():
    actual = {"ready": False, "state": "loadable", "live": {"net.ipv4.ip_forward": 0}}
    assert reboot_mismatches(PREDICTED, actual) == [
        "ready after reboot was predicted True, the host is False",
        "net.bridge.bridge-nf-call-iptables was predicted 1 after the reboot, the host shows absent",
        "net.ipv4.ip_forward was predicted 1 after the reboot, the host shows 0",
        "br_netfilter was predicted active at boot, the host reports it loadable",
    ]
    assert reboot_mismatches(PREDICTED, None) == ["no br_netfilter facts after the reboot"]


def test_a_dnf5_host_is_checked_like_dnf_and_its_epochs_are_left_to_the_host():
    # The controller knows no repository: dnf5's lock needs epochs from the host, so that cannot be a problem here.
    host_vars = {"package_pin_pkg_mgr": "dnf5", "provision_pin_presets": ["docker"],
                 "package_pin_pins": [{"packages": ["docker-ce"], "version": "27.5.1-1.fc41"}]}
    assert check_host("node1", host_vars) == []
    both = dict(host_vars, package_pin_forbid=[{"packages": ["docker-ce"], "versions": ["27.5.1-1.fc41"]}])
    assert any("both pinned" in error for error in check_host("node1", both))
