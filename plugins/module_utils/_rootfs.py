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

Only regular files are opened: a FIFO at /etc/sysctl.conf would block ``open``
for ever, and opening a device can have side effects (a watchdog, a tape).
Such a path, a symlink loop, and a file larger than the read limit are recorded
in ``unreadable`` like a permission error, so callers can say "unknown".

No Ansible import: this module is pure Python and is unit-tested directly.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat

_MAX_SYMLINKS = 40
#: Largest file ``read_bytes`` returns. Every file this collection reads whole (dpkg status, modules.dep, /proc
#: files) is far smaller on real hosts; configuration directories are read line by line (``iter_lines``).
MAX_READ_BYTES = 32 * 1024 * 1024
#: Longest line ``iter_lines`` returns whole; systemd refuses lines over LONG_LINE_MAX (1 MiB) as well.
MAX_LINE_BYTES = 1024 * 1024
_READ_PIECE = 1024 * 1024
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def file_kind(mode):
    """What a non-regular ``st_mode`` is, in words."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


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

    def special_kind(self, path):
        """What ``path`` is when it exists but is neither a regular file nor a directory (a FIFO...), else None."""
        host = self.host_path(path)
        if host is None:
            return None
        try:
            mode = os.stat(host).st_mode
        except OSError:
            return None
        if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
            return None
        return file_kind(mode)

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

    def _open_regular(self, path):
        """A binary file object for ``path`` if it is a regular file; None (and noted) otherwise.

        The type is checked before opening, so a FIFO or device is never opened, and again on the open
        descriptor (O_NONBLOCK: a FIFO swapped in between cannot block the open), so a race cannot slip one in.
        """
        host = self.host_path(path)
        if host is None:
            self.note(path, "symlink loop")
            return None
        try:
            mode = os.stat(host).st_mode
            if not stat.S_ISREG(mode):
                self.note(path, "%s, not read" % file_kind(mode))
                return None
            fd = os.open(host, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                self.note(path, "symlink loop")
            elif exc.errno not in (errno.ENOENT, errno.ENOTDIR):
                self._note(path, exc)
            return None
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            self.note(path, "%s, not read" % file_kind(mode))
            return None
        return os.fdopen(fd, "rb")

    def read_bytes(self, path, limit=MAX_READ_BYTES):
        """Content of ``path`` or None when absent/unreadable/not regular/over ``limit`` bytes (cached)."""
        if path in self._bytes:
            return self._bytes[path]
        data = None
        handle = self._open_regular(path)
        if handle is not None:
            # In pieces: /proc/sys answers one read of a huge count with ENOMEM (it allocates the count).
            pieces, total = [], 0
            try:
                with handle:
                    while total <= limit:
                        piece = handle.read(_READ_PIECE)
                        if not piece:
                            break
                        pieces.append(piece)
                        total += len(piece)
                data = b"".join(pieces)
            except OSError as exc:
                self._note(path, exc)
                data = None
            if data is not None and total > limit:
                self.note(path, "larger than %d bytes, not read" % limit)
                data = None
        self._bytes[path] = data
        return data

    def iter_lines(self, path, max_line=MAX_LINE_BYTES):
        """Decoded lines of ``path`` one at a time, without holding the file in memory (not cached).

        Yields ``(line_number, text, too_long)``; a line over ``max_line`` bytes is cut there and flagged,
        and the rest of it is skipped. Yields nothing when the file cannot be read (then it is noted).
        A read error part way is noted too; the lines before it have been yielded.
        """
        handle = self._open_regular(path)
        if handle is None:
            return
        with handle:
            number = 0
            try:
                while True:
                    raw = handle.readline(max_line + 1)
                    if not raw:
                        return
                    number += 1
                    too_long = len(raw) > max_line and not raw.endswith(b"\n")
                    if too_long:
                        while True:  # skip the rest of the line in bounded pieces
                            rest = handle.readline(max_line)
                            if not rest or rest.endswith(b"\n"):
                                break
                        raw = raw[:max_line]
                    yield number, raw.decode("utf-8", "replace").rstrip("\r\n"), too_long
            except OSError as exc:
                self._note(path, exc)

    def read_text(self, path):
        """Decoded content of ``path`` or None (cached)."""
        if path in self._text:
            return self._text[path]
        data = self.read_bytes(path)
        text = None if data is None else data.decode("utf-8", "replace")
        self._text[path] = text
        return text

    def _note(self, path, exc):
        self.note(path, exc.strerror or str(exc))

    def was_unreadable(self, path):
        """Has ``path`` been recorded as unreadable (by any read so far)?"""
        return any(entry["path"] == path for entry in self.unreadable)

    def note(self, path, error):
        entry = {"path": path, "error": error}
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
            resolved = fs.resolve(path)
            if resolved is None:
                # systemd cannot stat it either and skips it, so it masks nothing; but say so, not a silent skip
                fs.note(path, "symlink loop")
                continue
            if resolved != "/dev/null" and not fs.isfile(path):
                # dangling symlink or a directory: skipped, masks nothing. A FIFO or device is skipped too, but
                # noted: what it would hold is unknown, so callers must not read its absence as "not set".
                kind = fs.special_kind(path)
                if kind:
                    fs.note(path, "%s, not read" % kind)
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


def unreadable_conf_files(fs, dirs, suffix=".conf", read_failed=()):
    """Configuration files of ``dirs`` whose content is unknown, in the order they would be applied (by name).

    ``read_failed``: listed files whose read failed; to them are added the entries ``list_conf_files`` noted and
    skipped (symlink loops, FIFOs, devices), which a caller that only reads the listed files never sees.
    """
    dirs = set(posixpath.normpath(d) for d in dirs)
    paths = list(read_failed)
    for entry in fs.unreadable:
        path = entry["path"]
        if posixpath.dirname(path) in dirs and path.endswith(suffix) and path not in paths:
            paths.append(path)
    return sorted(paths, key=lambda path: (posixpath.basename(path), path))
