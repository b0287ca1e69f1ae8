# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Read and set live kernel parameters under ``<root>/proc/sys`` (no Ansible import).

What ``sysctl -w key=value`` does, without touching any configuration file:
persistence is a separate concern (a template in the roles). The root is a
parameter so tests use a temporary tree. Values compare as
whitespace-separated words, like ``ansible.posix.sysctl``.
"""

from __future__ import annotations

import errno
import os
import stat

from ansible_collections.nodeprep.netfilter.plugins.module_utils._names import sysctl_key_problem
from ansible_collections.nodeprep.netfilter.plugins.module_utils._sysctl_d import normalize_key

MISSING_ACTIONS = ("fail", "ignore")


class SysctlLiveError(Exception):
    """A value could not be read or set; ``results`` holds what was done so far."""

    def __init__(self, message, results=None):
        super(SysctlLiveError, self).__init__(message)
        self.results = results or {}


def _words(value):
    return None if value is None else " ".join(str(value).split())


def proc_path(root, key):
    return os.path.join(root, "proc", "sys", normalize_key(key))


#: Largest value read back; the longest /proc/sys values (a few CPU masks, ranges) are far shorter.
MAX_VALUE_BYTES = 65536


def _check_regular(path, key):
    """Refuse anything under the root that is not a regular file: opening a FIFO blocks, a device has effects."""
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise SysctlLiveError("cannot use %s: %s is not a regular file" % (key, path))


def read_value(root, key):
    """Current value as whitespace-normalised text, or None when the key does not exist."""
    path = proc_path(root, key)
    try:
        _check_regular(path, key)
        with open(path, "rb") as handle:
            return _words(handle.read(MAX_VALUE_BYTES).decode("utf-8", "replace"))
    except (IOError, OSError) as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise SysctlLiveError("cannot read %s: %s" % (key, exc.strerror or exc))


def _write(root, key, value):
    try:
        with open(proc_path(root, key), "w") as handle:
            handle.write("%s\n" % value)
    except (IOError, OSError) as exc:
        hint = {
            errno.EROFS: "/proc/sys is read-only here (a container?)",
            errno.EACCES: "permission denied (run as root: become: true)",
            errno.EPERM: "operation not permitted (run as root with CAP_SYS_ADMIN in the initial namespace)",
            errno.EINVAL: "the kernel rejected the value",
        }.get(exc.errno, exc.strerror or str(exc))
        raise SysctlLiveError("cannot set %s to %s: %s" % (key, value, hint))


def validate_values(values):
    """{key: int|str} -> [(key, text)] in key order; raises ValueError on bad input."""
    if not isinstance(values, dict) or not values:
        raise ValueError("values must be a non-empty dict of sysctl key -> value")
    result = []
    for key in sorted(values):
        value = values[key]
        problem = sysctl_key_problem(key)
        if problem:
            raise ValueError("%r is not a sysctl key (like net.ipv4.ip_forward): it %s" % (key, problem))
        if value is None or isinstance(value, (bool, dict, list)) or _words(value) == "":
            raise ValueError("value of %s must be a number or text, got %r" % (key, value))
        result.append((key, _words(value)))
    return result


def apply_live(values, root="/", check_mode=False, missing="fail"):
    """Set each key to its value when it differs. Returns the result dict.

    ``{"changed": bool, "sysctls": {key: {"before", "after", "present", "changed"}},
    "diff": {"before": text, "after": text}}``. In check mode nothing is written
    and ``after`` is the value that would be set. ``missing='ignore'`` reports an
    absent key (``present: false``) instead of failing; it is never created.
    Raises SysctlLiveError (with the partial results) on the first failure.
    """
    if missing not in MISSING_ACTIONS:
        raise ValueError("missing must be one of %s" % ", ".join(MISSING_ACTIONS))
    results = {}
    before_lines, after_lines = [], []
    for key, wanted in validate_values(values):
        current = read_value(root, key)
        if current is None:
            results[key] = {"before": None, "after": None, "present": False, "changed": False}
            if missing == "fail":
                hint = " (load br_netfilter first)" if normalize_key(key).startswith("net/bridge/") else ""
                raise SysctlLiveError("%s does not exist in /proc/sys%s" % (key, hint), results)
            continue
        change = current != wanted
        if change and not check_mode:
            _write(root, key, wanted)
            confirmed = read_value(root, key)
            if confirmed != wanted:
                results[key] = {"before": current, "after": confirmed, "present": True, "changed": True}
                raise SysctlLiveError("%s was set to %s but reads back %s" % (key, wanted, confirmed), results)
        results[key] = {"before": current, "after": wanted if change else current, "present": True,
                        "changed": change}
        if change:
            before_lines.append("%s = %s\n" % (key, current))
            after_lines.append("%s = %s\n" % (key, wanted))
    return {
        "changed": any(item["changed"] for item in results.values()),
        "sysctls": results,
        "diff": {"before_header": "live kernel values", "after_header": "live kernel values",
                 "before": "".join(before_lines), "after": "".join(after_lines)},
    }
