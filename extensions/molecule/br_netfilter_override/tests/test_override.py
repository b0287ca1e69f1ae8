# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An accepted override: the live value equals the promised one, before and after a real reboot."""

import json

import pytest

from nodeprep_role_checks import config_lines, module_state, rebooted, sysctl

KEYS = ("net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables", "net.ipv4.ip_forward")


def promised(host):
    return json.loads(host.file("/var/lib/nodeprep-promised.json").content_string)


def test_the_role_promised_the_overriding_value(host):
    assert promised(host) == {"net.bridge.bridge-nf-call-iptables": "0",
                              "net.bridge.bridge-nf-call-ip6tables": "1", "net.ipv4.ip_forward": "1"}


@pytest.mark.parametrize("key", KEYS)
def test_live_value_is_the_promised_one(host, key):
    assert sysctl(host, key) == promised(host)[key]


def test_our_file_still_says_1_and_the_later_file_says_0(host):
    assert config_lines(host, "/etc/sysctl.d/k8s.conf") == ["%s = 1" % key for key in KEYS]
    assert config_lines(host, "/etc/sysctl.d/zz-override.conf") == ["net.bridge.bridge-nf-call-iptables = 0"]


def test_br_netfilter_is_loaded(host):
    assert module_state(host, "br_netfilter") == "live"


def test_after_reboot_systemd_applied_the_later_file(host):
    if not rebooted(host):
        pytest.skip("before the reboot")
    assert host.file("/sys/module/br_netfilter/initstate").content_string.strip() == "live"
    assert sysctl(host, "net.bridge.bridge-nf-call-iptables") == "0"
