# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""modules-load.d persistence and modprobe.d blacklist/install policy."""

from __future__ import annotations

import pytest

from ansible_collections.nodeprep.netfilter.plugins.module_utils._br_netfilter import gather_br_netfilter_facts
from ansible_collections.nodeprep.netfilter.plugins.module_utils._modules_load_d import (
    gather_modprobe_policies,
    gather_modprobe_policy,
    install_command_loads,
    parse_kernel_cmdline,
    parse_modprobe_text,
    parse_modules_load_text,
)
from ansible_collections.nodeprep.netfilter.plugins.module_utils._rootfs import RootFS

BASE = "trixie-6.12-state-a-nothing-loaded"


def test_parse_modules_load_skips_comments_and_normalizes_dashes():
    assert parse_modules_load_text("# k8s\n; old\n\noverlay\nbr-netfilter  \n") == [
        ("overlay", 4), ("br_netfilter", 5)]


def test_etc_masks_same_named_modules_load_file(make_tree):
    root = make_tree(BASE, {
        "usr/lib/modules-load.d/k8s.conf": "br_netfilter\n",
        "etc/modules-load.d/k8s.conf": "# disabled locally\n",
    })
    facts = gather_br_netfilter_facts(root)
    assert facts["modules_load"]["br_netfilter"] == {"persisted": False, "file": None, "line": None}
    assert facts["modules_load_files"][0]["masked_paths"] == ["/usr/lib/modules-load.d/k8s.conf"]
    assert "MODULE_NOT_PERSISTED" in [p["code"] for p in facts["problems"]]


def test_vendor_modules_load_file_counts(make_tree):
    root = make_tree(BASE, {"usr/lib/modules-load.d/k8s.conf": "overlay\nbr_netfilter\n"})
    facts = gather_br_netfilter_facts(root)
    assert facts["modules_load"]["br_netfilter"] == {"persisted": True, "file": "/usr/lib/modules-load.d/k8s.conf",
                                                     "line": 2}


def test_etc_modules_counts_through_the_debian_modules_conf_link(make_tree):
    root = make_tree(BASE, {
        "etc/modules": "# /etc/modules: kernel modules to load at boot time.\nbr_netfilter\n",
        "etc/modules-load.d/modules.conf": ("->", "../modules"),
    })
    facts = gather_br_netfilter_facts(root)
    assert facts["modules_load"]["br_netfilter"] == {
        "persisted": True, "file": "/etc/modules-load.d/modules.conf", "line": 2, "resolved_file": "/etc/modules"}
    assert facts["etc_modules"] == {"present": True, "read_by_systemd": True, "modules": ["br_netfilter"]}


def test_etc_modules_without_link_is_not_read(make_tree):
    root = make_tree(BASE, {"etc/modules": "br_netfilter\n"})
    facts = gather_br_netfilter_facts(root)
    assert facts["modules_load"]["br_netfilter"]["persisted"] is False
    found = [p for p in facts["problems"] if p["code"] in ("ETC_MODULES_NOT_READ", "MODULE_NOT_PERSISTED")]
    assert [p["code"] for p in found] == ["MODULE_NOT_PERSISTED", "ETC_MODULES_NOT_READ"]
    assert "(/etc/modules lists it but is not read)" in found[0]["message"]


def test_dev_host_dangling_modules_conf_link_persists_nothing(tree):
    facts = gather_br_netfilter_facts(tree("host-6.18-builtin-nomodules"))
    assert facts["etc_modules"] == {"present": False, "read_by_systemd": False, "modules": []}
    assert facts["modules_load_files"] == []


def test_kernel_cmdline_modules_load_counts(make_tree):
    root = make_tree(BASE, {"proc/cmdline": "BOOT_IMAGE=/vmlinuz root=/dev/vda1 modules_load=overlay,br_netfilter\n"})
    facts = gather_br_netfilter_facts(root)
    assert facts["modules_load"]["br_netfilter"]["file"] == "/proc/cmdline"
    assert facts["modules_load"]["overlay"]["persisted"] is True


def test_kernel_cmdline_stops_at_double_dash():
    assert parse_kernel_cmdline("quiet modules_load=a -- modules_load=b") == [("quiet", None), ("modules_load", "a")]


# -- modprobe.d -----------------------------------------------------------------

@pytest.mark.parametrize("command, loads", [
    ("/bin/false", False),
    ("/bin/true", False),
    ("/usr/bin/true", False),
    ("echo 'br_netfilter disabled by policy'", False),
    ("/sbin/modprobe --ignore-install br_netfilter", True),
    ("/sbin/modprobe --ignore-install br-netfilter $CMDLINE_OPTS && /sbin/sysctl -p", True),
    ("/sbin/insmod /lib/modules/6.12/kernel/net/bridge/br_netfilter.ko.xz", True),
    ("/sbin/modprobe dummy; echo br_netfilter", False),
    ("/sbin/modprobe -r bridge", False),
])
def test_install_command_classification(command, loads):
    assert install_command_loads(command, "br_netfilter") is loads


def test_parse_modprobe_joins_continuation_lines():
    parsed = parse_modprobe_text("# x\ninstall br_netfilter \\\n  /bin/false\nblacklist br-netfilter\n", "/f")
    assert parsed["install"] == [{"pattern": "br_netfilter", "command": "/bin/false", "file": "/f", "line": 2}]
    assert parsed["blacklist"] == [{"module": "br_netfilter", "file": "/f", "line": 4}]


def test_first_install_line_in_name_order_wins(make_tree):
    root = make_tree(BASE, {
        "usr/lib/modprobe.d/10-allow.conf": "install br_netfilter /sbin/modprobe --ignore-install br_netfilter\n",
        "etc/modprobe.d/90-deny.conf": "install br_netfilter /bin/false\n",
    })
    policy = gather_modprobe_policy(RootFS(root), "br_netfilter")
    assert policy["install"]["file"] == "/usr/lib/modprobe.d/10-allow.conf"
    assert policy["blocked_by"] is None


def test_install_pattern_is_fnmatched(make_tree):
    root = make_tree(BASE, {"etc/modprobe.d/deny.conf": "install br_* /bin/false\n"})
    facts = gather_br_netfilter_facts(root)
    assert facts["state"] == "blocked"


def test_kernel_cmdline_blacklists_and_blocks(make_tree):
    root = make_tree(BASE, {"proc/cmdline": "quiet modprobe.blacklist=dummy,br_netfilter\n"})
    facts = gather_br_netfilter_facts(root)
    assert facts["blacklisted_by"] == [{"file": "/proc/cmdline", "line": None}]
    assert facts["state"] == "loadable"
    root = make_tree(BASE, {"proc/cmdline": "quiet module_blacklist=br_netfilter\n"})
    facts = gather_br_netfilter_facts(root)
    assert facts["state"] == "blocked"
    assert facts["blocked_by"]["command"] == "module_blacklist=br_netfilter"


def test_blacklist_in_two_files_lists_both(make_tree):
    root = make_tree(BASE, {
        "etc/modprobe.d/a.conf": "blacklist br_netfilter\n",
        "usr/lib/modprobe.d/b.conf": "# vendor\nblacklist br_netfilter\n",
    })
    facts = gather_br_netfilter_facts(root)
    assert facts["blacklist_files"] == ["/etc/modprobe.d/a.conf", "/usr/lib/modprobe.d/b.conf"]
    assert facts["blacklisted_by"][1] == {"file": "/usr/lib/modprobe.d/b.conf", "line": 2}


def test_policies_for_several_modules_read_modprobe_d_once_and_match_one_by_one(make_tree):
    root = make_tree(BASE, {
        "etc/modprobe.d/hardening.conf": "install overlay /bin/false\nblacklist br_netfilter\n",
        "usr/lib/modprobe.d/50-all.conf": "install br_* /bin/true\n",
    })
    policies = gather_modprobe_policies(RootFS(root), ("br_netfilter", "overlay"))
    assert policies["overlay"]["blocked_by"] == {"file": "/etc/modprobe.d/hardening.conf", "line": 1,
                                                 "command": "/bin/false"}
    assert policies["overlay"]["blacklisted"] is False
    assert policies["br_netfilter"]["blocked_by"]["file"] == "/usr/lib/modprobe.d/50-all.conf"
    assert policies["br_netfilter"]["blacklisted_by"] == [{"file": "/etc/modprobe.d/hardening.conf", "line": 2}]
    assert gather_modprobe_policy(RootFS(root), "overlay") == policies["overlay"]
