# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A dpkg status file that cannot be trusted is never read as "nothing installed"."""

from __future__ import annotations

import os

import pytest

from ansible_collections.nodeprep.netfilter.plugins.module_utils._docker_collect import collect_packages
from ansible_collections.nodeprep.netfilter.plugins.module_utils._dpkg_status import dpkg_status_problem
from ansible_collections.nodeprep.netfilter.plugins.module_utils._rootfs import RootFS

GOOD = b"Package: docker.io\nStatus: install ok installed\nVersion: 28.5.2+dfsg4-5\n\n"


def make_status(tmp_path, content):
    status = tmp_path / "var" / "lib" / "dpkg" / "status"
    status.parent.mkdir(parents=True)
    if content == "dir":
        status.mkdir()
    elif content == "fifo":
        os.mkfifo(str(status))
    else:
        status.write_bytes(content)
    return RootFS(str(tmp_path))


@pytest.mark.parametrize("content, problem", [
    ("dir", "/var/lib/dpkg/status cannot be read (a directory, not read)"),
    ("fifo", "/var/lib/dpkg/status cannot be read (a FIFO, not read)"),
    (b"\x7fELF\x02\x01\x01\x00\x00\x00" * 100, "/var/lib/dpkg/status is binary (it holds NUL bytes)"),
    (GOOD.replace(b"\n", b"\r\n"), "/var/lib/dpkg/status has CRLF line ends"),
    (b"<html><body>503 Service Unavailable</body></html>\n", "/var/lib/dpkg/status holds no 'Package:' stanza"),
])
def test_corrupt_status_is_named(tmp_path, content, problem):
    fs = make_status(tmp_path, content)
    assert dpkg_status_problem(fs).startswith(problem)
    packages = collect_packages(fs, run=None, which=lambda name: None)
    assert packages["installed"] == {} and packages["unknown"] is True
    assert packages["error"].startswith(problem)


@pytest.mark.parametrize("content", [GOOD, b"", GOOD + b"Package: iptables\nStatus: install ok installed\n"])
def test_a_real_or_empty_status_is_usable(tmp_path, content):
    fs = make_status(tmp_path, content)
    assert dpkg_status_problem(fs) is None
    assert collect_packages(fs, run=None, which=lambda name: None)["error"] is None


def test_an_absent_status_is_no_problem(tmp_path):
    assert dpkg_status_problem(RootFS(str(tmp_path))) is None
