# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""k8s_node on trixie, read back independently; the same tests run before and after a real reboot."""

import pytest

from nodeprep_role_checks import boot_journal, config_lines, module_state, playbook, rebooted, sysctl

KEYS = ("net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables", "net.ipv4.ip_forward",
        "net.ipv6.conf.all.forwarding", "net.ipv6.conf.default.forwarding")


def test_br_netfilter_and_overlay_are_loaded_modules(host):
    assert module_state(host, "br_netfilter") == "live"
    assert module_state(host, "overlay") == "live"
    assert host.file("/proc/modules").contains("^br_netfilter ")


@pytest.mark.parametrize("key", KEYS)
def test_sysctl_is_1(host, key):
    assert sysctl(host, key) == "1"


def test_flannel_stat_paths_exist(host):
    assert host.file("/proc/sys/net/bridge/bridge-nf-call-iptables").exists
    assert host.file("/proc/sys/net/bridge/bridge-nf-call-ip6tables").exists


@pytest.mark.parametrize("path, lines", [
    ("/etc/modules-load.d/k8s.conf", ["overlay", "br_netfilter"]),
    ("/etc/sysctl.d/k8s.conf", ["%s = 1" % key for key in KEYS]),
])
def test_persistence_file_is_root_0644_with_exact_content(host, path, lines):
    conf = host.file(path)
    assert conf.is_file
    assert (conf.user, conf.group, conf.mode) == ("root", "root", 0o644)
    assert config_lines(host, path) == lines


def test_check_mode_on_the_converged_host_changes_nothing(host):
    if rebooted(host):
        pytest.skip("shown before the reboot; after it the state tests show the promise held")
    rc, recap, output = playbook("converge.yml", check=True)
    assert rc == 0, output
    assert recap.get("changed") == 0 and recap.get("failed") == 0, output
    # overlay-present/-persisted are judged from br_netfilter_facts' modules.overlay (loaded, listed for boot).
    assert ("Ready for kubeadm/flannel: flannel-ipv4, flannel-ipv6, kubeadm-ipv4-forward, kubeadm-ipv6-forward, "
            "overlay-present, overlay-persisted") in output


def test_boot_loaded_the_modules_and_applied_every_key(host):
    if not rebooted(host):
        pytest.skip("before the reboot")
    modules_load = boot_journal(host, "systemd-modules-load")
    assert "Failed" not in modules_load, modules_load
    assert "Couldn't write" not in boot_journal(host, "systemd-sysctl")
    assert host.run("systemctl is-failed systemd-modules-load").stdout.strip() != "failed"
