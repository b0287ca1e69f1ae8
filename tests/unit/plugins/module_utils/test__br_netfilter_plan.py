# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Decisions of the br_netfilter / k8s_node roles, fed with facts gathered from fixture trees."""

from __future__ import annotations

import os

import pytest

from ansible_collections.nodeprep.netfilter.plugins.module_utils._br_netfilter import gather_br_netfilter_facts
from ansible_collections.nodeprep.netfilter.plugins.module_utils._br_netfilter_plan import (
    K8S_CHECKS,
    PlanError,
    effective_after_write,
    k8s_node_readiness,
    plan_br_netfilter,
    same_value,
    verify_br_netfilter,
)

LOADABLE = "trixie-6.12-state-a-nothing-loaded"
CONVERGED = "derived-trixie-6.12-persisted-k8s"
IPT = "net.bridge.bridge-nf-call-iptables"
IP6T = "net.bridge.bridge-nf-call-ip6tables"
FWD = "net.ipv4.ip_forward"
V6ALL = "net.ipv6.conf.all.forwarding"
SYSCTL_FILE = "/etc/sysctl.d/k8s.conf"
MODULES_FILE = "/etc/modules-load.d/k8s.conf"
DEFAULT_SYSCTLS = [{"name": IPT, "value": 1}, {"name": IP6T, "value": 1}, {"name": FWD, "value": 1}]


@pytest.fixture
def facts_of(make_tree):
    def _facts(base, files=None, sysctl_keys=()):
        return gather_br_netfilter_facts(make_tree(base, files or {}), sysctl_keys=sysctl_keys)
    return _facts


def plan(facts, sysctls=None, sysctl_file=SYSCTL_FILE, modules_file=MODULES_FILE, **kwargs):
    return plan_br_netfilter(facts, DEFAULT_SYSCTLS if sysctls is None else sysctls, sysctl_file, modules_file,
                             **kwargs)


# -- a fresh node with a loadable module ------------------------------------------

def test_loadable_module_is_loaded_persisted_and_all_keys_promised(facts_of):
    result = plan(facts_of(LOADABLE))
    assert result["context"] == "host"
    assert result["load_module"] is True
    assert result["modules_load"] == {"manage": True, "path": MODULES_FILE, "modules": ["br_netfilter"]}
    assert result["sysctl"]["entries"] == [{"name": IPT, "value": "1"}, {"name": IP6T, "value": "1"},
                                           {"name": FWD, "value": "1"}]
    assert result["promised"] == {IPT: "1", IP6T: "1", FWD: "1"}
    assert result["live"] == result["promised"]
    assert result["errors"] == [] and result["warnings"] == [] and result["overrides"] == []
    assert result["assert"]["ready"] is True and result["assert"]["ready_after_reboot"] is True


def test_already_converged_node_needs_no_load(facts_of):
    result = plan(facts_of(CONVERGED))
    assert result["state"] == "loaded"
    assert result["load_module"] is False
    assert result["errors"] == []
    assert result["promised"] == {IPT: "1", IP6T: "1", FWD: "1"}


def test_extra_modules_come_first_and_are_not_duplicated(facts_of):
    result = plan(facts_of(LOADABLE), extra_modules=["overlay", "overlay", "br_netfilter"])
    assert result["modules_load"]["modules"] == ["overlay", "br_netfilter"]


# -- overrides by later files ---------------------------------------------------

def test_later_file_setting_zero_is_an_error_naming_that_file(facts_of):
    facts = facts_of(LOADABLE, {"etc/sysctl.d/zz-override.conf": "net.bridge.bridge-nf-call-iptables = 0\n"})
    result = plan(facts)
    assert len(result["errors"]) == 1
    error = result["errors"][0]
    assert error.startswith("[SYSCTL_OVERRIDDEN]")
    assert "/etc/sysctl.d/zz-override.conf line 1 sets 0" in error
    assert "'zz-override.conf' sorts after 'k8s.conf'" in error
    assert result["overrides"] == [{"key": IPT, "ours": "1", "value": "0",
                                    "file": "/etc/sysctl.d/zz-override.conf", "line": 1}]
    assert result["load_module"] is False, "nothing may change when the plan has errors"


def test_accepted_override_promises_and_sets_the_winning_value(facts_of):
    facts = facts_of(LOADABLE, {"etc/sysctl.d/zz-override.conf": "net.bridge.bridge-nf-call-iptables = 0\n"})
    result = plan(facts, accept_overrides=True)
    assert result["errors"] == []
    assert result["promised"][IPT] == "0" and result["live"][IPT] == "0"
    assert result["promised"][FWD] == "1"
    assert any(w.startswith("[SYSCTL_OVERRIDE_ACCEPTED]") and "zz-override.conf" in w for w in result["warnings"])
    # our own file still says what we want
    assert {"name": IPT, "value": "1"} in result["sysctl"]["entries"]
    assert result["assert"]["ready"] is False, "an accepted 0 cannot promise readiness"


def test_etc_sysctl_conf_does_not_override_k8s_conf_because_99_sorts_first(facts_of):
    facts = facts_of(LOADABLE, {"etc/sysctl.conf": "net.ipv4.ip_forward=0\n",
                                "etc/sysctl.d/99-sysctl.conf": ("->", "../sysctl.conf")})
    result = plan(facts)
    assert result["errors"] == []
    assert result["promised"][FWD] == "1"


def test_etc_sysctl_conf_overrides_a_file_that_sorts_before_99(facts_of):
    facts = facts_of(LOADABLE, {"etc/sysctl.conf": "net.ipv4.ip_forward=0\n",
                                "etc/sysctl.d/99-sysctl.conf": ("->", "../sysctl.conf")})
    result = plan(facts, sysctl_file="/etc/sysctl.d/10-k8s.conf")
    assert len(result["errors"]) == 1
    assert "/etc/sysctl.d/99-sysctl.conf (-> /etc/sysctl.conf) line 1 sets 0" in result["errors"][0]


def test_same_named_vendor_file_is_masked_by_ours(facts_of):
    facts = facts_of(LOADABLE, {"usr/lib/sysctl.d/k8s.conf": "net.ipv4.ip_forward = 0\n"})
    assert plan(facts)["errors"] == []


def test_a_stale_version_of_our_own_file_does_not_count(facts_of):
    facts = facts_of(LOADABLE, {"etc/sysctl.d/k8s.conf": "net.ipv4.ip_forward = 0\n"})
    result = plan(facts)
    assert result["errors"] == [] and result["promised"][FWD] == "1"


def test_later_glob_loses_to_our_explicit_key(facts_of):
    facts = facts_of(LOADABLE, {"etc/sysctl.d/zz-glob.conf": "net.bridge.bridge-nf-call-* = 0\n"})
    assert plan(facts)["errors"] == []


def test_later_file_with_the_same_value_is_harmless(facts_of):
    facts = facts_of(LOADABLE, {"etc/sysctl.d/zz-same.conf": "net.ipv4.ip_forward = 1\n"})
    assert plan(facts)["errors"] == []


def test_earlier_file_with_another_value_is_overridden_by_ours(facts_of):
    facts = facts_of(LOADABLE, {"usr/lib/sysctl.d/50-default.conf": "net.ipv4.ip_forward = 0\n"})
    winner, ours = effective_after_write(facts, FWD, "1", SYSCTL_FILE)
    assert ours is True and winner["file"] == SYSCTL_FILE


def test_later_exclusion_line_is_reported_as_not_applied(facts_of):
    facts = facts_of(LOADABLE, {"etc/sysctl.d/zz-exclude.conf": "-net.ipv4.ip_forward\n"})
    result = plan(facts)
    assert result["overrides"][0]["value"] is None
    assert "excludes it" in result["errors"][0]


# -- br_netfilter blocked, unavailable, built in, in a container ------------------------

def test_blocked_module_fails_naming_the_file_the_command_and_the_compat_role(facts_of):
    result = plan(facts_of("derived-trixie-6.12-blocked-install-false"))
    assert result["blocker"]["code"] == "BR_NETFILTER_BLOCKED"
    error = result["errors"][0]
    assert "/etc/modprobe.d/" in error and "'/bin/false'" in error
    assert "nodeprep.netfilter.docker_br_netfilter_compat" in error
    assert "DOCKER_IGNORE_BR_NETFILTER_ERROR=1" in error
    assert result["load_module"] is False


def test_blocked_module_with_warn_persists_only_keys_that_do_not_need_it(facts_of):
    result = plan(facts_of("derived-trixie-6.12-blocked-install-false"), unavailable_action="warn")
    assert result["errors"] == []
    assert result["warnings"][0].startswith("[BR_NETFILTER_BLOCKED]")
    assert result["sysctl"]["entries"] == [{"name": FWD, "value": "1"}]
    assert [item["name"] for item in result["sysctl"]["skipped"]] == [IPT, IP6T]
    assert result["modules_load"]["manage"] is False, "a blocked module must not be listed for boot"
    assert result["promised"] == {FWD: "1"}
    assert result["assert"]["module_now"] is False and result["assert"]["ready"] is False


@pytest.mark.parametrize("fixture, code, words", [
    ("derived-trixie-6.12-not-in-kernel", "BR_NETFILTER_NOT_IN_KERNEL", "6.12.107+deb13-amd64"),
    ("derived-trixie-6.12-modules-disabled", "BR_NETFILTER_MODULES_DISABLED", "modules_disabled = 1"),
    ("derived-trixie-6.12-no-modules-dir", "BR_NETFILTER_NO_MODULES_DIR", "/lib/modules/6.12.107+deb13-amd64"),
    ("derived-trixie-6.12-docker-container", "BR_NETFILTER_IN_CONTAINER", "container (docker)"),
])
def test_unavailable_reasons_are_named_with_a_remedy(facts_of, fixture, code, words):
    result = plan(facts_of(fixture))
    assert result["blocker"]["code"] == code
    assert words in result["errors"][0] and "Remedy:" in result["errors"][0]


def test_builtin_module_is_neither_loaded_nor_listed_but_sysctls_apply(facts_of):
    result = plan(facts_of("derived-trixie-6.12-builtin-sysfs-no-initstate"))
    assert result["state"] == "builtin"
    assert result["load_module"] is False
    assert result["modules_load"]["manage"] is False
    assert result["sysctl"]["manage"] is True and len(result["sysctl"]["entries"]) == 3
    with_overlay = plan(facts_of("derived-trixie-6.12-builtin-sysfs-no-initstate"), extra_modules=["overlay"])
    assert with_overlay["modules_load"]["modules"] == ["overlay"]


def test_blacklisted_module_would_be_missing_after_reboot(facts_of):
    result = plan(facts_of("derived-trixie-6.12-blacklisted-only"))
    assert result["boot_blocker"]["code"] == "BR_NETFILTER_BLACKLISTED"
    assert "systemd-modules-load skips" in result["errors"][0]
    warned = plan(facts_of("derived-trixie-6.12-blacklisted-only"), unavailable_action="warn")
    assert warned["load_module"] is True and warned["assert"]["module_at_boot"] is False


def test_container_with_builtin_host_module_changes_nothing_and_checks_live_values(facts_of):
    facts = facts_of("derived-trixie-6.12-podman-container", {
        "proc/config.gz": None, "boot": None,
        "sys/module/br_netfilter/parameters/.keep": "",
        "proc/sys/net/bridge/bridge-nf-call-iptables": "1\n",
        "proc/sys/net/bridge/bridge-nf-call-ip6tables": "1\n",
    })
    assert facts["state"] == "builtin" and facts["environment"]["container"] == "podman"
    result = plan(facts)
    assert result["context"] == "container"
    assert result["errors"] == []
    assert result["load_module"] is False
    assert result["modules_load"]["manage"] is False and result["sysctl"]["manage"] is False
    assert result["live"] == {}
    assert result["promised"] == {IPT: "1", IP6T: "1", FWD: "1"}
    verdict = verify_br_netfilter(result, facts)
    assert verdict["ok"] is False
    assert "net.ipv4.ip_forward is 0 now, promised 1" in verdict["failures"]
    assert "the container runtime" in verdict["summary"]


# -- bad input --------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    ({"unavailable_action": "ignore"}, "unavailable_action must be one of fail, warn"),
    ({"sysctl_file": ""}, "must be a non-empty path"),
    ({"modules_file": "   "}, "must be a non-empty path"),
    ({"sysctl_file": "/etc/sysctl.conf"}, "directly in /etc/sysctl.d"),
    ({"sysctl_file": "/etc/sysctl.d/k8s"}, "named '<name>.conf'"),
    ({"sysctl_file": "/etc/sysctl.d/../k8s.conf"}, "directly in /etc/sysctl.d"),
    ({"modules_file": "/usr/lib/modules-load.d/k8s.conf"}, "directly in /etc/modules-load.d"),
    ({"sysctls": [{"name": FWD, "value": "on"}]}, "must be an integer, got 'on'"),
    ({"sysctls": [{"name": FWD, "value": True}]}, "must be an integer, got True"),
    ({"sysctls": [{"name": FWD, "value": 1.5}]}, "must be an integer, got 1.5"),
    ({"sysctls": [{"name": "net.ipv4.ip forward", "value": 1}]}, "is not a sysctl key"),
    ({"sysctls": [{"name": "net.bridge.*", "value": 1}]}, "is not a sysctl key"),
    ({"sysctls": [{"name": FWD, "value": 1}, {"name": "net/ipv4/ip_forward", "value": 1}]}, "lists net/ipv4/ip_forward twice"),
    ({"sysctls": [{"name": FWD}]}, "exactly 'name' and 'value'"),
    ({"sysctls": {"net.ipv4.ip_forward": 1}}, "must be a list"),
    ({"extra_modules": ["over lay"]}, "is not a kernel module name"),
    # YAML block scalars end in a newline; a '$'-anchored check let these through into k8s.conf.
    ({"sysctls": [{"name": FWD + "\n", "value": 1}]}, "'net.ipv4.ip_forward\\n' is not a sysctl key"),
    ({"sysctls": [{"name": FWD + "\nkernel.panic", "value": 1}]}, "is not a sysctl key"),
    ({"extra_modules": ["overlay\n"]}, "extra_modules: 'overlay\\n' is not a kernel module name"),
    ({"sysctl_file": "/etc/sysctl.d/k8s\n.conf"}, "named '<name>.conf'"),
    ({"modules_file": "/etc/modules-load.d/.conf"}, "named '<name>.conf'"),
])
def test_bad_input_is_rejected_with_a_clear_message(facts_of, kwargs, message):
    facts = facts_of(LOADABLE)
    with pytest.raises(PlanError) as excinfo:
        plan(facts, **kwargs)
    assert message in str(excinfo.value)


def test_numeric_strings_are_accepted_as_integers(facts_of):
    result = plan(facts_of(LOADABLE), sysctls=[{"name": FWD, "value": " 1 "}])
    assert result["promised"] == {FWD: "1"}


def test_optional_switches_add_keys_once(facts_of):
    facts = facts_of(LOADABLE)
    names = [e["name"] for e in plan(facts, ipv6_forwarding=True, arptables=True)["sysctl"]["entries"]]
    assert names == [IPT, IP6T, FWD, V6ALL, "net.bridge.bridge-nf-call-arptables"]
    mine = DEFAULT_SYSCTLS + [{"name": V6ALL, "value": 0}]
    result = plan(facts, sysctls=mine, ipv6_forwarding=True)
    assert result["promised"][V6ALL] == "0", "an explicit entry wins over the switch"


# -- every key the role sets is watched, so every override is found ---------------------------

RP = "net.ipv4.conf.all.rp_filter"
V6DEFAULT = "net.ipv6.conf.default.forwarding"
WITH_RP = DEFAULT_SYSCTLS + [{"name": RP, "value": 1}]


def test_override_of_a_custom_key_is_detected(facts_of):
    facts = facts_of(LOADABLE, {"etc/sysctl.d/zz-hardening.conf": "net.ipv4.conf.all.rp_filter = 2\n"},
                     sysctl_keys=[RP])
    result = plan(facts, sysctls=WITH_RP)
    assert len(result["errors"]) == 1
    assert result["errors"][0].startswith("[SYSCTL_OVERRIDDEN] net.ipv4.conf.all.rp_filter = 1 in /etc/sysctl.d/k8s.conf")
    assert "/etc/sysctl.d/zz-hardening.conf line 1 sets 2" in result["errors"][0]
    assert result["overrides"] == [{"key": RP, "ours": "1", "value": "2", "file": "/etc/sysctl.d/zz-hardening.conf",
                                    "line": 1}]
    assert result["notes"] == [], "no key goes unchecked, so there is nothing to note"


def test_accepted_override_of_a_custom_key_promises_the_winning_value(facts_of):
    facts = facts_of(LOADABLE, {"etc/sysctl.d/zz-hardening.conf": "net.ipv4.conf.all.rp_filter = 2\n"},
                     sysctl_keys=[RP])
    result = plan(facts, sysctls=WITH_RP, accept_overrides=True)
    assert result["errors"] == []
    assert result["promised"][RP] == "2" and result["live"][RP] == "2"
    assert result["assert"]["ready"] is True, "rp_filter is not one of the readiness keys"


def test_earlier_file_for_a_custom_key_is_overridden_by_ours(facts_of):
    facts = facts_of(LOADABLE, {"usr/lib/sysctl.d/50-default.conf": "net.ipv4.conf.all.rp_filter = 2\n"},
                     sysctl_keys=[RP])
    result = plan(facts, sysctls=WITH_RP)
    assert result["errors"] == [] and result["promised"][RP] == "1"


def test_default_forwarding_is_watched_without_being_asked(facts_of):
    facts = facts_of(LOADABLE, {"etc/sysctl.d/zz-v6.conf": "net.ipv6.conf.default.forwarding = 0\n"})
    result = plan(facts, sysctls=DEFAULT_SYSCTLS + [{"name": V6DEFAULT, "value": 1}])
    assert "/etc/sysctl.d/zz-v6.conf line 1 sets 0" in result["errors"][0]


def test_slashed_key_is_checked_and_promised_under_its_dotted_name(facts_of):
    key = "net.ipv4.conf.eth0/100.rp_filter"
    facts = facts_of(LOADABLE, {"etc/sysctl.d/zz-vlan.conf": "net/ipv4/conf/eth0.100/rp_filter = 0\n"},
                     sysctl_keys=["net/ipv4/conf/eth0.100/rp_filter"])
    result = plan(facts, sysctls=DEFAULT_SYSCTLS + [{"name": "net/ipv4/conf/eth0.100/rp_filter", "value": 1}])
    assert result["overrides"][0]["key"] == key
    assert {"name": "net/ipv4/conf/eth0.100/rp_filter", "value": "1"} in result["sysctl"]["entries"]


def test_facts_that_do_not_watch_a_key_are_refused(facts_of):
    with pytest.raises(PlanError) as excinfo:
        plan(facts_of(LOADABLE), sysctls=WITH_RP)
    message = str(excinfo.value)
    assert message.startswith("the facts do not report net.ipv4.conf.all.rp_filter: gather them with "
                              "nodeprep.netfilter.br_netfilter_facts and sysctl_keys")
    assert "net.bridge.bridge-nf-call-iptables, net.bridge.bridge-nf-call-ip6tables, net.ipv4.ip_forward, " \
           "net.ipv4.conf.all.rp_filter" in message


# -- verification ---------------------------------------------------------------

def test_converged_host_verifies(facts_of):
    facts = facts_of(CONVERGED)
    verdict = verify_br_netfilter(plan(facts), facts)
    assert verdict["ok"] is True, verdict["failures"]
    assert verdict["live"] == {IPT: 1, IP6T: 1, FWD: 1}


def test_value_that_will_change_at_reboot_fails_verification(facts_of):
    facts_before = facts_of(LOADABLE)
    the_plan = plan(facts_before)
    after = facts_of(CONVERGED, {"etc/sysctl.d/zz-override.conf": "net.ipv4.ip_forward = 0\n"})
    verdict = verify_br_netfilter(the_plan, after)
    assert verdict["ok"] is False
    assert any(f.startswith("net.ipv4.ip_forward will be 0 after a reboot (/etc/sysctl.d/zz-override.conf line 1)")
               for f in verdict["failures"])


def test_module_not_loaded_fails_verification(facts_of):
    facts = facts_of(LOADABLE)
    verdict = verify_br_netfilter(plan(facts), facts)
    assert verdict["ok"] is False
    assert verdict["failures"][0].startswith("br_netfilter is loadable, expected loaded or built in")


def test_custom_key_is_verified_from_the_facts_now_and_after_reboot(facts_of):
    before = facts_of(CONVERGED, {"proc/sys/net/ipv4/conf/all/rp_filter": "2\n"}, sysctl_keys=[RP])
    the_plan = plan(before, sysctls=WITH_RP)
    assert the_plan["live_pending"] == [RP]
    k8s_conf = "".join("%s = 1\n" % entry["name"] for entry in WITH_RP)
    after = facts_of(CONVERGED, {"proc/sys/net/ipv4/conf/all/rp_filter": "1\n", "etc/sysctl.d/k8s.conf": k8s_conf},
                     sysctl_keys=[RP])
    verdict = verify_br_netfilter(the_plan, after)
    assert verdict["ok"] is True, verdict["failures"]
    assert verdict["live"][RP] == 1
    stale = facts_of(CONVERGED, {"proc/sys/net/ipv4/conf/all/rp_filter": "2\n"}, sysctl_keys=[RP])
    assert verify_br_netfilter(the_plan, stale)["failures"] == [
        "net.ipv4.conf.all.rp_filter is 2 now, promised 1",
        "net.ipv4.conf.all.rp_filter will be the kernel's default (not known here) after a reboot (no sysctl.d file "
        "sets it), promised 1"]
    unwatched = facts_of(CONVERGED)
    assert verify_br_netfilter(the_plan, unwatched)["failures"] == [
        "net.ipv4.conf.all.rp_filter is not reported by the facts (gather them with sysctl_keys listing it)"]


def test_verification_says_unknown_not_false_when_an_unreadable_file_may_decide(make_tree):
    the_plan = plan(gather_br_netfilter_facts(make_tree(CONVERGED, {})))
    # A FIFO sorting after k8s.conf could set any key: after a reboot the values are unknown, not "not persisted".
    root = make_tree(CONVERGED, {})
    os.mkfifo(os.path.join(root, "etc/sysctl.d/zz-local.conf"))
    failures = verify_br_netfilter(the_plan, gather_br_netfilter_facts(root))["failures"]
    assert any(f.startswith("net.ipv4.ip_forward is unknown after a reboot (an unreadable sysctl.d file may set it")
               for f in failures), failures
    assert any(f.startswith("br_netfilter_facts reports ready_after_reboot=unknown") for f in failures), failures
    assert not any("ready_after_reboot=false" in f or "will be" in f for f in failures), failures
    # An unreadable modprobe.d file may blacklist br_netfilter: whether it loads at boot is unknown.
    root = make_tree(CONVERGED, {})
    os.makedirs(os.path.join(root, "etc/modprobe.d"), exist_ok=True)
    os.mkfifo(os.path.join(root, "etc/modprobe.d/zz-local.conf"))
    failures = verify_br_netfilter(the_plan, gather_br_netfilter_facts(root))["failures"]
    assert any(f.startswith("br_netfilter may not be active after a reboot") for f in failures), failures


# -- Kubernetes / flannel readiness -------------------------------------------------

def test_bridge_only_node_fails_flannels_exact_check(facts_of):
    report = k8s_node_readiness(facts_of("trixie-6.12-state-b-bridge-only"))
    failed = dict((item["id"], item) for item in report["failed"])
    assert failed["flannel-ipv4"]["failure"] == (
        "Failed to check br_netfilter: stat /proc/sys/net/bridge/bridge-nf-call-iptables: no such file or directory")
    assert failed["kubeadm-ipv4-forward"]["failure"] == (
        "[ERROR FileContent--proc-sys-net-ipv4-ip_forward]: /proc/sys/net/ipv4/ip_forward contents are not set to 1")
    assert "flannel-ipv6" not in failed, "IPv6 checks only for dual stack"
    assert 'flannel fails with: "Failed to check br_netfilter' in report["summary"]


def test_converged_node_passes_ipv4_checks_and_dual_stack_needs_default_forwarding(facts_of):
    facts = facts_of(CONVERGED)
    assert k8s_node_readiness(facts)["ok"] is True
    dual = k8s_node_readiness(facts, dual_stack=True)
    assert [item["id"] for item in dual["failed"]] == ["kubeadm-ipv6-forward"]
    assert dual["failed"][0]["observed"] == "net.ipv6.conf.default.forwarding is 0"
    ok = k8s_node_readiness(facts_of(CONVERGED, {"proc/sys/net/ipv6/conf/default/forwarding": "1\n"}),
                            dual_stack=True)
    assert ok["ok"] is True and "flannel-ipv6" in ok["passed"]


OVERLAY_LOADED = {"sys/module/overlay/initstate": "live\n"}


def test_overlay_checks_come_from_the_facts(facts_of):
    loaded = k8s_node_readiness(facts_of(CONVERGED, OVERLAY_LOADED), overlay=True)
    assert loaded["ok"] is True
    assert loaded["passed"][-2:] == ["overlay-present", "overlay-persisted"]
    loadable = k8s_node_readiness(facts_of(CONVERGED), overlay=True)
    assert [item["id"] for item in loadable["failed"]] == ["overlay-present"]
    assert loadable["failed"][0]["observed"] == "overlay is loadable: overlay is available as a module but not loaded"
    assert "containerd: the overlayfs snapshotter" in loadable["summary"]
    assert k8s_node_readiness(facts_of(CONVERGED))["ok"] is True, "overlay is checked only when asked"


def test_overlay_loaded_but_not_listed_for_boot_fails_persisted(facts_of):
    facts = facts_of(CONVERGED, dict(OVERLAY_LOADED, **{"etc/modules-load.d/k8s.conf": "br_netfilter\n"}))
    report = k8s_node_readiness(facts, overlay=True)
    assert [(item["id"], item["observed"]) for item in report["failed"]] == [
        ("overlay-persisted", "no modules-load.d file lists overlay")]


def test_overlay_blocked_at_boot_names_the_line(facts_of):
    facts = facts_of(CONVERGED, dict(OVERLAY_LOADED, **{"etc/modprobe.d/no-overlay.conf": "install overlay /bin/false\n"}))
    report = k8s_node_readiness(facts, overlay=True)
    assert report["failed"][0]["observed"] == (
        "overlay is blocked at boot by /etc/modprobe.d/no-overlay.conf line 1 ('/bin/false')")


def test_overlay_built_in_needs_no_boot_listing(facts_of):
    facts = facts_of("host-6.18-builtin-nomodules")
    report = k8s_node_readiness(facts, overlay=True)
    assert {"overlay-present", "overlay-persisted"} <= set(report["passed"])


def test_overlay_persistence_is_not_judged_inside_a_container(facts_of):
    facts = facts_of("derived-trixie-6.12-podman-container", OVERLAY_LOADED)
    report = k8s_node_readiness(facts, overlay=True)
    assert "overlay-present" in report["passed"]
    assert "overlay-persisted" not in report["passed"] + [item["id"] for item in report["failed"]]


def test_blocked_extra_module_is_not_listed_for_boot(facts_of):
    facts = facts_of(LOADABLE, {"etc/modprobe.d/no-overlay.conf": "install overlay /bin/false\n"})
    result = plan(facts, extra_modules=["overlay"])
    assert result["modules_load"]["modules"] == ["br_netfilter"]
    assert result["modules_skipped"] == [{"name": "overlay", "state": "blocked", "reason": (
        "overlay exists but '/bin/false' at /etc/modprobe.d/no-overlay.conf:1 stops it from loading")}]
    assert result["warnings"][0].startswith("[MODULE_NOT_LISTED] overlay is blocked")
    assert result["errors"] == []


def test_every_check_quotes_a_tool_message_and_a_reference():
    for check in K8S_CHECKS:
        assert check["failure"] and check["reference"].startswith("https://")


@pytest.mark.parametrize("left, right, expected", [
    ("1", 1, True), (" 1\n", "1", True), ("4096  87380", "4096 87380", True), ("0", 1, False), (None, 1, False),
])
def test_values_compare_as_words(left, right, expected):
    assert same_value(left, right) is expected


def test_live_pending_lists_only_keys_that_differ_from_the_facts(facts_of):
    assert plan(facts_of(CONVERGED))["live_pending"] == []
    fresh = plan(facts_of(LOADABLE))
    assert fresh["live_pending"] == [IP6T, IPT, FWD]
    dual = plan(facts_of(CONVERGED), sysctls=DEFAULT_SYSCTLS + [{"name": V6DEFAULT, "value": 1}])
    assert dual["live_pending"] == [V6DEFAULT]
