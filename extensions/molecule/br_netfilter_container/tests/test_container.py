# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Inside the containers nothing was written, and the kernel state is the host's."""

import pytest


def test_this_is_a_podman_container(host):
    assert host.file("/run/.containerenv").exists


def test_no_configuration_file_was_written(host):
    assert not host.file("/etc/sysctl.d/k8s.conf").exists
    assert not host.file("/etc/modules-load.d/k8s.conf").exists


def test_proc_sys_is_read_only_here(host):
    result = host.run("sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'")
    assert result.rc != 0 and "Read-only file system" in result.stderr


def test_the_host_kernel_provides_bridge_netfilter(host):
    assert host.file("/proc/sys/net/bridge/bridge-nf-call-iptables").content_string.strip() == "1"


@pytest.mark.parametrize("name, expected", [("nodeprep-ct-ready", "1"), ("nodeprep-ct-notready", "0")])
def test_ip_forward_is_what_podman_gave_the_namespace(host, name, expected):
    if host.backend.get_hostname() != name:
        pytest.skip("other container")
    assert host.file("/proc/sys/net/ipv4/ip_forward").content_string.strip() == expected
