# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Is dpkg's status file something dpkg wrote? No Ansible import.

A status file that is a directory, binary, has CRLF line ends or holds no
``Package:`` stanza parses as "nothing installed", which is a confident and
wrong answer: pins would then be planned and the audit would say "no Docker"
for a host whose package database is simply unreadable. ``dpkg_status_problem``
says what is wrong so callers can fail or report "unknown" instead.
"""

from __future__ import annotations

DPKG_STATUS = "/var/lib/dpkg/status"


def dpkg_status_problem(fs, path=DPKG_STATUS):
    """Why ``path`` under ``fs`` (a RootFS) is not a usable dpkg status file, or None when it is usable or absent.

    An absent file is not a problem here (the host may use rpm); an empty one is usable (nothing installed).
    """
    data = fs.read_bytes(path)
    if data is None:
        if not fs.was_unreadable(path):
            return None  # absent
        errors = [entry["error"] for entry in fs.unreadable if entry["path"] == path]
        return "%s cannot be read (%s)" % (path, errors[0])
    if not data:
        return None
    if b"\x00" in data:
        return "%s is binary (it holds NUL bytes), not a dpkg status file" % path
    if b"\r\n" in data:
        return "%s has CRLF line ends; dpkg writes LF only, so the file was altered" % path
    if not (data.startswith(b"Package:") or b"\nPackage:" in data):
        return "%s holds no 'Package:' stanza, not a dpkg status file" % path
    return None
