# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Enter a named network namespace (``ip netns add NAME``) in this process. No Ansible import.

After ``enter_netns`` every later iptables command, /proc/net and
/proc/sys/net read of the process sees that namespace, exactly as under
``ip netns exec NAME``, without an extra ``ip`` process per command.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import stat

CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"


class NetnsError(Exception):
    """The namespace does not exist or cannot be entered."""


def netns_path(name, netns_dir=NETNS_DIR):
    if not name or "/" in name or name in (".", ".."):
        raise NetnsError("invalid network namespace name %r" % (name,))
    return os.path.join(netns_dir, name)


def enter_netns(name, netns_dir=NETNS_DIR):
    """setns(2) into ``netns_dir/name``; raises NetnsError with the reason."""
    path = netns_path(name, netns_dir)
    if not os.path.exists(path):
        raise NetnsError("network namespace %r not found (no %s); create it with 'ip netns add %s'"
                         % (name, path, name))
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    if not hasattr(libc, "setns"):
        raise NetnsError("this C library has no setns()")
    try:
        # A namespace file (nsfs) is a regular file; anything else (a FIFO would block the open) is refused unopened.
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise NetnsError("%s is not a network namespace (not a regular nsfs file)" % path)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise NetnsError("cannot open %s: %s" % (path, exc.strerror))
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise NetnsError("cannot enter network namespace %r: %s" % (name, os.strerror(err)))
    finally:
        os.close(fd)
    return path
