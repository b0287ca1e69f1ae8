# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one decision: does this dockerd need br_netfilter here, can it have it, is the escape hatch needed.

Each case is labelled by what moby's bridge driver of that release does (see BEHAVIOURS in the module)."""

from __future__ import annotations

import pytest

from ansible_collections.nodeprep.netfilter.plugins.module_utils import _br_netfilter_need as need
from ansible_collections.nodeprep.netfilter.plugins.module_utils._known_issues import issue

DEFAULTS = {}
ICC_OFF = {"icc": False}
PROXY_OFF = {"userland-proxy": False}
BOTH_OFF = {"icc": False, "userland-proxy": False}
N1_ICC_OFF = [{"name": "bridge", "icc": True, "default_bridge": True}, {"name": "n1", "icc": False}]


def br(state, key=None, directory=None):
    """br_netfilter facts as br_netfilter_facts reports them (key and /proc/sys/net/bridge follow the state)."""
    if key is None:
        key = state in ("loaded", "builtin")
    if directory is None:
        directory = key
    return {"state": state, "bridge_nf_call_iptables_present": key, "bridge_sysctl_dir_present": directory}


def decide(version, settings=None, state="blocked", networks=None, ignore_env=None, mode="auto", facts=None):
    return need.br_netfilter_need(version, settings or {}, facts or br(state), networks, ignore_env, mode)


# --- the decision table: (icc, userland-proxy, per-network icc) x Docker version x br_netfilter state ----------------

STATES = ("loaded", "loadable", "blocked", "builtin", "unavailable")
VERSIONS = ("26.1.5", "27.3.1", "27.4.0", "27.5.0", "27.5.1", "28.5.2")
SETTINGS = {"defaults": (DEFAULTS, None), "icc=false": (ICC_OFF, None), "userland-proxy=false": (PROXY_OFF, None),
            "network n1 icc=false": (DEFAULTS, N1_ICC_OFF)}


def expected(version, settings_name, state):
    """(outcome, escape_hatch, action) in mode auto, written out from the moby source per release."""
    missing = state in ("blocked", "unavailable")
    if settings_name == "defaults" or not missing:
        if settings_name == "userland-proxy=false" and version == "27.3.1" and state == "loadable":
            return "degraded", "not_needed", "absent"  # 27.3 loads br_netfilter only for icc=false
        return "ok", "not_needed", "absent"
    if settings_name == "userland-proxy=false" and version in ("26.1.5", "27.3.1"):
        return "degraded", "not_needed", "absent"  # checked only from 27.4.0: dockerd starts, hairpin NAT broken
    if version in ("27.5.1", "28.5.2"):
        return "fails", "needed", "present"
    return "fails", "impossible", "fail"


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("settings_name", sorted(SETTINGS))
def test_decision_table(settings_name, version, state):
    settings, networks = SETTINGS[settings_name]
    result = decide(version, settings, state, networks)
    assert (result["outcome"], result["escape_hatch"], result["action"]) == expected(version, settings_name, state)
    assert result["needed"] is (settings_name != "defaults")
    assert result["escape_hatch_allowed"] is (version in ("27.5.1", "28.5.2"))


def test_docker_26_with_default_settings_and_no_br_netfilter_is_left_alone():
    result = decide("26.1.5+dfsg1-9+deb13u1", DEFAULTS, "blocked", networks=[{"name": "bridge", "icc": True}])
    assert (result["needed"], result["action"], result["escape_hatch"]) == (False, "absent", "not_needed")
    assert result["reason"] == ("Docker 26.1.5 needs no DOCKER_IGNORE_BR_NETFILTER_ERROR: nothing needs br_netfilter "
                                "(icc and userland-proxy at their defaults, no network with enable_icc=false).")


def test_docker_26_with_icc_false_and_no_br_netfilter_is_refused_with_the_version():
    result = decide("26.1.5+dfsg1-9+deb13u1", ICC_OFF, "blocked")
    assert (result["action"], result["failure"]) == ("fail", "start")
    assert result["reason"] == ("Docker 26.1.5 predates DOCKER_IGNORE_BR_NETFILTER_ERROR=1 (honoured from 27.5.1): with "
                                "icc=false it fails to start (br_netfilter is blocked).")


def test_a_network_with_icc_false_fails_only_that_network():
    result = decide("28.5.2", DEFAULTS, "unavailable", N1_ICC_OFF)
    assert result["needed_by"] == ["network n1 with enable_icc=false"]
    assert (result["failure"], result["action"]) == ("network", "present")
    old = decide("26.1.5", DEFAULTS, "blocked", N1_ICC_OFF)
    assert (old["failure"], old["action"]) == ("network", "fail")
    assert "fails to create or restore those networks" in old["reason"]


def test_the_default_bridge_from_the_engine_is_counted_once_as_the_daemon_setting():
    networks = [{"name": "bridge", "icc": False, "default_bridge": True}]
    assert decide("28.5.2", ICC_OFF, "blocked", networks)["needed_by"] == ["icc=false"]


def test_unknown_engine_networks_are_said_in_the_reason():
    assert decide("28.5.2", DEFAULTS, "blocked", None)["reason"].endswith(
        "(icc and userland-proxy at their defaults; engine networks unknown).")


@pytest.mark.parametrize("settings", [{"iptables": False, "icc": False}, {"iptables": False, "userland-proxy": False}])
def test_iptables_false_without_ip6tables_needs_nothing(settings):
    assert decide("28.5.2", settings, "blocked")["needed"] is False


def test_ip6tables_alone_still_runs_the_check():
    assert decide("28.5.2", {"iptables": False, "ip6tables": True, "icc": False}, "blocked")["needed"] is True


# --- Docker 27.3: per setting, and by what exists under /proc/sys/net/bridge ----------------------------------------

@pytest.mark.parametrize("version", ["27.3.0", "27.3.1"])
def test_27_3_icc_false_loads_br_netfilter_when_proc_sys_net_bridge_is_absent(version):
    result = decide(version, ICC_OFF, facts=br("loadable", key=False, directory=False))
    assert (result["outcome"], result["available"]) == ("ok", "dockerd loads it")
    assert result["needs"][0]["why"] == "dockerd runs modprobe bridge br_netfilter (no /proc/sys/net/bridge)"


@pytest.mark.parametrize("version", ["27.3.0", "27.3.1"])
def test_27_3_icc_false_fails_when_only_the_bridge_directory_exists(version):
    result = decide(version, ICC_OFF, facts=br("loadable", key=False, directory=True))
    assert (result["outcome"], result["failure"], result["escape_hatch"]) == ("fails", "start", "impossible")
    assert result["needs"][0]["branch"] == "27.3 directory check"
    assert result["available"] == "loadable, but dockerd will not load it"
    assert "setup_bridgenetfiltering.go#L50-L66" in " ".join(result["source"])


def test_27_4_checks_the_key_so_the_bridge_directory_no_longer_fools_it():
    result = decide("27.4.0", ICC_OFF, facts=br("loadable", key=False, directory=True))
    assert (result["outcome"], result["available"]) == ("ok", "dockerd loads it")


def test_27_3_userland_proxy_false_is_not_checked_and_nothing_loads_br_netfilter():
    result = decide("27.3.1", PROXY_OFF, facts=br("loadable", key=False, directory=False))
    assert result["outcome"] == "degraded" and result["needs"][0]["checked"] is False
    assert result["escape_hatch"] == "not_needed" and result["action"] == "absent"


def test_27_3_userland_proxy_false_is_served_by_the_load_that_icc_false_triggers():
    result = decide("27.3.1", BOTH_OFF, facts=br("loadable", key=False, directory=False))
    assert [item["outcome"] for item in result["needs"]] == ["ok", "ok"]


def test_before_27_3_dockerd_loads_br_netfilter_at_start_unless_the_directory_exists():
    assert decide("26.1.5", PROXY_OFF, facts=br("loadable", key=False, directory=False))["outcome"] == "ok"
    fooled = decide("26.1.5", ICC_OFF, facts=br("loadable", key=False, directory=True))
    assert (fooled["outcome"], fooled["needs"][0]["branch"]) == ("fails", "directory check at start")


def test_loaded_module_without_its_key_fails_everywhere():
    result = decide("28.5.2", ICC_OFF, facts=br("loaded", key=False, directory=True))
    assert result["outcome"] == "fails"
    assert result["why"] == "br_netfilter is loaded but bridge-nf-call-iptables is absent"


# --- the escape hatch as set now, and the modes ----------------------------------------------------------------------

def test_the_variable_set_to_1_makes_a_failing_27_5_1_lose_isolation_instead():
    assert decide("27.5.1", ICC_OFF, "blocked", ignore_env="1")["effective"] == "isolation_lost"
    assert decide("27.5.1", ICC_OFF, "blocked", ignore_env="true")["effective"] == "fails"  # moby compares with "1"
    assert decide("27.5.0", ICC_OFF, "blocked", ignore_env="1")["effective"] == "fails"


@pytest.mark.parametrize("version,state,settings,action", [
    ("28.5.2", "loadable", DEFAULTS, "present"),
    ("28.5.2", "blocked", ICC_OFF, "present"),
    ("27.5.1", "builtin", DEFAULTS, "present"),
    ("27.5.0", "loadable", DEFAULTS, "absent"),  # the variable means nothing there
    ("26.1.5", "blocked", ICC_OFF, "fail"),  # a need now that no drop-in can meet
    ("26.1.5", "blocked", DEFAULTS, "absent"),
    ("", "blocked", DEFAULTS, "absent"),
])
def test_mode_always(version, state, settings, action):
    assert decide(version, settings, state, mode="always")["action"] == action


@pytest.mark.parametrize("version,settings", [("28.5.2", ICC_OFF), ("26.1.5", ICC_OFF), ("28.5.2", DEFAULTS)])
def test_mode_never_installs_nothing_and_says_what_fails(version, settings):
    result = decide(version, settings, "blocked", mode="never")
    assert result["action"] == "absent"
    assert ("fails without br_netfilter" in result["reason"]) is (settings == ICC_OFF)


def test_not_installed_needs_nothing():
    result = decide(None, ICC_OFF, "blocked")
    assert (result["action"], result["needed"], result["docker_version"]) == ("absent", False, None)


def test_unknown_br_netfilter_state_decides_nothing():
    result = need.br_netfilter_need("28.5.2", ICC_OFF, None)
    assert (result["outcome"], result["escape_hatch"], result["action"]) == ("unknown", "unknown", "absent")


@pytest.mark.parametrize("kwargs,message", [
    ({"docker_version": "unknown"}, "cannot read a Docker release from version 'unknown'"),
    ({"docker_version": "28.5.2", "mode": "sometimes"}, "mode 'sometimes' is not one of auto, always, never"),
])
def test_bad_input(kwargs, message):
    with pytest.raises(need.NeedError, match=message):
        need.br_netfilter_need(br_facts=br("blocked"), **kwargs)


def test_threshold_is_the_known_issue_tables():
    assert need.ESCAPE_HATCH_SINCE == issue("DOCKER_BR_NETFILTER_REQUIRED")["versions"]["min"]
    assert need.ESCAPE_HATCH_SINCE == issue("DOCKER_BR_NETFILTER_ERROR_IGNORED")["versions"]["min"]
    assert need.ESCAPE_HATCH_SINCE == issue("DOCKER_BR_NETFILTER_REQUIRED_NO_ESCAPE")["versions"]["before"]


def test_every_behaviour_cites_moby_source_lines():
    for row in need.BEHAVIOURS:
        assert row["source"] and all(url.startswith(need.MOBY_BLOB + "v") and "#L" in url for url in row["source"])


# --- the drop-in and its marker ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["auto", "always"])
def test_drop_in_sets_only_the_escape_hatch_and_names_its_mode(mode):
    text = need.dropin_content(mode)
    assert [line for line in text.splitlines() if not line.startswith("#")] == [
        "[Service]", "Environment=DOCKER_IGNORE_BR_NETFILTER_ERROR=1"]
    assert need.dropin_is_managed(text)
    assert need.dropin_mode(text.splitlines()[0]) == mode


def test_marker_of_an_older_role_version_reads_as_auto_and_a_foreign_comment_as_none():
    assert need.dropin_mode(need.DROPIN_MARKER + ": br_netfilter is unavailable or blocked on this host.") == "auto"
    assert need.dropin_mode("# my own override") is None
    with pytest.raises(need.NeedError):
        need.dropin_content("never")
