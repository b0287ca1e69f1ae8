# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Blocked br_netfilter: nothing that needs it is persisted or listed for boot; ip_forward is."""

from nodeprep_role_checks import config_lines, module_state, sysctl


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


def test_boot_time_services_run_cleanly_with_these_files(host):
    # What boot runs, re-run now (a reboot costs more than the whole rest of this scenario): a blocked module in
    # modules-load.d would fail systemd-modules-load; a persisted bridge key would make systemd-sysctl complain.
    since = host.run("date +%s").stdout.strip()
    assert host.run("systemctl restart systemd-modules-load systemd-sysctl").rc == 0
    assert host.run("systemctl is-failed systemd-modules-load systemd-sysctl").stdout.split() == ["active", "active"]
    journal = host.run("journalctl --no-pager -o cat --since @%s -u systemd-modules-load -u systemd-sysctl" % since)
    assert "br_netfilter" not in journal.stdout and "Couldn't write" not in journal.stdout
    assert sysctl(host, "net.ipv4.ip_forward") == "1"
