# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Read-only access to a Linux root file system, real ("/") or a fixture tree.

Every reader in this collection takes a ``root`` argument. ``RootFS`` maps the
absolute paths the target OS would use (``/proc/sys/...``, ``/etc/sysctl.d``)
under that root, follows symbolic links the way the target would see them
(absolute link targets are re-rooted, so a fixture tree never escapes into the
controller's own ``/etc``), caches every file it reads (no file is read twice)
and records files it could not read instead of raising.

No Ansible import: this module is pure Python and is unit-tested directly.
"""

from __future__ import annotations

import errno
import os
import posixpath

_MAX_SYMLINKS = 40


class RootFS(object):
    """File reads relative to ``root`` with caching and error bookkeeping."""

    def __init__(self, root="/"):
        if not isinstance(root, str) or not root:
            raise ValueError("root must be a non-empty path string, got %r" % (root,))
        self.root = os.path.abspath(root)
        self._real = self.root == "/"
        self._text = {}
        self._bytes = {}
        self.unreadable = []  # [{"path": ..., "error": ...}]

    # -- path mapping -------------------------------------------------
    def _host(self, path):
        """Host path of a target-absolute path, without resolving links."""
        path = posixpath.normpath("/" + path.lstrip("/"))
        if self._real:
            return path
        return os.path.join(self.root, path.lstrip("/"))

    def resolve(self, path):
        """Target-absolute path after following every symlink inside root.

        Returns None for a symlink loop. Components that do not exist are
        kept as they are (like ``realpath -m``).
        """
        if self._real:
            return os.path.realpath(path)
        parts = [p for p in path.split("/") if p]
        done = []
        hops = 0
        while parts:
            part = parts.pop(0)
            if part == ".":
                continue
            if part == "..":
                if done:
                    done.pop()
                continue
            candidate = "/" + "/".join(done + [part])
            host = self._host(candidate)
            if os.path.islink(host):
                hops += 1
                if hops > _MAX_SYMLINKS:
                    return None
                target = os.readlink(host)
                if target.startswith("/"):
                    done = []
                parts = [p for p in target.split("/") if p] + parts
                continue
            done.append(part)
        return "/" + "/".join(done)

    def host_path(self, path):
        """Host path after resolving symlinks within root (None on loop)."""
        resolved = self.resolve(path)
        if resolved is None:
            return None
        return self._host(resolved)

    # -- queries ------------------------------------------------------
    def exists(self, path):
        host = self.host_path(path)
        return host is not None and os.path.exists(host)

    def isdir(self, path):
        host = self.host_path(path)
        return host is not None and os.path.isdir(host)

    def isfile(self, path):
        host = self.host_path(path)
        return host is not None and os.path.isfile(host)

    def islink(self, path):
        """Is the last component of ``path`` a symlink (parents resolved)."""
        parent = self.resolve(posixpath.dirname(path) or "/")
        if parent is None:
            return False
        return os.path.islink(self._host(posixpath.join(parent, posixpath.basename(path))))

    def readlink(self, path):
        """Raw link text of ``path`` (parents resolved), or None."""
        parent = self.resolve(posixpath.dirname(path) or "/")
        if parent is None:
            return None
        try:
            return os.readlink(self._host(posixpath.join(parent, posixpath.basename(path))))
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.EINVAL, errno.ENOTDIR):
                self._note(path, exc)
            return None

    def listdir(self, path):
        """Sorted names in directory ``path``; [] when absent."""
        host = self.host_path(path)
        if host is None:
            return []
        try:
            return sorted(os.listdir(host))
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
                self._note(path, exc)
            return []

    def read_bytes(self, path):
        """Content of ``path`` or None when absent/unreadable (cached)."""
        if path in self._bytes:
            return self._bytes[path]
        data = None
        host = self.host_path(path)
        if host is not None:
            try:
                with open(host, "rb") as handle:
                    data = handle.read()
            except OSError as exc:
                if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
                    self._note(path, exc)
        else:
            self.unreadable.append({"path": path, "error": "symlink loop"})
        self._bytes[path] = data
        return data

    def read_text(self, path):
        """Decoded content of ``path`` or None (cached)."""
        if path in self._text:
            return self._text[path]
        data = self.read_bytes(path)
        text = None if data is None else data.decode("utf-8", "replace")
        self._text[path] = text
        return text

    def _note(self, path, exc):
        entry = {"path": path, "error": exc.strerror or str(exc)}
        if entry not in self.unreadable:
            self.unreadable.append(entry)


def list_conf_files(fs, dirs, suffix=".conf"):
    """Configuration files in systemd/kmod order.

    Files from all ``dirs`` are sorted by basename; a basename found in an
    earlier directory masks the same name in later ones. A symlink to
    /dev/null masks and contributes nothing (``"null": True``). A dangling
    symlink or a sub-directory is skipped and masks nothing. A directory that
    resolves to one already listed (``/lib`` -> ``usr/lib``) is read once.
    Returns a list of dicts: ``{"path", "resolved", "masked_paths"}``.
    """
    chosen = {}
    masked = {}
    seen_dirs = set()
    for directory in dirs:
        real_dir = fs.resolve(directory)
        if real_dir in seen_dirs:
            continue
        seen_dirs.add(real_dir)
        for name in fs.listdir(directory):
            if not name.endswith(suffix):
                continue
            path = posixpath.join(directory, name)
            if name in chosen:
                masked.setdefault(name, []).append(path)
                continue
            if fs.resolve(path) != "/dev/null" and not fs.isfile(path):
                # dangling symlink or a directory: skipped, masks nothing
                continue
            chosen[name] = path
    result = []
    for name in sorted(chosen):
        path = chosen[name]
        resolved = fs.resolve(path)
        result.append({
            "path": path,
            "resolved": resolved,
            "masked_paths": masked.get(name, []),
            "null": resolved == "/dev/null",
        })
    return result
