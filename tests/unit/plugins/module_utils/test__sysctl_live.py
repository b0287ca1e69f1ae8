# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Live sysctl values under a temporary /proc/sys."""

from __future__ import annotations

import errno
import os

import pytest

from ansible_collections.nodeprep.netfilter.plugins.module_utils._sysctl_live import (
    SysctlLiveError,
    apply_live,
    read_value,
)


@pytest.fixture
def proc(tmp_path):
    def _write(values):
        for key, value in values.items():
            path = tmp_path / "proc" / "sys" / key.replace(".", "/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(value)
        return str(tmp_path)
    return _write


def test_differing_value_is_written_and_reported_with_a_diff(proc):
    root = proc({"net.ipv4.ip_forward": "0\n", "net.bridge.bridge-nf-call-iptables": "1\n"})
    result = apply_live({"net.ipv4.ip_forward": 1, "net.bridge.bridge-nf-call-iptables": "1"}, root=root)
    assert result["changed"] is True
    assert result["sysctls"]["net.ipv4.ip_forward"] == {"before": "0", "after": "1", "present": True, "changed": True}
    assert result["sysctls"]["net.bridge.bridge-nf-call-iptables"]["changed"] is False
    assert read_value(root, "net.ipv4.ip_forward") == "1"
    assert result["diff"]["before"] == "net.ipv4.ip_forward = 0\n"
    assert result["diff"]["after"] == "net.ipv4.ip_forward = 1\n"


def test_equal_values_change_nothing(proc):
    root = proc({"net.ipv4.tcp_rmem": "4096\t131072\t6291456\n"})
    result = apply_live({"net.ipv4.tcp_rmem": "4096 131072  6291456"}, root=root)
    assert result["changed"] is False and result["diff"]["before"] == ""


def test_check_mode_reports_without_writing(proc):
    root = proc({"net.ipv4.ip_forward": "0\n"})
    result = apply_live({"net.ipv4.ip_forward": 1}, root=root, check_mode=True)
    assert result["changed"] is True and result["sysctls"]["net.ipv4.ip_forward"]["after"] == "1"
    assert read_value(root, "net.ipv4.ip_forward") == "0"


def test_missing_key_fails_with_a_hint_or_is_reported(proc):
    root = proc({"net.ipv4.ip_forward": "1\n"})
    with pytest.raises(SysctlLiveError) as excinfo:
        apply_live({"net.bridge.bridge-nf-call-iptables": 1}, root=root)
    assert str(excinfo.value) == "net.bridge.bridge-nf-call-iptables does not exist in /proc/sys (load br_netfilter first)"
    result = apply_live({"net.bridge.bridge-nf-call-iptables": 1}, root=root, missing="ignore")
    assert result["changed"] is False
    assert result["sysctls"]["net.bridge.bridge-nf-call-iptables"]["present"] is False
    assert not os.path.exists(os.path.join(root, "proc/sys/net/bridge"))


@pytest.mark.parametrize("error_number, expected", [
    (errno.EACCES, "permission denied"),
    (errno.EROFS, "/proc/sys is read-only here"),
    (errno.EPERM, "operation not permitted"),
    (errno.EINVAL, "the kernel rejected the value"),
])
def test_unwritable_value_fails_clearly(proc, monkeypatch, error_number, expected):
    # Root ignores file modes and a read-only /proc/sys needs a container, so the kernel's refusal is injected
    # where the module opens the file for writing; reads still go to the fixture tree.
    from ansible_collections.nodeprep.netfilter.plugins.module_utils import _sysctl_live

    root = proc({"net.ipv4.ip_forward": "0\n"})

    def refusing_open(path, mode="r", *args, **kwargs):
        if "w" in mode:
            raise OSError(error_number, os.strerror(error_number), path)
        return open(path, mode, *args, **kwargs)
    monkeypatch.setattr(_sysctl_live, "open", refusing_open, raising=False)
    with pytest.raises(SysctlLiveError) as excinfo:
        apply_live({"net.ipv4.ip_forward": 1}, root=root)
    assert expected in str(excinfo.value)
    assert "net.ipv4.ip_forward" in str(excinfo.value)
    with open(os.path.join(root, "proc/sys/net/ipv4/ip_forward")) as handle:
        assert handle.read() == "0\n"


def test_value_the_kernel_does_not_keep_is_an_error(proc, monkeypatch):
    root = proc({"net.ipv4.ip_forward": "0\n"})
    from ansible_collections.nodeprep.netfilter.plugins.module_utils import _sysctl_live

    def clamp(root_, key, value):  # a kernel that clamps the value instead of taking it
        with open(_sysctl_live.proc_path(root_, key), "w") as handle:
            handle.write("0\n")
    monkeypatch.setattr(_sysctl_live, "_write", clamp)
    with pytest.raises(SysctlLiveError) as excinfo:
        apply_live({"net.ipv4.ip_forward": 1}, root=root)
    assert str(excinfo.value) == "net.ipv4.ip_forward was set to 1 but reads back 0"


@pytest.mark.parametrize("values, message", [
    ({}, "non-empty dict"),
    ({"net.ipv4.ip forward": 1}, "is not a sysctl key"),
    ({"net.ipv4.ip_forward=1": 1}, "is not a sysctl key"),
    ({"../../etc/passwd": 1}, "is not a sysctl key"),
    ({"net/../../etc/passwd": 1}, "is not a sysctl key"),
    ({"net.ipv4.ip_forward\n": 1}, "is not a sysctl key"),
    ({" net.ipv4.ip_forward": 1}, "is not a sysctl key"),
    ({"net.ipv4.conf.*.forwarding": 1}, "is a glob pattern"),
    ({"net.ipv4.ip_forward": None}, "must be a number or text"),
    ({"net.ipv4.ip_forward": True}, "must be a number or text"),
    ({"net.ipv4.ip_forward": "  "}, "must be a number or text"),
])
def test_bad_values_are_rejected(proc, values, message):
    root = proc({"net.ipv4.ip_forward": "0\n"})
    with pytest.raises(ValueError) as excinfo:
        apply_live(values, root=root)
    assert message in str(excinfo.value)
    assert read_value(root, "net.ipv4.ip_forward") == "0"


def test_a_fifo_where_a_key_belongs_is_refused_not_opened(tmp_path):
    path = tmp_path / "proc" / "sys" / "net" / "ipv4"
    path.mkdir(parents=True)
    os.mkfifo(str(path / "ip_forward"))  # opening it would block for ever
    with pytest.raises(SysctlLiveError, match="is not a regular file"):
        apply_live({"net.ipv4.ip_forward": 1}, root=str(tmp_path))
