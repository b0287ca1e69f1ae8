# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import copy
import os

import pytest

from ansible_collections.nodeprep.netfilter.plugins.module_utils._br_netfilter import (
    PROBLEMS,
    SEVERITIES,
    STATES,
    BrNetfilterFactsError,
    classify_state,
    evaluate,
    gather_br_netfilter_facts,
    unavailable_text,
)

RELEASE = "6.12.107+deb13-amd64"
BR_KO = "/lib/modules/%s/kernel/net/bridge/br_netfilter.ko.xz" % RELEASE
REQUIRED_LIVE_KEYS = ("net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables",
                      "net.ipv4.ip_forward")


def codes(facts):
    return [p["code"] for p in facts["problems"]]


# -- states, one case per DESIGN.md table row -----------------------------

@pytest.mark.parametrize("name, state, reason", [
    ("trixie-6.12-state-a-nothing-loaded", "loadable", None),
    ("trixie-6.12-state-b-bridge-only", "loadable", None),
    ("trixie-6.12-state-c-bridge-br_netfilter", "loaded", None),
    ("host-6.18-builtin-nomodules", "builtin", None),
    ("derived-trixie-6.12-builtin-sysfs-no-initstate", "builtin", None),
    ("derived-trixie-6.12-builtin-modules-builtin", "builtin", None),
    ("derived-trixie-6.12-blocked-install-false", "blocked", None),
    ("derived-trixie-6.12-blocked-install-true-usrlib", "blocked", None),
    ("derived-trixie-6.12-blacklisted-only", "loadable", None),
    ("derived-trixie-6.12-modules-disabled", "unavailable", "modules_disabled"),
    ("derived-trixie-6.12-no-modules-dir", "unavailable", "no_modules_dir"),
    ("derived-trixie-6.12-not-in-kernel", "unavailable", "not_in_kernel"),
    ("derived-trixie-6.12-docker-container", "unavailable", "container"),
    ("derived-trixie-6.12-lxc-container", "unavailable", "container"),
    ("derived-trixie-6.12-podman-container", "unavailable", "container"),
])
def test_state_of_each_fixture_tree(tree, name, state, reason):
    facts = gather_br_netfilter_facts(tree(name))
    assert (facts["state"], facts["unavailable_reason"]) == (state, reason)
    assert facts["state"] in STATES


def test_loaded_module_is_seen_from_sysfs_initstate_and_proc_modules(tree):
    facts = gather_br_netfilter_facts(tree("trixie-6.12-state-c-bridge-br_netfilter"))
    assert facts["state"] == "loaded"
    assert facts["state_evidence"] == ["/sys/module/br_netfilter/initstate = live"]
    assert facts["live"] == {
        "net.bridge.bridge-nf-call-iptables": 1,
        "net.bridge.bridge-nf-call-ip6tables": 1,
        "net.bridge.bridge-nf-call-arptables": 1,
        "net.ipv4.ip_forward": 0,
        "net.ipv6.conf.all.forwarding": 0,
        "net.ipv6.conf.default.forwarding": 0,
    }
    assert facts["module_files"] == [BR_KO]


def test_loaded_from_proc_modules_line_alone(make_tree):
    root = make_tree("trixie-6.12-state-c-bridge-br_netfilter", {"sys/module/br_netfilter": None})
    facts = gather_br_netfilter_facts(root)
    assert facts["state"] == "loaded"
    assert facts["state_evidence"] == ["/proc/modules lists br_netfilter"]


def test_dev_host_without_module_support_is_builtin(tree):
    facts = gather_br_netfilter_facts(tree("host-6.18-builtin-nomodules"))
    assert facts["state"] == "builtin"
    assert facts["module_support"] is False
    assert facts["kernel_release"] == "6.18.44-fc-v669"
    assert facts["kernel_config"]["CONFIG_BRIDGE_NETFILTER"] == "y"
    assert facts["kernel_config"]["CONFIG_MODULES"] == "n"
    assert facts["kernel_config"]["source"] == "/proc/config.gz"
    assert facts["bridge_nf_call_iptables_present"] is True
    assert facts["false_positive_bridge_dir"] is False
    assert facts["module_files"] == []
    assert facts["environment"]["can_load_modules"] is False


def test_builtin_without_kernel_config_is_inferred_from_the_key(make_tree):
    root = make_tree("host-6.18-builtin-nomodules", {"proc/config.gz": None})
    facts = gather_br_netfilter_facts(root)
    assert facts["state"] == "builtin"
    assert facts["state_evidence"] == ["bridge-nf-call-iptables exists and no br_netfilter module is loaded"]
    assert facts["kernel_config"] == {"source": None}


def test_builtin_from_sysfs_dir_without_initstate(tree):
    facts = gather_br_netfilter_facts(tree("derived-trixie-6.12-builtin-sysfs-no-initstate"))
    assert facts["state_evidence"] == ["/sys/module/br_netfilter exists without initstate"]


def test_builtin_from_modules_builtin(tree):
    facts = gather_br_netfilter_facts(tree("derived-trixie-6.12-builtin-modules-builtin"))
    assert facts["state_evidence"] == ["modules.builtin lists br_netfilter"]
    assert facts["module_files"] == []


def test_loadable_reports_module_file_and_not_loaded_problem(tree):
    facts = gather_br_netfilter_facts(tree("trixie-6.12-state-a-nothing-loaded"))
    assert facts["module_files"] == [BR_KO]
    assert facts["modules_dir"] == "/lib/modules/" + RELEASE
    assert "BR_NETFILTER_NOT_LOADED" in codes(facts)
    assert facts["live"]["net.bridge.bridge-nf-call-iptables"] is None
    assert facts["ready"] is False


def test_bridge_only_is_not_br_netfilter(tree):
    facts = gather_br_netfilter_facts(tree("trixie-6.12-state-b-bridge-only"))
    assert facts["state"] == "loadable"
    assert facts["bridge_sysctl_dir_present"] is False
    assert facts["false_positive_bridge_dir"] is False


def test_false_positive_bridge_dir_without_key(tree):
    facts = gather_br_netfilter_facts(tree("derived-trixie-6.12-false-positive"))
    assert facts["bridge_sysctl_dir_present"] is True
    assert facts["bridge_nf_call_iptables_present"] is False
    assert facts["false_positive_bridge_dir"] is True
    assert facts["state"] == "loadable"
    assert "BRIDGE_DIR_FALSE_POSITIVE" in codes(facts)


def test_blocked_by_install_bin_false_names_file_and_line(tree):
    facts = gather_br_netfilter_facts(tree("derived-trixie-6.12-blocked-install-false"))
    assert facts["blocked_by"] == {"file": "/etc/modprobe.d/disable-br_netfilter.conf", "line": 2,
                                   "command": "/bin/false"}
    assert facts["blacklisted"] is False
    assert codes(facts)[0] == "BR_NETFILTER_BLOCKED"
    assert "/etc/modprobe.d/disable-br_netfilter.conf:2" in facts["problems"][0]["message"]


def test_blocked_by_vendor_install_bin_true(tree):
    facts = gather_br_netfilter_facts(tree("derived-trixie-6.12-blocked-install-true-usrlib"))
    assert facts["blocked_by"]["file"] == "/usr/lib/modprobe.d/50-k8s-hardening.conf"
    assert facts["blocked_by"]["command"] == "/bin/true"


def test_etc_file_of_same_name_masks_vendor_block(make_tree):
    root = make_tree("derived-trixie-6.12-blocked-install-true-usrlib",
                     {"etc/modprobe.d/50-k8s-hardening.conf": "# unblocked locally\n"})
    facts = gather_br_netfilter_facts(root)
    assert facts["state"] == "loadable"
    assert facts["blocked_by"] is None


def test_block_line_on_loaded_module_keeps_state_and_is_reported(make_tree):
    root = make_tree("trixie-6.12-state-c-bridge-br_netfilter",
                     {"etc/modprobe.d/x.conf": "install br_netfilter /bin/false\n"})
    facts = gather_br_netfilter_facts(root)
    assert facts["state"] == "loaded"
    assert facts["blocked_by"]["file"] == "/etc/modprobe.d/x.conf"
    assert "BR_NETFILTER_BLOCK_CONFIGURED" in codes(facts)
    assert facts["module_active_at_boot"] is False


def test_block_line_on_builtin_kernel_keeps_state(make_tree):
    root = make_tree("host-6.18-builtin-nomodules", {"etc/modprobe.d/x.conf": "install br_netfilter /bin/false\n"})
    facts = gather_br_netfilter_facts(root)
    assert facts["state"] == "builtin"
    assert facts["blocked_by"] == {"file": "/etc/modprobe.d/x.conf", "line": 1, "command": "/bin/false"}
    assert "BR_NETFILTER_BLOCK_CONFIGURED" not in codes(facts)


def test_install_line_that_runs_modprobe_does_not_block(make_tree):
    root = make_tree("trixie-6.12-state-a-nothing-loaded", {
        "etc/modprobe.d/x.conf": "install br_netfilter /sbin/modprobe --ignore-install br_netfilter "
                                 "&& /sbin/sysctl -q -p /etc/sysctl.d/k8s.conf\n"})
    facts = gather_br_netfilter_facts(root)
    assert facts["state"] == "loadable"
    assert facts["blocked_by"] is None
    assert facts["install_command"]["line"] == 1


def test_blacklist_alone_is_reported_but_not_blocked(tree):
    facts = gather_br_netfilter_facts(tree("derived-trixie-6.12-blacklisted-only"))
    assert facts["state"] == "loadable"
    assert facts["blacklisted"] is True
    assert facts["blacklist_files"] == ["/etc/modprobe.d/blacklist-br_netfilter.conf"]
    assert facts["blocked_by"] is None
    assert facts["modules_load"]["br_netfilter"]["persisted"] is True
    assert facts["module_active_at_boot"] is False
    assert "BR_NETFILTER_BLACKLISTED" in codes(facts)


@pytest.mark.parametrize("name, reason", [
    ("derived-trixie-6.12-modules-disabled", "modules_disabled"),
    ("derived-trixie-6.12-no-modules-dir", "no_modules_dir"),
    ("derived-trixie-6.12-not-in-kernel", "not_in_kernel"),
    ("derived-trixie-6.12-docker-container", "container"),
])
def test_unavailable_has_reason_and_problem(tree, name, reason):
    facts = gather_br_netfilter_facts(tree(name))
    assert facts["unavailable_reason"] == reason
    assert unavailable_text(reason) in facts["state_reason"]
    problem = [p for p in facts["problems"] if p["code"] == "BR_NETFILTER_UNAVAILABLE"]
    assert len(problem) == 1 and "(%s)" % reason in problem[0]["message"]


def test_unavailable_without_module_support_and_no_bridge_netfilter(make_tree):
    root = make_tree("host-6.18-builtin-nomodules", {
        "proc/sys/net/bridge": None,
        "proc/config.gz": None,
    })
    facts = gather_br_netfilter_facts(root)
    assert (facts["state"], facts["unavailable_reason"]) == ("unavailable", "no_module_support")


def test_loadable_in_privileged_container_with_cap_sys_module(make_tree):
    root = make_tree("trixie-6.12-state-a-nothing-loaded", {
        ".dockerenv": "",
        "proc/self/ns/pid": ("->", "pid:[4026532301]"),
    })
    facts = gather_br_netfilter_facts(root)
    assert facts["environment"]["container"] == "docker"
    assert facts["environment"]["can_load_modules"] is True
    assert facts["state"] == "loadable"


def test_cannot_load_without_cap_sys_module_is_low_problem(make_tree):
    root = make_tree("trixie-6.12-state-a-nothing-loaded", {"proc/self/status": "CapEff:\t0000000000000000\n"})
    facts = gather_br_netfilter_facts(root)
    assert facts["state"] == "loadable"
    assert facts["environment"]["cap_sys_module"] is False
    problem = [p for p in facts["problems"] if p["code"] == "CANNOT_LOAD_MODULES_HERE"][0]
    assert problem["severity"] == "low" and "no CAP_SYS_MODULE" in problem["message"]


# -- readiness ----------------------------------------------------------------

def test_fully_prepared_node_is_ready_now_and_after_reboot(tree):
    facts = gather_br_netfilter_facts(tree("derived-trixie-6.12-persisted-k8s"))
    assert facts["problems"] == []
    assert facts["ready"] is True
    assert facts["ready_after_reboot"] is True
    assert facts["modules_load"]["br_netfilter"] == {"persisted": True, "file": "/etc/modules-load.d/k8s.conf",
                                                     "line": 2}
    assert facts["modules_load"]["overlay"]["line"] == 1


def test_loaded_but_not_persisted_is_ready_now_only(make_tree):
    root = make_tree("derived-trixie-6.12-persisted-k8s", {"etc/modules-load.d/k8s.conf": None})
    facts = gather_br_netfilter_facts(root)
    assert facts["ready"] is True
    assert facts["ready_after_reboot"] is False
    assert "MODULE_NOT_PERSISTED" in codes(facts)
    assert "SYSCTL_PERSISTED_WITHOUT_MODULE" in codes(facts)


def test_sysctl_persisted_without_module(tree):
    facts = gather_br_netfilter_facts(tree("derived-trixie-6.12-sysctl-without-module"))
    problem = [p for p in facts["problems"] if p["code"] == "SYSCTL_PERSISTED_WITHOUT_MODULE"][0]
    assert "net.bridge.bridge-nf-call-iptables, net.bridge.bridge-nf-call-ip6tables" in problem["message"]
    assert facts["after_reboot"]["net.bridge.bridge-nf-call-iptables"] is None
    # Typed like the live values (int), whether it comes from a sysctl.d file or the kernel default.
    assert facts["after_reboot"]["net.ipv4.ip_forward"] == 1


def test_unpersisted_key_is_medium_when_the_boot_value_is_wrong_low_when_the_kernel_default_is_right(make_tree):
    # Module persisted, no sysctl.d file: the bridge keys come back as 1 (kernel default), ip_forward as 0.
    root = make_tree("derived-trixie-6.12-persisted-k8s", {"etc/sysctl.d/k8s.conf": None})
    facts = gather_br_netfilter_facts(root)
    by_key = dict((p["message"].split(" ", 1)[0], (p["code"], p["severity"])) for p in facts["problems"])
    assert by_key == {
        "net.bridge.bridge-nf-call-iptables": ("SYSCTL_KERNEL_DEFAULT_ONLY", "low"),
        "net.bridge.bridge-nf-call-ip6tables": ("SYSCTL_KERNEL_DEFAULT_ONLY", "low"),
        "net.ipv4.ip_forward": ("SYSCTL_NOT_PERSISTED", "medium"),
    }
    assert facts["after_reboot"]["net.ipv4.ip_forward"] == 0
    assert facts["ready_after_reboot"] is False
    # Without the module at boot the bridge keys will be absent: that is the medium problem again.
    root = make_tree("derived-trixie-6.12-persisted-k8s", {"etc/sysctl.d/k8s.conf": None,
                                                           "etc/modules-load.d/k8s.conf": None})
    facts = gather_br_netfilter_facts(root)
    not_persisted = [p["message"] for p in facts["problems"] if p["code"] == "SYSCTL_NOT_PERSISTED"]
    assert "net.bridge.bridge-nf-call-iptables is not set by any sysctl.d file; after a reboot it will be " \
           "absent." in not_persisted
    assert "SYSCTL_KERNEL_DEFAULT_ONLY" not in codes(facts)


def test_live_value_not_1_is_reported_per_key(make_tree):
    root = make_tree("trixie-6.12-state-c-bridge-br_netfilter", {
        "proc/sys/net/bridge/bridge-nf-call-ip6tables": "0\n",
    })
    facts = gather_br_netfilter_facts(root)
    live_problems = [p["message"] for p in facts["problems"] if p["code"] == "SYSCTL_LIVE_NOT_1"]
    assert live_problems == ["net.bridge.bridge-nf-call-ip6tables is 0 now, expected 1.",
                             "net.ipv4.ip_forward is 0 now, expected 1."]
    assert facts["ready"] is False


# -- evaluate() is pure and separately testable ---------------------------

def test_evaluate_is_pure_and_recomputes_ready(tree):
    facts = gather_br_netfilter_facts(tree("derived-trixie-6.12-persisted-k8s"))
    changed = copy.deepcopy(facts)
    changed["live"]["net.ipv4.ip_forward"] = 0
    result = evaluate(changed)
    assert result["ready"] is False
    assert [p["code"] for p in result["problems"]] == ["SYSCTL_LIVE_NOT_1"]
    assert facts["live"]["net.ipv4.ip_forward"] == 1


def test_classify_state_prefers_loaded_over_block(tmp_path):
    state = classify_state({"initstate": "live", "blocked_by": {"file": "/x", "line": 1, "command": "/bin/false"}})
    assert state[0] == "loaded"


def test_problem_table_is_complete_and_consistent():
    for code, spec in PROBLEMS.items():
        assert code == code.upper()
        assert spec["severity"] in SEVERITIES
        assert spec["reference"].startswith("https://")
        assert spec["message"] and spec["remediation"]


def test_every_problem_has_the_finding_shape(tree):
    facts = gather_br_netfilter_facts(tree("derived-trixie-6.12-blacklisted-only"))
    assert facts["problems"]
    for problem in facts["problems"]:
        assert sorted(problem) == ["code", "message", "reference", "remediation", "severity"]
        assert "{" not in problem["message"]


# -- bad input -----------------------------------------------------------------

def test_missing_root_is_a_clear_error(tmp_path):
    with pytest.raises(BrNetfilterFactsError, match="does not exist or is not a directory"):
        gather_br_netfilter_facts(str(tmp_path / "nope"))


def test_root_without_proc_is_a_clear_error(tmp_path):
    with pytest.raises(BrNetfilterFactsError, match="osrelease"):
        gather_br_netfilter_facts(str(tmp_path))


def test_live_host_gather_has_the_contract_keys():
    facts = gather_br_netfilter_facts("/")
    for key in ("state", "state_reason", "unavailable_reason", "blacklisted", "blacklist_files", "blocked_by",
                "module_files", "kernel_release", "bridge_sysctl_dir_present", "bridge_nf_call_iptables_present",
                "false_positive_bridge_dir", "live", "persisted", "persisted_all", "modules_load", "environment",
                "problems", "ready", "ready_after_reboot"):
        assert key in facts
    assert set(facts["live"]) >= set(REQUIRED_LIVE_KEYS)


# -- overlay: the same classification, generalised over the module name ------------------

OVERLAY_KO = "/lib/modules/%s/kernel/fs/overlayfs/overlay.ko.xz" % RELEASE
OVERLAY_PROC_MODULES_LINE = "overlay 217088 0 - Live 0xffffffffc0b4d000\n"
MODULE_KEYS = ("state", "state_reason", "state_evidence", "unavailable_reason", "blacklisted", "blacklist_files",
               "blacklisted_by", "blocked_by", "install_command", "module_files")


def overlay(facts):
    return facts["modules"]["overlay"]


@pytest.mark.parametrize("name, state, reason, evidence", [
    ("trixie-6.12-state-a-nothing-loaded", "loadable", None, "modules.dep lists " + OVERLAY_KO),
    ("trixie-6.12-state-c-bridge-br_netfilter", "loadable", None, "modules.dep lists " + OVERLAY_KO),
    ("host-6.18-builtin-nomodules", "builtin", None, "CONFIG_OVERLAY_FS=y"),
    ("derived-trixie-6.12-modules-disabled", "unavailable", "modules_disabled", "/proc/sys/kernel/modules_disabled = 1"),
    ("derived-trixie-6.12-no-modules-dir", "unavailable", "no_modules_dir", "no modules.dep for the running kernel"),
    ("derived-trixie-6.12-docker-container", "unavailable", "container", "container docker, no modules directory"),
])
def test_overlay_state_of_each_fixture_tree(tree, name, state, reason, evidence):
    record = overlay(gather_br_netfilter_facts(tree(name)))
    assert (record["state"], record["unavailable_reason"]) == (state, reason)
    assert record["state_evidence"][-1] == evidence


def test_overlay_loaded_from_sysfs_initstate(make_tree):
    root = make_tree("trixie-6.12-state-a-nothing-loaded", {
        "sys/module/overlay/initstate": "live\n", "proc/modules": OVERLAY_PROC_MODULES_LINE})
    record = overlay(gather_br_netfilter_facts(root))
    assert record["state"] == "loaded"
    assert record["state_reason"] == "overlay is a loaded module"
    assert record["state_evidence"] == ["/sys/module/overlay/initstate = live"]
    assert record["module_files"] == [OVERLAY_KO]


def test_overlay_loaded_from_proc_modules_line_alone(make_tree):
    root = make_tree("trixie-6.12-state-a-nothing-loaded", {"proc/modules": OVERLAY_PROC_MODULES_LINE})
    assert overlay(gather_br_netfilter_facts(root))["state_evidence"] == ["/proc/modules lists overlay"]


def test_overlay_builtin_from_sysfs_dir_without_initstate(make_tree):
    # This development machine: /sys/module/overlay/parameters exists (overlay is built in), no initstate.
    root = make_tree("host-6.18-builtin-nomodules", {"sys/module/overlay/parameters/index": "N\n"})
    record = overlay(gather_br_netfilter_facts(root))
    assert record["state"] == "builtin"
    assert record["state_reason"] == "overlayfs is built into the kernel (/sys/module/overlay exists without initstate)"


def test_overlay_builtin_inferred_from_proc_filesystems(make_tree):
    root = make_tree("host-6.18-builtin-nomodules", {"proc/config.gz": None,
                                                     "proc/filesystems": "nodev\tsysfs\nnodev\toverlay\n\text4\n"})
    record = overlay(gather_br_netfilter_facts(root))
    assert record["state"] == "builtin"
    assert record["state_evidence"] == ["/proc/filesystems lists overlay and no overlay module is loaded"]


def test_overlay_builtin_from_modules_builtin(make_tree):
    root = make_tree("trixie-6.12-state-a-nothing-loaded", {
        "lib/modules/%s/modules.builtin" % RELEASE: "kernel/fs/overlayfs/overlay.ko\n"})
    assert overlay(gather_br_netfilter_facts(root))["state_evidence"] == ["modules.builtin lists overlay"]


def test_overlay_not_in_modules_dep_is_unavailable_not_in_kernel(make_tree):
    root = make_tree("trixie-6.12-state-a-nothing-loaded", {
        "lib/modules/%s/modules.dep" % RELEASE: "kernel/net/bridge/br_netfilter.ko.xz:\n"})
    facts = gather_br_netfilter_facts(root)
    record = overlay(facts)
    assert (record["state"], record["unavailable_reason"]) == ("unavailable", "not_in_kernel")
    assert record["state_reason"] == ("overlay is unavailable: this kernel has no overlay: CONFIG_OVERLAY_FS is not "
                                      "set, or modules.dep does not list overlay.ko")
    assert facts["state"] == "loadable", "br_netfilter is judged on its own"


def test_overlay_config_not_set_is_named(make_tree):
    root = make_tree("trixie-6.12-state-a-nothing-loaded", {
        "lib/modules/%s/modules.dep" % RELEASE: "kernel/net/bridge/br_netfilter.ko.xz:\n",
        "boot/config-%s" % RELEASE: "CONFIG_MODULES=y\n# CONFIG_OVERLAY_FS is not set\n"})
    assert overlay(gather_br_netfilter_facts(root))["state_evidence"] == ["CONFIG_OVERLAY_FS is not set"]


def test_overlay_blocked_by_install_line_names_file_and_line(make_tree):
    root = make_tree("trixie-6.12-state-a-nothing-loaded", {
        "etc/modprobe.d/no-overlay.conf": "# hardening\ninstall overlay /bin/false\n"})
    facts = gather_br_netfilter_facts(root)
    record = overlay(facts)
    assert record["state"] == "blocked"
    assert record["blocked_by"] == {"file": "/etc/modprobe.d/no-overlay.conf", "line": 2, "command": "/bin/false"}
    assert record["state_reason"] == ("overlay exists but '/bin/false' at /etc/modprobe.d/no-overlay.conf:2 stops it "
                                      "from loading")
    assert record["active_at_boot"] is False
    assert facts["state"] == "loadable" and facts["blocked_by"] is None


def test_overlay_is_reported_only_and_never_a_problem(make_tree, tree):
    base = gather_br_netfilter_facts(tree("derived-trixie-6.12-persisted-k8s"))
    root = make_tree("derived-trixie-6.12-persisted-k8s", {"etc/modprobe.d/no-overlay.conf": "install overlay /bin/true\n"})
    blocked = gather_br_netfilter_facts(root)
    assert overlay(blocked)["state"] == "blocked"
    assert blocked["problems"] == base["problems"] == []
    assert blocked["ready"] is True and blocked["ready_after_reboot"] is True


def test_overlay_blacklist_is_reported_and_stops_boot_loading(make_tree):
    root = make_tree("derived-trixie-6.12-persisted-k8s", {"etc/modprobe.d/bl.conf": "blacklist overlay\n"})
    record = overlay(gather_br_netfilter_facts(root))
    assert record["state"] == "loadable"
    assert record["blacklisted_by"] == [{"file": "/etc/modprobe.d/bl.conf", "line": 1}]
    assert record["persisted"] is True and record["active_at_boot"] is False


def test_overlay_listed_in_modules_load_is_active_at_boot(tree):
    facts = gather_br_netfilter_facts(tree("derived-trixie-6.12-persisted-k8s"))
    assert overlay(facts)["persisted"] is True
    assert overlay(facts)["active_at_boot"] is True
    bare = gather_br_netfilter_facts(tree("trixie-6.12-state-a-nothing-loaded"))
    assert overlay(bare)["persisted"] is False and overlay(bare)["active_at_boot"] is False


@pytest.mark.parametrize("name", ["trixie-6.12-state-c-bridge-br_netfilter", "host-6.18-builtin-nomodules",
                                  "derived-trixie-6.12-blocked-install-false", "derived-trixie-6.12-docker-container"])
def test_modules_br_netfilter_repeats_the_top_level_verdict(tree, name):
    facts = gather_br_netfilter_facts(tree(name))
    record = facts["modules"]["br_netfilter"]
    assert dict((key, record[key]) for key in MODULE_KEYS) == dict((key, facts[key]) for key in MODULE_KEYS)
    assert record["active_at_boot"] == facts["module_active_at_boot"]


def test_classify_state_names_the_module_it_classifies():
    state = classify_state({"dep_files": ["/lib/modules/x/overlay.ko"], "module_support": True}, "overlay")
    assert state == ("loadable", None, "overlay is available as a module but not loaded",
                     ["modules.dep lists /lib/modules/x/overlay.ko"])


# -- extra sysctl keys --------------------------------------------------------------

RP = "net.ipv4.conf.all.rp_filter"
V6DEFAULT = "net.ipv6.conf.default.forwarding"


def test_extra_key_is_reported_live_persisted_and_after_reboot(make_tree):
    root = make_tree("derived-trixie-6.12-persisted-k8s", {
        "proc/sys/net/ipv4/conf/all/rp_filter": "2\n",
        "usr/lib/sysctl.d/50-default.conf": "net.ipv4.conf.all.rp_filter = 2\n",
        "etc/sysctl.d/60-rp.conf": "net.ipv4.conf.all.rp_filter = 1\n"})
    facts = gather_br_netfilter_facts(root, sysctl_keys=[RP])
    assert facts["live"][RP] == 2
    assert facts["persisted"][RP]["file"] == "/etc/sysctl.d/60-rp.conf"
    assert [(a["file"], a["effective"]) for a in facts["persisted_all"][RP]] == [
        ("/usr/lib/sysctl.d/50-default.conf", False), ("/etc/sysctl.d/60-rp.conf", True)]
    assert facts["after_reboot"][RP] == 1
    assert facts["after_reboot_unknown"] == []
    assert facts["problems"] == [], "extra keys never raise a problem"


def test_extra_key_that_no_file_sets_has_an_unknown_value_after_reboot(make_tree):
    root = make_tree("derived-trixie-6.12-persisted-k8s", {"proc/sys/net/ipv4/conf/all/rp_filter": "2\n"})
    facts = gather_br_netfilter_facts(root, sysctl_keys=[RP])
    assert facts["live"][RP] == 2
    assert facts["persisted"][RP] is None
    assert facts["after_reboot"][RP] is None, "the live value is not a prediction: it may have been set by hand"
    assert facts["after_reboot_unknown"] == [RP]
    assert facts["ready_after_reboot"] is True


def test_extra_bridge_key_is_absent_after_reboot_without_the_module(tree, make_tree):
    facts = gather_br_netfilter_facts(tree("derived-trixie-6.12-sysctl-without-module"),
                                      sysctl_keys=["net.bridge.bridge-nf-filter-vlan-tagged"])
    assert facts["after_reboot"]["net.bridge.bridge-nf-filter-vlan-tagged"] is None
    assert facts["after_reboot_unknown"] == []


def test_slashed_extra_key_is_reported_under_its_dotted_name(make_tree):
    root = make_tree("derived-trixie-6.12-persisted-k8s", {
        "proc/sys/net/ipv4/conf/eth0.100/rp_filter": "1\n",
        "etc/sysctl.d/60-vlan.conf": "net/ipv4/conf/eth0.100/rp_filter = 0\n"})
    facts = gather_br_netfilter_facts(root, sysctl_keys=["net/ipv4/conf/eth0.100/rp_filter"])
    key = "net.ipv4.conf.eth0/100.rp_filter"
    assert facts["live"][key] == 1
    assert facts["persisted"][key]["value"] == "0"
    assert facts["after_reboot"][key] == 0


def test_extra_keys_are_deduplicated_with_the_built_in_ones(tree):
    facts = gather_br_netfilter_facts(tree("derived-trixie-6.12-persisted-k8s"),
                                      sysctl_keys=["net/ipv4/ip_forward", RP, "net.ipv4.conf.all.rp_filter"])
    assert list(facts["live"]).count("net.ipv4.ip_forward") == 1
    assert list(facts["live"])[-1] == RP and len(facts["live"]) == 7
    assert facts["after_reboot"]["net.ipv4.ip_forward"] == 1, "a built-in key keeps its known default"


@pytest.mark.parametrize("keys, words", [
    (["net.ipv4.conf.*.rp_filter"], "'net.ipv4.conf.*.rp_filter' is a glob pattern"),
    (["net.ipv4.ip forward"], "'net.ipv4.ip forward' contains characters"),
    (["net.ipv4.ip_forward=1"], "'net.ipv4.ip_forward=1' contains characters"),
    (["-net.ipv4.ip_forward"], "'-net.ipv4.ip_forward' contains characters"),
    (["net/ipv4/../../kernel"], "'net/ipv4/../../kernel' has an empty, '.' or '..' component"),
    (["net..ipv4"], "'net..ipv4' has an empty"),
    ([""], "'' is empty"),
    ([RP, 7], "7 is not a string"),
    ("net.ipv4.ip_forward", "must be a list"),
])
def test_bad_sysctl_keys_are_rejected_naming_the_key(tree, keys, words):
    with pytest.raises(BrNetfilterFactsError) as excinfo:
        gather_br_netfilter_facts(tree("trixie-6.12-state-a-nothing-loaded"), sysctl_keys=keys)
    assert words in str(excinfo.value)


# -- net.ipv6.conf.default.forwarding: watched by default, follows conf/all ---------------

@pytest.mark.parametrize("files, expected", [
    ({}, 0),
    ({"etc/sysctl.d/k8s.conf": "net.ipv6.conf.all.forwarding = 1\n"}, 1),
    ({"etc/sysctl.d/k8s.conf": "net.ipv6.conf.default.forwarding = 1\n"}, 1),
    ({"etc/sysctl.d/10-dflt.conf": "net.ipv6.conf.default.forwarding = 0\n",
      "etc/sysctl.d/k8s.conf": "net.ipv6.conf.all.forwarding = 1\n"}, 1),
    ({"etc/sysctl.d/10-all.conf": "net.ipv6.conf.all.forwarding = 1\n",
      "etc/sysctl.d/k8s.conf": "net.ipv6.conf.default.forwarding = 0\n"}, 0),
    ({"etc/sysctl.d/k8s.conf": "net.ipv6.conf.default.forwarding = 0\nnet.ipv6.conf.all.forwarding = 1\n"}, 1),
])
def test_default_forwarding_after_reboot_follows_a_later_write_to_all(make_tree, files, expected):
    facts = gather_br_netfilter_facts(make_tree("trixie-6.12-state-a-nothing-loaded", files))
    assert facts["live"][V6DEFAULT] == 0
    assert facts["after_reboot"][V6DEFAULT] == expected
    assert "after_reboot_unknown" in facts and V6DEFAULT not in facts["after_reboot_unknown"]


def test_default_forwarding_is_reported_but_never_a_problem(make_tree):
    root = make_tree("derived-trixie-6.12-persisted-k8s", {"proc/sys/net/ipv6/conf/default/forwarding": "0\n"})
    facts = gather_br_netfilter_facts(root)
    assert facts["live"][V6DEFAULT] == 0
    assert facts["problems"] == [] and facts["ready"] is True


# -- advice that fits where it runs ---------------------------------------

def test_every_problem_has_advice_for_a_container():
    for code, spec in PROBLEMS.items():
        text = spec["container_remediation"]
        assert "{container}" in text or "host" in text, code
        assert "sysctl -w" not in text and "/etc/sysctl.d/" not in text, code


@pytest.mark.parametrize("name, kind", [
    ("derived-trixie-6.12-docker-container", "docker"),
    ("derived-trixie-6.12-lxc-container", "lxc"),
    ("derived-trixie-6.12-podman-container", "podman"),
])
def test_in_a_container_no_finding_advises_sysctl_w_or_sysctl_d(tree, name, kind):
    facts = gather_br_netfilter_facts(tree(name))
    assert facts["environment"]["container"] == kind
    assert facts["problems"]
    for problem in facts["problems"]:
        assert "sysctl -w" not in problem["remediation"], problem
        assert "host" in problem["remediation"] or "--sysctl" in problem["remediation"], problem
    unavailable = [p for p in facts["problems"] if p["code"] == "BR_NETFILTER_UNAVAILABLE"][0]
    assert "Nothing can be done inside this %s container" % kind in unavailable["remediation"]


def test_sysctl_advice_in_a_container_names_the_container_definition(make_tree):
    # The host kernel provides br_netfilter (builtin); the container's namespace has ip_forward 0.
    root = make_tree("host-6.18-builtin-nomodules", {
        "run/.containerenv": "",
        "proc/sys/net/ipv4/ip_forward": "0\n",
    })
    facts = gather_br_netfilter_facts(root)
    assert facts["environment"]["container"] == "podman"
    by_code = dict((p["code"], p) for p in facts["problems"])
    live = by_code["SYSCTL_LIVE_NOT_1"]
    assert "run --sysctl net.ipv4.ip_forward=1" in live["remediation"]
    assert "lxc.sysctl.net.ipv4.ip_forward = 1" in live["remediation"]
    host_facts = gather_br_netfilter_facts(make_tree("host-6.18-builtin-nomodules",
                                                     {"proc/sys/net/ipv4/ip_forward": "0\n"}))
    assert [p for p in host_facts["problems"] if p["code"] == "SYSCTL_LIVE_NOT_1"][0]["remediation"] == \
        "sysctl -w net.ipv4.ip_forward=1 (ansible.posix.sysctl with sysctl_set: true)."


# -- honest "unknown": an input that could hold the persistence was not readable ---------------------------------

K8S = "derived-trixie-6.12-persisted-k8s"
BRIDGE_KEYS = ("net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables")


def test_unreadable_modules_load_file_makes_the_module_unknown_at_boot_not_unpersisted(make_tree):
    # A symlink loop where k8s.conf was: systemd cannot read it either, but what it was meant to hold is unknown.
    root = make_tree(K8S, {"etc/modules-load.d/k8s.conf": ("->", "k8s.conf")})
    facts = gather_br_netfilter_facts(root)
    unknown = [p for p in facts["problems"] if p["code"] == "MODULE_PERSISTENCE_UNKNOWN"]
    assert [p["severity"] for p in unknown] == ["medium"]
    assert "/etc/modules-load.d/k8s.conf could not be read" in unknown[0]["message"]
    assert "MODULE_NOT_PERSISTED" not in codes(facts)
    # The bridge keys are persisted; whether the module is there to take them is what is unknown.
    assert "SYSCTL_PERSISTED_WITHOUT_MODULE" not in codes(facts)
    assert facts["module_active_at_boot"] is None
    assert facts["modules"]["br_netfilter"]["active_at_boot"] is None
    assert [facts["after_reboot"][key] for key in BRIDGE_KEYS] == [None, None]
    assert set(BRIDGE_KEYS) <= set(facts["after_reboot_unknown"])
    assert facts["after_reboot"]["net.ipv4.ip_forward"] == 1
    assert facts["ready"] is True and facts["ready_after_reboot"] is None


def test_fifo_in_sysctl_d_after_the_winner_makes_the_keys_unknown(make_tree):
    root = make_tree(K8S, {})
    os.mkfifo(os.path.join(root, "etc/sysctl.d/zz-local.conf"))  # sorts after k8s.conf: it could set any key
    facts = gather_br_netfilter_facts(root)
    unknown = dict((p["message"].split(":", 1)[0], p) for p in facts["problems"]
                   if p["code"] == "SYSCTL_PERSISTENCE_UNKNOWN")
    assert sorted(unknown) == sorted(REQUIRED_LIVE_KEYS)
    assert unknown["net.ipv4.ip_forward"]["message"] == (
        "net.ipv4.ip_forward: its value after a reboot is unknown: /etc/sysctl.d/zz-local.conf could not be read and "
        "may set it; the readable files give 1 (/etc/sysctl.d/k8s.conf:3).")
    assert {"path": "/etc/sysctl.d/zz-local.conf", "error": "a FIFO, not read"} in facts["unreadable"]
    assert set(REQUIRED_LIVE_KEYS) <= set(facts["persisted_unknown"])
    assert all(facts["after_reboot"][key] is None for key in REQUIRED_LIVE_KEYS)
    assert set(REQUIRED_LIVE_KEYS) <= set(facts["after_reboot_unknown"])
    assert facts["ready_after_reboot"] is None
    assert not {"SYSCTL_NOT_PERSISTED", "SYSCTL_KERNEL_DEFAULT_ONLY"} & set(codes(facts))


def test_unreadable_sysctl_file_before_an_explicit_winner_changes_nothing(make_tree):
    # A later explicit assignment always wins, so a file sorting before k8s.conf cannot change the outcome.
    root = make_tree(K8S, {"etc/sysctl.d/00-early.conf": ("->", "00-early.conf")})
    facts = gather_br_netfilter_facts(root)
    assert {"path": "/etc/sysctl.d/00-early.conf", "error": "symlink loop"} in facts["unreadable"]
    # Only the keys no readable file sets stay unknown (the loop may set them); none of them is required.
    assert facts["persisted_unknown"] == ["net.bridge.bridge-nf-call-arptables", "net.ipv6.conf.all.forwarding",
                                          "net.ipv6.conf.default.forwarding"]
    assert facts["problems"] == []
    assert facts["ready_after_reboot"] is True


def test_unreadable_sysctl_file_and_no_readable_setting_is_unknown_not_unpersisted(make_tree):
    root = make_tree(K8S, {"etc/sysctl.d/k8s.conf": None, "etc/sysctl.d/50-x.conf": ("->", "50-x.conf")})
    facts = gather_br_netfilter_facts(root)
    messages = [p["message"] for p in facts["problems"] if p["code"] == "SYSCTL_PERSISTENCE_UNKNOWN"]
    assert "net.ipv4.ip_forward: its value after a reboot is unknown: /etc/sysctl.d/50-x.conf could not be read " \
           "and may set it; no readable file sets it." in messages
    assert len(messages) == 3
    assert not {"SYSCTL_NOT_PERSISTED", "SYSCTL_KERNEL_DEFAULT_ONLY"} & set(codes(facts))


def test_a_known_failure_stays_false_whatever_is_unknown(make_tree):
    # The module is not listed anywhere (all readable), while the sysctl files are unknown: not ready, for sure.
    root = make_tree(K8S, {"etc/modules-load.d/k8s.conf": None})
    os.mkfifo(os.path.join(root, "etc/sysctl.d/zz-local.conf"))
    facts = gather_br_netfilter_facts(root)
    assert facts["module_active_at_boot"] is False
    assert "MODULE_NOT_PERSISTED" in codes(facts)
    assert facts["ready_after_reboot"] is False
    # Without the module at boot the bridge keys will be absent (known), ip_forward is unknown.
    assert [facts["after_reboot"][key] for key in BRIDGE_KEYS] == [None, None]
    assert not set(BRIDGE_KEYS) & set(facts["after_reboot_unknown"])
    assert "net.ipv4.ip_forward" in facts["after_reboot_unknown"]


def test_unreadable_modprobe_file_makes_a_persisted_module_unknown_at_boot(make_tree):
    # A blacklist or install line may hide there; modules-load.d lists the module, yet whether it loads is unknown.
    root = make_tree(K8S, {"etc/modprobe.d/local.conf": ("->", "local.conf")})
    facts = gather_br_netfilter_facts(root)
    assert facts["modprobe_unreadable_files"] == ["/etc/modprobe.d/local.conf"]
    assert [p["message"] for p in facts["problems"] if p["code"] == "MODPROBE_POLICY_UNKNOWN"] == [
        "/etc/modprobe.d/local.conf in modprobe.d could not be read: a blacklist or install line there may stop "
        "br_netfilter from loading at boot, so whether it will be loaded after a reboot is unknown."]
    assert facts["module_active_at_boot"] is None and facts["ready_after_reboot"] is None
    assert facts["modules"]["overlay"]["active_at_boot"] is None  # the same file may name overlay
    # The same tree with the file readable and harmless: known again.
    readable = gather_br_netfilter_facts(make_tree(K8S, {"etc/modprobe.d/local.conf": "options br_netfilter x=1\n"}))
    assert readable["modprobe_unreadable_files"] == [] and readable["problems"] == []
    assert readable["module_active_at_boot"] is True and readable["ready_after_reboot"] is True
