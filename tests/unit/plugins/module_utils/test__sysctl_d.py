# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""systemd-sysctl precedence, as sysctl.d(5) and src/sysctl/sysctl.c define it."""

from __future__ import annotations

import pytest

from ansible_collections.nodeprep.netfilter.plugins.module_utils._br_netfilter import gather_br_netfilter_facts
from ansible_collections.nodeprep.netfilter.plugins.module_utils._rootfs import RootFS
from ansible_collections.nodeprep.netfilter.plugins.module_utils._sysctl_d import (
    build_option_table,
    canonical_key,
    effective_value,
    gather_sysctl_persistence,
    normalize_key,
    parse_sysctl_text,
)
from ansible_collections.nodeprep.netfilter.plugins.module_utils._names import sysctl_key_problem

BASE = "trixie-6.12-state-c-bridge-br_netfilter"
IPT = "net.bridge.bridge-nf-call-iptables"
FWD = "net.ipv4.ip_forward"
V6FWD = "net.ipv6.conf.all.forwarding"


def persisted(root, key=IPT):
    return gather_sysctl_persistence(RootFS(root), [key])["persisted"][key]


# -- parsing ----------------------------------------------------------------

@pytest.mark.parametrize("key, normalized", [
    ("net.ipv4.ip_forward", "net/ipv4/ip_forward"),
    ("net/ipv4/ip_forward", "net/ipv4/ip_forward"),
    ("net.bridge.bridge-nf-call-iptables", "net/bridge/bridge-nf-call-iptables"),
    ("net/ipv4/conf/eth0.100/forwarding", "net/ipv4/conf/eth0.100/forwarding"),
    ("net.ipv4.conf.eth0/100.forwarding", "net/ipv4/conf/eth0.100/forwarding"),
    ("  net.ipv4.ip_forward  ", "net/ipv4/ip_forward"),
])
def test_normalize_key_follows_first_separator_rule(key, normalized):
    assert normalize_key(key) == normalized


def test_parse_skips_comments_and_keeps_line_numbers():
    text = "# comment\n; also comment\n\nnet.ipv4.ip_forward = 1\n-net.bridge.bridge-nf-call-iptables=0\n"
    entries, invalid = parse_sysctl_text(text, "/etc/sysctl.d/a.conf")
    assert invalid == []
    assert [(e["key"], e["value"], e["line"], e["ignore_failure"]) for e in entries] == [
        ("net/ipv4/ip_forward", "1", 4, False),
        ("net/bridge/bridge-nf-call-iptables", "0", 5, True),
    ]


def test_parse_minus_key_without_value_is_a_glob_exclusion():
    entries, invalid = parse_sysctl_text("-net.ipv6.conf.all.forwarding\n")
    assert invalid == []
    assert entries[0]["value"] is None and entries[0]["key"] == "net/ipv6/conf/all/forwarding"


def test_parse_reports_lines_that_are_not_assignments():
    entries, invalid = parse_sysctl_text("net.ipv4.ip_forward\n", "/etc/sysctl.d/bad.conf")
    assert entries == []
    assert invalid == [{"file": "/etc/sysctl.d/bad.conf", "line": 1, "text": "net.ipv4.ip_forward"}]


def test_same_value_repeated_keeps_the_earlier_entry_and_ors_ignore_failure():
    entries = parse_sysctl_text("a.b = 1\n", "/f1")[0] + parse_sysctl_text("-a.b = 1\n", "/f2")[0]
    table = build_option_table(entries)
    assert [(o["file"], o["ignore_failure"]) for o in table] == [("/f1", True)]


def test_explicit_key_beats_a_later_glob():
    entries = parse_sysctl_text("net.ipv6.conf.all.forwarding = 0\nnet.ipv6.conf.*.forwarding = 1\n", "/f")[0]
    winner, how = effective_value(build_option_table(entries), "net/ipv6/conf/all/forwarding")
    assert (winner["value"], how) == ("0", "explicit")


def test_glob_star_does_not_cross_a_slash():
    entries = parse_sysctl_text("net.* = 1\n", "/f")[0]
    assert effective_value(build_option_table(entries), "net/ipv4/ip_forward") == (None, "unset")


# -- precedence on trees --------------------------------------------------------

def test_later_file_overrides_earlier(make_tree):
    root = make_tree(BASE, {
        "etc/sysctl.d/10-first.conf": "%s = 1\n" % IPT,
        "usr/lib/sysctl.d/20-second.conf": "%s = 0\n" % IPT,
    })
    record = persisted(root)
    assert (record["value"], record["file"], record["line"]) == ("0", "/usr/lib/sysctl.d/20-second.conf", 1)


def test_later_assignment_in_same_file_wins(make_tree):
    root = make_tree(BASE, {"etc/sysctl.d/k8s.conf": "%s = 0\n# later\n%s = 1\n" % (IPT, IPT)})
    record = persisted(root)
    assert (record["value"], record["line"]) == ("1", 3)


def test_etc_masks_same_named_file_in_usr_lib(make_tree):
    root = make_tree(BASE, {
        "usr/lib/sysctl.d/50-vendor.conf": "%s = 0\n" % IPT,
        "etc/sysctl.d/50-vendor.conf": "%s = 1\n" % IPT,
    })
    result = gather_sysctl_persistence(RootFS(root), [IPT])
    assert result["persisted"][IPT]["file"] == "/etc/sysctl.d/50-vendor.conf"
    assert [a["file"] for a in result["persisted_all"][IPT]] == ["/etc/sysctl.d/50-vendor.conf"]
    assert result["files"][0]["masked_paths"] == ["/usr/lib/sysctl.d/50-vendor.conf"]


def test_run_masks_usr_lib_but_not_etc(make_tree):
    root = make_tree(BASE, {
        "run/sysctl.d/50-x.conf": "%s = 0\n" % IPT,
        "usr/lib/sysctl.d/50-x.conf": "%s = 1\n" % IPT,
    })
    assert persisted(root)["file"] == "/run/sysctl.d/50-x.conf"


def test_dev_null_symlink_masks_without_content(make_tree):
    root = make_tree(BASE, {
        "usr/lib/sysctl.d/50-x.conf": "%s = 0\n" % IPT,
        "etc/sysctl.d/50-x.conf": ("->", "/dev/null"),
    })
    assert persisted(root) is None


def test_k8s_conf_sorts_after_every_99_file(make_tree):
    root = make_tree(BASE, {
        "etc/sysctl.d/99-zzz-tuning.conf": "%s = 0\n" % IPT,
        "etc/sysctl.d/k8s.conf": "%s = 1\n" % IPT,
    })
    record = persisted(root)
    assert (record["value"], record["file"]) == ("1", "/etc/sysctl.d/k8s.conf")


def test_zz_override_after_k8s_wins_and_is_reported(make_tree):
    root = make_tree(BASE, {
        "etc/sysctl.d/k8s.conf": "%s = 1\n" % IPT,
        "etc/sysctl.d/zz-override.conf": "\n%s = 0\n" % IPT,
    })
    facts = gather_br_netfilter_facts(root, managed_sysctl_file="/etc/sysctl.d/k8s.conf")
    assert facts["persisted"][IPT]["file"] == "/etc/sysctl.d/zz-override.conf"
    assert [(a["file"], a["effective"]) for a in facts["persisted_all"][IPT]] == [
        ("/etc/sysctl.d/k8s.conf", False), ("/etc/sysctl.d/zz-override.conf", True)]
    problem = [p for p in facts["problems"] if p["code"] == "SYSCTL_OVERRIDDEN"][0]
    assert problem["message"] == (
        "%s will be 0 after a reboot: /etc/sysctl.d/zz-override.conf:2 wins over /etc/sysctl.d/k8s.conf:1 "
        "(the managed file /etc/sysctl.d/k8s.conf is overridden)." % IPT)
    assert "zz-override.conf" in problem["remediation"]
    assert facts["ready_after_reboot"] is False


def test_sysctl_conf_is_read_through_the_debian_99_sysctl_link(tree):
    facts = gather_br_netfilter_facts(tree("host-6.18-builtin-nomodules"))
    assert facts["sysctl_conf"]["read_by_systemd"] is True
    assert facts["sysctl_files"][-1] == {"path": "/etc/sysctl.d/99-sysctl.conf", "resolved": "/etc/sysctl.conf",
                                         "masked_paths": []}


def test_sysctl_conf_value_reports_link_and_resolved_file(make_tree):
    root = make_tree("host-6.18-builtin-nomodules", {"etc/sysctl.conf": "# local\n%s = 1\n" % FWD})
    record = persisted(root, FWD)
    assert record == {"value": "1", "file": "/etc/sysctl.d/99-sysctl.conf", "line": 2,
                      "ignore_failure": False, "resolved_file": "/etc/sysctl.conf", "via": "explicit"}


def test_sysctl_conf_loses_to_k8s_conf_which_sorts_after_99_sysctl(make_tree):
    root = make_tree("host-6.18-builtin-nomodules", {
        "etc/sysctl.conf": "%s = 0\n" % FWD,
        "etc/sysctl.d/k8s.conf": "%s = 1\n" % FWD,
    })
    assert persisted(root, FWD)["file"] == "/etc/sysctl.d/k8s.conf"


def test_upstream_absolute_link_in_usr_lib_is_resolved_inside_root(make_tree):
    root = make_tree(BASE, {
        "etc/sysctl.conf": "%s = 1\n" % FWD,
        "usr/lib/sysctl.d/99-sysctl.conf": ("->", "/etc/sysctl.conf"),
    })
    record = persisted(root, FWD)
    assert (record["file"], record["resolved_file"]) == ("/usr/lib/sysctl.d/99-sysctl.conf", "/etc/sysctl.conf")


def test_sysctl_conf_without_link_is_not_applied_and_is_reported(make_tree):
    root = make_tree(BASE, {"etc/sysctl.conf": "%s = 1\n" % FWD})
    facts = gather_br_netfilter_facts(root)
    assert facts["persisted"][FWD] is None
    assert facts["sysctl_conf"] == {"read_by_systemd": False,
                                    "entries": {FWD: [{"file": "/etc/sysctl.conf", "line": 1, "value": "1"}]}}
    assert "SYSCTL_CONF_NOT_READ" in [p["code"] for p in facts["problems"]]


def test_glob_assignment_counts_unless_excluded(make_tree):
    root = make_tree(BASE, {"etc/sysctl.d/60-v6.conf": "net.ipv6.conf.*.forwarding = 1\n"})
    record = persisted(root, V6FWD)
    assert (record["value"], record["via"], record["pattern"]) == ("1", "glob", "net.ipv6.conf.*.forwarding")
    root = make_tree(BASE, {"etc/sysctl.d/60-v6.conf": "net.ipv6.conf.*.forwarding = 1\n-net.ipv6.conf.all.forwarding\n"})
    assert persisted(root, V6FWD) is None


def test_slash_form_and_ignore_failure_prefix(make_tree):
    root = make_tree(BASE, {"etc/sysctl.d/k8s.conf": "-net/bridge/bridge-nf-call-iptables = 1\n"})
    record = persisted(root)
    assert (record["value"], record["ignore_failure"]) == ("1", True)


def test_merged_usr_lib_link_is_read_once(make_tree):
    root = make_tree(None, {
        "usr/lib/sysctl.d/50-x.conf": "%s = 1\n" % IPT,
        "lib": ("->", "usr/lib"),
    })
    result = gather_sysctl_persistence(RootFS(root), [IPT])
    assert [f["path"] for f in result["files"]] == ["/usr/lib/sysctl.d/50-x.conf"]
    assert result["files"][0]["masked_paths"] == []


def test_dangling_link_neither_counts_nor_masks(make_tree):
    root = make_tree(BASE, {
        "etc/sysctl.d/50-x.conf": ("->", "../missing.conf"),
        "usr/lib/sysctl.d/50-x.conf": "%s = 1\n" % IPT,
    })
    assert persisted(root)["file"] == "/usr/lib/sysctl.d/50-x.conf"


def test_non_conf_files_are_ignored(make_tree):
    root = make_tree(BASE, {"etc/sysctl.d/k8s.conf.dpkg-old": "%s = 0\n" % IPT, "etc/sysctl.d/README": "x\n"})
    assert persisted(root) is None


def test_invalid_lines_are_listed_in_facts(make_tree):
    root = make_tree(BASE, {"etc/sysctl.d/k8s.conf": "br_netfilter\n%s = 1\n" % IPT})
    facts = gather_br_netfilter_facts(root)
    assert facts["sysctl_invalid_lines"] == [{"file": "/etc/sysctl.d/k8s.conf", "line": 1, "text": "br_netfilter"}]
    assert facts["persisted"][IPT]["line"] == 2


@pytest.mark.parametrize("key, canonical", [
    ("net.ipv4.ip_forward", "net.ipv4.ip_forward"),
    ("net/ipv4/ip_forward", "net.ipv4.ip_forward"),
    ("net/ipv4/conf/eth0.100/rp_filter", "net.ipv4.conf.eth0/100.rp_filter"),
    ("net.ipv4.conf.eth0/100.rp_filter", "net.ipv4.conf.eth0/100.rp_filter"),
])
def test_canonical_key_is_the_dotted_form_sysctl_prints(key, canonical):
    assert canonical_key(key) == canonical


@pytest.mark.parametrize("key, problem", [
    ("net.ipv4.conf.all.rp_filter", None),
    ("net/ipv4/conf/eth0.100/rp_filter", None),
    ("net.ipv4.conf.br-1a2b.forwarding", None),
    ("net.*.ip_forward", "is a glob pattern"),
    ("net.ipv4.conf.eth[01].rp_filter", "is a glob pattern"),
    ("net.ipv4.ip_forward = 1", "contains characters"),
    ("-net.ipv4.ip_forward", "contains characters"),
    ("/net/ipv4/ip_forward", "contains characters"),
    ("net.ipv4.", "has an empty, '.' or '..' component"),
    ("net/ipv4/../ip_forward", "has an empty, '.' or '..' component"),
    ("", "is empty"),
    (None, "is not a string"),
])
def test_sysctl_key_problem_names_what_is_wrong(key, problem):
    found = sysctl_key_problem(key)
    assert (found is None) if problem is None else found.startswith(problem)
