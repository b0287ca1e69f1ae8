# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""dockerd 28.5.2, icc=false, br_netfilter blocked, before and after docker_br_netfilter_compat. File order matters."""

import json

import pytest

from pin_compat_checks import journal, playbook, process_env, service_state, sha256, unwrap

DROPIN = "/etc/systemd/system/docker.service.d/10-br-netfilter.conf"
BLOCK = "/etc/modprobe.d/nodeprep-test-block-br_netfilter.conf"
STATE = "/var/lib/nodeprep-test"
HATCH_CODES = {"DOCKER_BR_NETFILTER_REQUIRED_NO_ESCAPE", "DOCKER_BR_NETFILTER_REQUIRED", "DOCKER_BR_NETFILTER_ERROR_IGNORED",
               "DOCKER_IGNORE_BR_NETFILTER_ERROR_SET", "DOCKER_IGNORE_BR_NETFILTER_ERROR_DELIBERATE",
               "DOCKER_27_3_BR_NETFILTER_DETECTION"}
BEFORE = ("failed to start daemon: Error initializing network controller: error creating default \"bridge\" network: "
          "cannot restrict inter-container communication or run without the userland proxy: stat "
          "/proc/sys/net/bridge/bridge-nf-call-iptables: no such file or directory: set environment variable "
          "DOCKER_IGNORE_BR_NETFILTER_ERROR=1 to ignore")


def audit(host):
    rc, _recap, output = playbook("audit.yml")
    assert rc == 0, output
    return json.loads(host.file(STATE + "/audit.json").content_string)


def test_with_default_settings_the_role_installed_nothing_and_dockerd_ran(host):
    result = json.loads(host.file(STATE + "/defaults-result.json").content_string)
    assert (result["action"], result["needed_by"], result["escape_hatch"]) == ("absent", [], "not_needed")
    assert result["br_netfilter_state"] == "blocked" and int(result["main_pid"]) > 0


def test_before_the_role_dockerd_refused_to_start(host):
    assert BEFORE in host.file("/var/lib/nodeprep-test/dockerd-before-role.log").content_string


def test_the_drop_in_sets_the_escape_hatch_and_nothing_else(host):
    dropin = host.file(DROPIN)
    assert (dropin.user, dropin.group, dropin.mode) == ("root", "root", 0o644)
    lines = [line for line in dropin.content_string.splitlines() if line and not line.startswith("#")]
    assert lines == ["[Service]", "Environment=DOCKER_IGNORE_BR_NETFILTER_ERROR=1"]
    assert host.run("systemctl show -p Environment docker.service").stdout.strip() == \
        "Environment=DOCKER_IGNORE_BR_NETFILTER_ERROR=1"


def test_the_vendor_unit_is_untouched(host):
    # dpkg --verify lists files whose checksum differs from the package's; the unit must not be one of them
    assert "docker.service" not in host.run("dpkg --verify docker.io").stdout
    assert host.file("/usr/lib/systemd/system/docker.service").exists


def test_after_the_role_dockerd_runs_with_the_variable_and_without_br_netfilter(host):
    state = service_state(host)
    assert state["ActiveState"] == "active", state
    assert process_env(host, state["MainPID"]).get("DOCKER_IGNORE_BR_NETFILTER_ERROR") == "1"
    assert "Continuing without enabling br_netfilter" in journal(host, "docker.service")
    assert not host.file("/sys/module/br_netfilter").exists
    assert not host.file("/proc/sys/net/bridge/bridge-nf-call-iptables").exists


def test_a_run_on_the_converged_host_changes_nothing_and_warns_about_isolation(host):
    rc, recap, output = playbook("converge.yml", check=True)
    assert rc == 0 and recap.get("changed") == 0, output
    text = unwrap(output)
    assert ("DOCKER_IGNORE_BR_NETFILTER_ERROR=1 lets dockerd 28.5.2 start without br_netfilter (blocked): "
            "inter-container isolation (icc=false, networks with enable_icc=false) is NOT enforced") in text


def test_the_audit_agrees_and_reports_only_the_lost_isolation(host):
    summary = audit(host)["summary"]
    assert summary["engine_running"] is True and summary["br_netfilter_needed_by"] == ["icc=false"]
    assert (summary["br_netfilter_escape_hatch"], summary["br_netfilter_escape_hatch_mode"]) == ("needed", "auto")
    assert set(summary["codes"]) & HATCH_CODES == {"DOCKER_BR_NETFILTER_ERROR_IGNORED"}


def test_bad_input_is_refused_before_any_change(host):
    before = (sha256(host, DROPIN), service_state(host)["MainPID"])
    rc, recap, output = playbook("converge.yml", {"docker_br_netfilter_compat_restart_allowed": "maybe"})
    assert rc != 0 and recap.get("changed") == 0, output
    assert "docker_br_netfilter_compat_restart_allowed" in output and "Validation of arguments failed" in output
    assert (sha256(host, DROPIN), service_state(host)["MainPID"]) == before


@pytest.fixture(scope="module")
def unblocked(host):
    old_pid = service_state(host)["MainPID"]
    rc, recap, output = playbook("unblock.yml")
    assert rc == 0, output
    return old_pid, recap, output


def test_once_br_netfilter_is_available_the_drop_in_is_gone(host, unblocked):
    assert not host.file(DROPIN).exists
    assert not host.file(BLOCK).exists
    assert "Environment=" == host.run("systemctl show -p Environment docker.service").stdout.strip()


def test_dockerd_was_restarted_and_loaded_br_netfilter_itself(host, unblocked):
    old_pid, recap, output = unblocked
    state = service_state(host)
    assert state["ActiveState"] == "active" and state["MainPID"] != old_pid, output
    assert "DOCKER_IGNORE_BR_NETFILTER_ERROR" not in process_env(host, state["MainPID"])
    assert host.file("/sys/module/br_netfilter/initstate").content_string.strip() == "live"
    assert host.file("/proc/sys/net/bridge/bridge-nf-call-iptables").content_string.strip() == "1"
    assert "Continuing without enabling br_netfilter" not in journal(host, "docker.service", state["MainPID"])


def test_the_unblocked_host_is_stable(host, unblocked):
    rc, recap, output = playbook("unblock.yml")
    assert rc == 0 and recap.get("changed") == 0, output


@pytest.fixture(scope="module")
def always(host, unblocked):
    old_pid = service_state(host)["MainPID"]
    rc, recap, output = playbook("always.yml")
    assert rc == 0, output
    return old_pid, recap, output


def test_mode_always_installs_the_drop_in_deliberately(host, always):
    old_pid, recap, output = always
    first = host.file(DROPIN).content_string.splitlines()[0]
    assert first.startswith("# Managed by nodeprep.netfilter.docker_br_netfilter_compat (mode=always)")
    state = service_state(host)
    assert state["MainPID"] != old_pid and process_env(host, state["MainPID"]).get("DOCKER_IGNORE_BR_NETFILTER_ERROR") == "1"
    assert host.file("/sys/module/br_netfilter/initstate").content_string.strip() == "live"  # isolation still enforced


def test_the_audit_reports_mode_always_as_a_deliberate_choice(host, always):
    result = audit(host)
    summary = result["summary"]
    assert summary["br_netfilter_escape_hatch_mode"] == "always"
    assert set(summary["codes"]) & HATCH_CODES == {"DOCKER_IGNORE_BR_NETFILTER_ERROR_DELIBERATE"}
    finding = [item for item in result["findings"] if item["code"] == "DOCKER_IGNORE_BR_NETFILTER_ERROR_DELIBERATE"][0]
    assert finding["severity"] == "info"


def test_mode_always_is_stable(host, always):
    rc, recap, output = playbook("always.yml")
    assert rc == 0 and recap.get("changed") == 0, output
