# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Blocked br_netfilter: nothing that needs it is persisted, ip_forward is, and boot stays clean."""

import pytest

from nodeprep_role_checks import boot_journal, config_lines, module_state, playbook, rebooted, sysctl


def test_the_block_is_real(host):
    result = host.run("modprobe br_netfilter")
    assert result.rc != 0
    assert "Error running install command '/bin/false' for module br_netfilter" in result.stderr


def test_br_netfilter_is_not_loaded_and_its_keys_are_absent(host):
    assert module_state(host, "br_netfilter") is None
    assert sysctl(host, "net.bridge.bridge-nf-call-iptables") is None


def test_only_the_forwarding_key_is_persisted_and_set(host):
    assert config_lines(host, "/etc/sysctl.d/k8s.conf") == ["net.ipv4.ip_forward = 1"]
    assert sysctl(host, "net.ipv4.ip_forward") == "1"


def test_br_netfilter_is_not_listed_for_boot(host):
    # k8s_node (warn) lists overlay only; listing a blocked module would fail systemd-modules-load at boot.
    assert config_lines(host, "/etc/modules-load.d/k8s.conf") == ["overlay"]


def test_check_mode_changes_nothing(host):
    if rebooted(host):
        pytest.skip("shown before the reboot; after it the state tests show the promise held")
    rc, recap, output = playbook("converge.yml", check=True)
    assert rc == 0, output
    assert recap.get("changed") == 0 and recap.get("failed") == 0 and recap.get("rescued") == 1, output


def test_boot_is_clean_and_forwarding_survives(host):
    if not rebooted(host):
        pytest.skip("before the reboot")
    assert host.run("systemctl is-failed systemd-modules-load").stdout.strip() != "failed"
    assert "br_netfilter" not in boot_journal(host, "systemd-modules-load")
    assert sysctl(host, "net.ipv4.ip_forward") == "1"
    assert module_state(host, "overlay") == "live"
