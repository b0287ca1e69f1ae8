# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Hostile files under a root: FIFOs, devices, symlink loops, huge files. Never a hang, never "nothing there"."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

import ansible_collections.nodeprep.netfilter as collection
from ansible_collections.nodeprep.netfilter.plugins.module_utils._modules_load_d import (
    gather_modprobe_policies,
    gather_modules_load,
)
from ansible_collections.nodeprep.netfilter.plugins.module_utils._rootfs import RootFS, list_conf_files
from ansible_collections.nodeprep.netfilter.plugins.module_utils._sysctl_d import gather_sysctl_persistence

BASE = "trixie-6.12-state-c-bridge-br_netfilter"
IPT = "net.bridge.bridge-nf-call-iptables"
IP6T = "net.bridge.bridge-nf-call-ip6tables"
COLLECTION_DIR = list(collection.__path__)[0]
COLLECTIONS = os.path.dirname(os.path.dirname(os.path.dirname(COLLECTION_DIR)))
FACTS_MODULE = os.path.join(COLLECTION_DIR, "plugins", "modules", "br_netfilter_facts.py")


def run_facts_module(root, timeout=120):
    """The real module file in a child process: (rc, result, peak RSS of the child in KiB)."""
    args = os.path.join(root, "..", "args-%s.json" % os.path.basename(root))
    with open(args, "w") as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": {"root": root}}, handle)
    # VmHWM, not getrusage's ru_maxrss: Linux carries the pre-exec peak (the forked copy of this pytest process,
    # over 100 MB with Hypothesis and Ansible loaded) into the child's ru_maxrss, but not into its VmHWM.
    code = ("import runpy, sys; sys.argv = [%r, %r]\n"
            "try:\n    runpy.run_path(%r, run_name='__main__')\n"
            "finally:\n    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]\n"
            "    sys.stderr.write('MAXRSS=%%s\\n' %% hwm)\n"
            % (FACTS_MODULE, args, FACTS_MODULE))
    env = dict(os.environ, PYTHONPATH=COLLECTIONS)
    completed = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=env, timeout=timeout, check=False, text=True)
    rss = int(completed.stderr.rsplit("MAXRSS=", 1)[1].split()[0])
    return completed.returncode, json.loads(completed.stdout), rss


# --- special files are never opened ---------------------------------------------------------------

def test_a_fifo_at_sysctl_conf_does_not_hang_the_facts_module(make_tree):
    root = make_tree(BASE, {"etc/sysctl.conf": None,
                            "etc/sysctl.d/99-sysctl.conf": ("->", "../sysctl.conf")})
    os.mkfifo(os.path.join(root, "etc/sysctl.conf"))
    rc, result, _rss = run_facts_module(root, timeout=60)  # opening the FIFO used to block for ever
    assert rc == 0, result
    facts = result["ansible_facts"]["br_netfilter"]
    assert {"path": "/etc/sysctl.conf", "error": "a FIFO, not read"} in facts["unreadable"]


def test_a_device_is_never_opened(make_tree):
    root = make_tree(BASE, {"etc/sysctl.d": None})
    os.makedirs(os.path.join(root, "etc/sysctl.d"))
    device = os.path.join(root, "etc/sysctl.conf")
    try:
        os.mknod(device, stat.S_IFCHR | 0o600, os.makedev(1, 5))  # /dev/zero: reading it never ends
    except PermissionError:
        pytest.skip("creating a device node needs CAP_MKNOD")
    os.symlink("../sysctl.conf", os.path.join(root, "etc/sysctl.d/99-sysctl.conf"))
    fs = RootFS(root)
    assert fs.read_text("/etc/sysctl.conf") is None
    assert {"path": "/etc/sysctl.conf", "error": "a character device, not read"} in fs.unreadable
    assert list(fs.iter_lines("/etc/sysctl.conf")) == []


@pytest.mark.parametrize("make, kind", [
    (os.mkfifo, "a FIFO"),
    (os.makedirs, "a directory"),
])
def test_read_bytes_refuses_what_is_not_a_regular_file(tmp_path, make, kind):
    make(str(tmp_path / "x"))
    fs = RootFS(str(tmp_path))
    assert fs.read_bytes("/x") is None
    assert fs.unreadable == [{"path": "/x", "error": "%s, not read" % kind}]


def test_read_bytes_refuses_a_file_over_the_limit(tmp_path):
    (tmp_path / "big").write_bytes(b"x" * 5000)
    fs = RootFS(str(tmp_path))
    assert fs.read_bytes("/big", limit=4096) is None
    assert fs.unreadable == [{"path": "/big", "error": "larger than 4096 bytes, not read"}]
    assert RootFS(str(tmp_path)).read_bytes("/big", limit=5000) == b"x" * 5000


def test_iter_lines_cuts_an_endless_line_and_goes_on(tmp_path):
    (tmp_path / "f").write_bytes(b"a = 1\n" + b"y" * 5000 + b"\nb = 2\r\nc")
    lines = list(RootFS(str(tmp_path)).iter_lines("/f", max_line=100))
    assert lines == [(1, "a = 1", False), (2, "y" * 100, True), (3, "b = 2", False), (4, "c", False)]


def test_proc_sys_files_are_read_whole(tmp_path):
    # /proc/sys answers one read of a huge count with ENOMEM; reads go in pieces.
    fs = RootFS("/")
    if not os.path.exists("/proc/sys/kernel/osrelease"):
        pytest.skip("no /proc/sys here")
    assert fs.read_text("/proc/sys/kernel/osrelease").strip() == os.uname().release


# --- symlink loops and unreadable files are reported, and make the verdict unknown -------------------------

def test_symlink_loops_in_conf_dirs_are_reported_not_silently_skipped(make_tree):
    root = make_tree(BASE, {
        "etc/sysctl.d/50-loop.conf": ("->", "50-loop.conf"),
        "etc/modules-load.d/a.conf": ("->", "b.conf"),
        "etc/modules-load.d/b.conf": ("->", "a.conf"),
    })
    fs = RootFS(root)
    gather_sysctl_persistence(fs, [IPT])
    gather_modules_load(fs, ["br_netfilter"])
    assert {"path": "/etc/sysctl.d/50-loop.conf", "error": "symlink loop"} in fs.unreadable
    assert {"path": "/etc/modules-load.d/a.conf", "error": "symlink loop"} in fs.unreadable
    assert {"path": "/etc/modules-load.d/b.conf", "error": "symlink loop"} in fs.unreadable


def test_symlink_loop_on_the_real_root_is_reported(tmp_path):
    loop = tmp_path / "loop.conf"
    os.symlink(str(loop), str(loop))
    fs = RootFS("/")
    assert list_conf_files(fs, [str(tmp_path)]) == []
    assert fs.read_text(str(loop)) is None
    assert {"path": str(loop), "error": "symlink loop"} in fs.unreadable


class DeniedFS(RootFS):
    """A RootFS on which some paths fail to open as they do for a non-root user (EACCES)."""

    def __init__(self, root, denied):
        super(DeniedFS, self).__init__(root)
        self.denied = denied

    def _open_regular(self, path):
        if path in self.denied:
            self.note(path, "Permission denied")
            return None
        return super(DeniedFS, self)._open_regular(path)


def test_an_unreadable_sysctl_file_makes_missing_keys_unknown_not_unset(make_tree):
    root = make_tree(BASE, {"etc/sysctl.d/50-secret.conf": "net.bridge.bridge-nf-call-iptables = 1\n",
                            "etc/sysctl.d/90-forward.conf": "net.ipv4.ip_forward = 1\n",
                            "etc/sysctl.d/10-early.conf": "net.bridge.bridge-nf-call-ip6tables = 1\n"})
    result = gather_sysctl_persistence(DeniedFS(root, {"/etc/sysctl.d/50-secret.conf"}),
                                       [IPT, "net.ipv4.ip_forward", IP6T])
    assert result["unreadable_files"] == ["/etc/sysctl.d/50-secret.conf"]
    assert result["persisted"][IPT] is None
    # Not "not persisted": the unreadable file may set it. ip6tables is set before the unreadable file, which may
    # override it; ip_forward is set after it, and a later explicit line always wins, so that one stays known.
    assert result["unknown"] == [IPT, IP6T]
    assert result["persisted"][IP6T]["value"] == "1"
    assert result["persisted"]["net.ipv4.ip_forward"]["value"] == "1"
    readable = gather_sysctl_persistence(RootFS(root), [IPT])
    assert readable["unknown"] == [] and readable["unreadable_files"] == []
    assert readable["persisted"][IPT]["value"] == "1"


def test_an_unreadable_modules_load_file_makes_the_module_unknown(make_tree):
    root = make_tree(BASE, {"etc/modules-load.d/k8s.conf": "br_netfilter\n"})
    denied = gather_modules_load(DeniedFS(root, {"/etc/modules-load.d/k8s.conf"}), ["br_netfilter"])
    assert denied["modules"]["br_netfilter"]["persisted"] is False
    assert denied["modules"]["br_netfilter"]["unknown"] is True
    assert denied["unreadable_files"] == ["/etc/modules-load.d/k8s.conf"]
    readable = gather_modules_load(RootFS(root), ["br_netfilter"])
    assert readable["modules"]["br_netfilter"]["persisted"] is True
    assert "unknown" not in readable["modules"]["br_netfilter"]


# --- memory stays bounded: counts and the first few examples ------------------------------------------------

def _write_huge_sysctl_file(path, megabytes):
    with open(path, "w") as handle:
        size = index = 0
        while size < megabytes * 1024 * 1024:
            line = ("junk line %08d without an equals sign\n" if index % 2 else
                    "net.ipv4.conf.veth%07d.rp_filter = 1\n") % index
            handle.write(line)
            size += len(line)
            index += 1
        handle.write("net.bridge.bridge-nf-call-iptables = 0\n")
    return index


def test_invalid_lines_are_counted_and_only_the_first_few_shown(make_tree):
    root = make_tree(BASE, {"etc/sysctl.d/50-junk.conf": "".join("junk %d\n" % i for i in range(500))
                            + "x" * 300 + "\n" + "net.bridge.bridge-nf-call-iptables = 0\n"})
    result = gather_sysctl_persistence(RootFS(root), [IPT])
    assert result["invalid_line_count"] == 501
    assert len(result["invalid_lines"]) == 20
    assert result["invalid_lines"][0] == {"file": "/etc/sysctl.d/50-junk.conf", "line": 1, "text": "junk 0"}
    assert result["persisted"][IPT]["line"] == 502


def test_modprobe_d_keeps_only_entries_for_the_watched_modules(make_tree):
    lines = "".join("blacklist mod%d\ninstall mod%d /bin/true\n" % (i, i) for i in range(2000))
    root = make_tree(BASE, {"etc/modprobe.d/huge.conf": lines + "install br_netfilter /bin/false\n"})
    policies = gather_modprobe_policies(RootFS(root), ["br_netfilter", "overlay"])
    assert policies["br_netfilter"]["blocked_by"]["line"] == 4001
    assert policies["overlay"]["blocked_by"] is None


def test_a_50_mb_sysctl_d_file_keeps_the_facts_module_under_100_mb(make_tree):
    root = make_tree(BASE, {})
    os.makedirs(os.path.join(root, "etc/sysctl.d"), exist_ok=True)
    lines = _write_huge_sysctl_file(os.path.join(root, "etc/sysctl.d/50-huge.conf"), 50)
    rc, result, rss_kib = run_facts_module(root, timeout=300)
    assert rc == 0, result
    facts = result["ansible_facts"]["br_netfilter"]
    assert rss_kib < 100 * 1024, "max RSS %d KiB" % rss_kib
    assert len(facts["sysctl_invalid_lines"]) == 20
    assert facts["persisted"][IPT] == {"value": "0", "file": "/etc/sysctl.d/50-huge.conf", "line": lines + 1,
                                       "ignore_failure": False, "via": "explicit"}
    assert "SYSCTL_OVERRIDDEN" in [problem["code"] for problem in facts["problems"]]
