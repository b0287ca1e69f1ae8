# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""dockerd 26.1.5 with br_netfilter blocked: left alone with default settings, refused with icc=false. Order matters."""

import json

import pytest

from pin_compat_checks import journal, playbook, service_state, unwrap

DROPIN_DIR = "/etc/systemd/system/docker.service.d"
STATE = "/var/lib/nodeprep-test"
HATCH_CODES = {"DOCKER_BR_NETFILTER_REQUIRED_NO_ESCAPE", "DOCKER_BR_NETFILTER_REQUIRED", "DOCKER_BR_NETFILTER_ERROR_IGNORED",
               "DOCKER_IGNORE_BR_NETFILTER_ERROR_SET", "DOCKER_IGNORE_BR_NETFILTER_ERROR_DELIBERATE",
               "DOCKER_27_3_BR_NETFILTER_DETECTION"}


def audit(host):
    rc, _recap, output = playbook("audit.yml")
    assert rc == 0, output
    return json.loads(host.file(STATE + "/audit.json").content_string)


def test_br_netfilter_is_blocked_and_not_loaded(host):
    assert not host.file("/sys/module/br_netfilter").exists
    assert host.run("modprobe br_netfilter").rc != 0


def test_no_drop_in_was_written(host):
    assert not host.file(DROPIN_DIR + "/10-br-netfilter.conf").exists
    assert host.run("systemctl show -p Environment docker.service").stdout.strip() == "Environment="


def test_dockerd_with_default_settings_was_left_alone_and_runs(host):
    state = service_state(host)
    assert state["ActiveState"] == "active"
    assert state["MainPID"] == host.file(STATE + "/dockerd-pid-before-role").content_string.strip()
    assert host.run("systemctl show -p NeedDaemonReload --value docker.service").stdout.strip() == "no"
    assert host.run("docker network ls --format '{{.Name}}'").stdout.split() == ["bridge", "host", "none"]


def test_the_audit_agrees_nothing_needs_br_netfilter(host):
    result = audit(host)
    summary = result["summary"]
    assert summary["docker_version"] == "26.1.5" and summary["engine_running"] is True
    assert summary["br_netfilter_state"] == "blocked" and summary["br_netfilter_needed_by"] == []
    assert summary["br_netfilter_escape_hatch"] == "not_needed"
    assert not set(summary["codes"]) & HATCH_CODES, summary["codes"]


@pytest.fixture(scope="module")
def icc_false(host):
    """daemon.json gets "icc": false (dockerd not restarted), then the role runs as a user would."""
    pid = service_state(host)["MainPID"]
    result = host.run("printf '{\"icc\": false}\\n' > /etc/docker/daemon.json")
    assert result.rc == 0, result.stderr
    rc, recap, output = playbook("plain.yml")
    return pid, rc, recap, output


def test_with_icc_false_the_role_refuses_with_the_version_and_the_fix(host, icc_false):
    _pid, rc, recap, output = icc_false
    assert rc != 0 and recap.get("changed") == 0, output
    text = unwrap(output)
    assert "Docker 26.1.5 predates DOCKER_IGNORE_BR_NETFILTER_ERROR=1 (honoured from 27.5.1): with icc=false it " \
           "fails to start (br_netfilter is blocked)." in text
    assert "Fix: Upgrade Docker to >= 27.5.1 (the nodeprep.netfilter.package_pin role pins it" in text


def test_with_icc_false_nothing_was_changed(host, icc_false):
    pid = icc_false[0]
    assert not host.file(DROPIN_DIR + "/10-br-netfilter.conf").exists
    assert service_state(host)["MainPID"] == pid


def test_with_icc_false_the_audit_names_the_same_cause(host, icc_false):
    summary = audit(host)["summary"]
    assert summary["br_netfilter_escape_hatch"] == "impossible"
    assert set(summary["codes"]) & HATCH_CODES == {"DOCKER_BR_NETFILTER_REQUIRED_NO_ESCAPE"}


def test_with_icc_false_the_real_dockerd_26_fails_to_start(host, icc_false):
    restart = host.run("systemctl restart docker.service")
    assert restart.rc != 0
    assert "cannot restrict inter-container communication: ensure that the br_netfilter kernel module is loaded" \
        in journal(host, "docker.service")
