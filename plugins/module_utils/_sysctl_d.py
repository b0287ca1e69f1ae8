# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What systemd-sysctl will apply at boot: parser and precedence model.

Modelled on systemd's src/sysctl/sysctl.c (v245 and later) and sysctl.d(5):

* Files ``*.conf`` from /etc/sysctl.d, /run/sysctl.d, /usr/local/lib/sysctl.d,
  /usr/lib/sysctl.d (and /lib/sysctl.d, read only by split-usr builds; on
  merged-usr systems it is the same directory) are sorted by basename across
  all directories; a basename in an earlier directory masks later ones, and a
  symlink to /dev/null masks without content.
* /etc/sysctl.conf is NOT read by systemd-sysctl itself. It takes effect only
  through a sysctl.d entry that links to it (Debian's procps ships
  /etc/sysctl.d/99-sysctl.conf -> ../sysctl.conf; upstream systemd installs
  /usr/lib/sysctl.d/99-sysctl.conf -> /etc/sysctl.conf). ``procps``'s
  ``sysctl --system`` does read it last, but that is not what runs at boot.
* Lines: blank, ``#`` and ``;`` comments ignored; ``key = value``; a leading
  ``-`` means "ignore failure"; ``-key`` without ``=`` excludes the key from
  glob assignments. Later assignments to the same key win; repeating the
  same value keeps the earlier entry (and its position).
* A key whose first separator is ``/`` keeps dots literal; otherwise dots and
  slashes are swapped. Keys may be glob patterns; an explicit (non-glob)
  entry for a key always beats any glob, whatever the order; among globs the
  one assigned last wins.
"""

from __future__ import annotations

import posixpath
import re
from fnmatch import fnmatchcase

from ansible_collections.nodeprep.netfilter.plugins.module_utils._names import is_glob
from ansible_collections.nodeprep.netfilter.plugins.module_utils._names import sysctl_key_as_path as _as_path
from ansible_collections.nodeprep.netfilter.plugins.module_utils._rootfs import list_conf_files, unreadable_conf_files

SYSCTL_D_DIRS = (
    "/etc/sysctl.d",
    "/run/sysctl.d",
    "/usr/local/lib/sysctl.d",
    "/usr/lib/sysctl.d",
    "/lib/sysctl.d",
)
SYSCTL_CONF = "/etc/sysctl.conf"
_GLOB_CHARS = re.compile(r"[*?\[]")
_ALNUM = re.compile(r"[A-Za-z0-9]")
# The key grammar (_names.sysctl_key_problem, _as_path, is_glob) lives in _names, shared with every other name validator.


def normalize_key(key):
    """Return the /proc/sys relative path form of a sysctl key.

    >>> normalize_key("net.ipv4.ip_forward")
    'net/ipv4/ip_forward'
    >>> normalize_key("net/ipv4/conf/eth0.100/forwarding")
    'net/ipv4/conf/eth0.100/forwarding'
    """
    key = _as_path(key.strip())
    return posixpath.normpath("/" + key).lstrip("/") if key else key


def dotted_key(path_key):
    """Dotted display form of a normalized path key."""
    return path_key.translate(str.maketrans("./", "/."))


def canonical_key(key):
    """The dotted form sysctl(8) prints, for a key given dotted or slashed.

    >>> canonical_key("net/ipv4/ip_forward")
    'net.ipv4.ip_forward'
    >>> canonical_key("net/ipv4/conf/eth0.100/forwarding")
    'net.ipv4.conf.eth0/100.forwarding'
    """
    return dotted_key(normalize_key(key))


def parse_sysctl_line(raw, filename="<string>", lineno=0):
    """One line of a sysctl.d file: ``("entry", dict)``, ``("invalid", dict)`` or ``(None, None)`` for blanks and comments."""
    line = raw.strip()
    if not line or line[0] in "#;":
        return None, None
    ignore_failure = False
    if "=" in line:
        if line.startswith("-"):
            ignore_failure = True
            line = line[1:]
        key, value = line.split("=", 1)
        value = value.strip()
    elif line.startswith("-"):
        key, value = line[1:], None
    else:
        return "invalid", {"file": filename, "line": lineno, "text": line}
    key = normalize_key(key)
    if not key:
        return "invalid", {"file": filename, "line": lineno, "text": line}
    return "entry", {
        "key": key,
        "value": value,
        "ignore_failure": ignore_failure,
        "file": filename,
        "line": lineno,
        "glob": is_glob(key),
    }


def parse_sysctl_text(text, filename="<string>"):
    """Parse one sysctl.d file.

    Returns a list of dicts ``{"key", "value", "ignore_failure", "file",
    "line", "glob"}``; ``value`` is None for an exclusion entry (``-key``).
    Lines that are not assignments are returned in the second list as
    ``{"file", "line", "text"}`` (systemd logs and skips them).
    """
    entries = []
    invalid = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        kind, item = parse_sysctl_line(raw, filename, lineno)
        if kind == "entry":
            entries.append(item)
        elif kind == "invalid":
            invalid.append(item)
    return entries, invalid


def sysctl_d_files(fs, dirs=SYSCTL_D_DIRS):
    """Files systemd-sysctl reads, in order (see ``list_conf_files``)."""
    return list_conf_files(fs, dirs, ".conf")


def _glob_matches(pattern, key):
    """glob(3) semantics on path components: ``*`` never crosses ``/``."""
    pattern_parts = pattern.split("/")
    key_parts = key.split("/")
    if len(pattern_parts) != len(key_parts):
        return False
    return all(fnmatchcase(k, p) for p, k in zip(pattern_parts, key_parts))


def build_option_table(entries):
    """Replay systemd's ordered hashmap: returns the surviving entries in order."""
    table = {}
    order = []
    for entry in entries:
        existing = table.get(entry["key"])
        if existing is not None:
            if existing["value"] == entry["value"]:
                # systemd keeps the earlier entry and only ORs ignore_failure
                existing["ignore_failure"] = existing["ignore_failure"] or entry["ignore_failure"]
                continue
            order.remove(entry["key"])
        table[entry["key"]] = dict(entry)
        order.append(entry["key"])
    return [table[key] for key in order]


def effective_value(options, key):
    """Effective entry for ``key`` (path form) given surviving options.

    Returns ``(entry_or_None, how)`` with how in ``explicit``, ``excluded``,
    ``glob`` or ``unset``.
    """
    explicit = None
    winner_glob = None
    for option in options:
        if option["glob"]:
            if option["value"] is not None and _glob_matches(option["key"], key):
                winner_glob = option
        elif option["key"] == key:
            explicit = option
    if explicit is not None:
        if explicit["value"] is None:
            return explicit, "excluded"
        return explicit, "explicit"
    if winner_glob is not None:
        return winner_glob, "glob"
    return None, "unset"


#: Invalid lines reported with their text; the rest are only counted (a 50 MB file of junk must not become 50 MB
#: of facts).
MAX_INVALID_LINES_SHOWN = 20
#: Longest invalid line text shown.
MAX_INVALID_TEXT = 200


class _InvalidLines(object):
    """The first few invalid lines, and a count of all of them."""

    def __init__(self, limit=MAX_INVALID_LINES_SHOWN):
        self.limit = limit
        self.shown = []
        self.count = 0

    def add(self, item):
        self.count += 1
        if len(self.shown) < self.limit:
            item = dict(item)
            if len(item["text"]) > MAX_INVALID_TEXT:
                item["text"] = item["text"][:MAX_INVALID_TEXT] + "..."
            self.shown.append(item)


def _relevant(entry, wanted_keys):
    """Does an entry bear on any watched key? Others never change a watched key's outcome, so they are dropped."""
    if entry["glob"]:
        return any(_glob_matches(entry["key"], key) for key in wanted_keys)
    return entry["key"] in wanted_keys


def _cannot_matter(line, tails):
    """True when an assignment line cannot name a watched key, so it need not be parsed (a cheap pre-check).

    A non-glob key equal to a watched key contains that key's last component; keys that normalise to nothing
    (``..``, no letter or digit) are left to the parser, which counts them as invalid.
    """
    key = line.split("=", 1)[0]
    if _GLOB_CHARS.search(key) or ".." in key or not _ALNUM.search(key):
        return False
    return not any(tail in key for tail in tails)


def _scan_file(fs, path, wanted_keys, invalid):
    """Relevant entries of one sysctl.d file, read line by line; None when the file could not be read."""
    entries = []
    lines = 0
    tails = set(key.rsplit("/", 1)[-1].replace("/", ".") for key in wanted_keys)
    tails |= set(tail.replace(".", "/") for tail in tails)
    for lineno, raw, too_long in fs.iter_lines(path):
        lines += 1
        if too_long:
            invalid.add({"file": path, "line": lineno, "text": raw, "too_long": True})
            continue
        stripped = raw.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if ("=" in stripped or stripped[0] == "-") and _cannot_matter(stripped, tails):
            continue
        kind, item = parse_sysctl_line(raw, path, lineno)
        if kind == "invalid":
            invalid.add(item)
        elif kind == "entry" and _relevant(item, wanted_keys):
            entries.append(item)
    if lines == 0 and fs.was_unreadable(path):
        return None
    return entries


def gather_sysctl_persistence(fs, keys, dirs=SYSCTL_D_DIRS):
    """Persisted (boot-time) view of ``keys`` (dotted names).

    Files are read line by line and only entries that bear on ``keys`` are kept, so memory stays bounded
    whatever the files hold. Returns a dict with:
    ``files``: the ordered list of files read (path, resolved, masked_paths);
    ``persisted``: {dotted key: {"value", "file", "line", "resolved_file",
    "ignore_failure", "via"} or None};
    ``persisted_all``: {dotted key: [every assignment in order, explicit or
    glob, with "effective" on the winner]};
    ``invalid_lines``: the first MAX_INVALID_LINES_SHOWN lines systemd would skip;
    ``invalid_line_count``: how many there are in all;
    ``unreadable_files``: sysctl.d files listed but not readable, and entries that could not be listed as
    files (symlink loops, FIFOs); their assignments are unknown;
    ``unknown``: watched keys whose effective entry an unreadable file could change (no readable assignment, a
    glob, or an unreadable file sorting at or after the winning one): their boot value is not known, rather than
    "not persisted" or the readable winner;
    ``sysctl_conf_read``: whether /etc/sysctl.conf is reached via a link;
    ``sysctl_conf_entries``: {dotted key: [{file, line, value}]} found in
    /etc/sysctl.conf (whether read or not).
    """
    files = sysctl_d_files(fs, dirs)
    wanted = dict((normalize_key(key), key) for key in keys)
    all_entries = []
    invalid = _InvalidLines()
    unreadable_files = []
    conf_resolved = fs.resolve(SYSCTL_CONF)
    sysctl_conf_read = False
    for item in files:
        if item["null"]:
            continue
        if item["resolved"] == conf_resolved:
            sysctl_conf_read = True
        entries = _scan_file(fs, item["path"], wanted, invalid)
        if entries is None:
            unreadable_files.append(item["path"])
            continue
        for entry in entries:
            if item["resolved"] != item["path"]:
                entry["resolved_file"] = item["resolved"]
        all_entries.extend(entries)

    unreadable_files = unreadable_conf_files(fs, dirs, ".conf", unreadable_files)
    options = build_option_table(all_entries)
    persisted = {}
    persisted_all = {}
    unknown = []
    for path_key, dotted in wanted.items():
        winner, how = effective_value(options, path_key)
        history = []
        for entry in all_entries:
            if entry["key"] == path_key or (entry["glob"] and _glob_matches(entry["key"], path_key)):
                record = _public(entry)
                record["effective"] = (
                    winner is not None and how in ("explicit", "glob")
                    and (entry["file"], entry["line"]) == (winner["file"], winner["line"]))
                history.append(record)
        persisted_all[dotted] = history
        if winner is None or how == "excluded":
            persisted[dotted] = None
        else:
            record = _public(winner)
            record["via"] = how
            persisted[dotted] = record
        if _could_change(winner, how, unreadable_files):
            unknown.append(dotted)

    conf_entries = {}
    conf_invalid = _InvalidLines(0)
    for entry in _scan_file(fs, SYSCTL_CONF, wanted, conf_invalid) or []:
        if entry["key"] in wanted:
            conf_entries.setdefault(wanted[entry["key"]], []).append(
                {"file": SYSCTL_CONF, "line": entry["line"], "value": entry["value"]})
    return {
        "files": [{"path": f["path"], "resolved": f["resolved"], "masked_paths": f["masked_paths"]} for f in files],
        "persisted": persisted,
        "persisted_all": persisted_all,
        "invalid_lines": invalid.shown,
        "invalid_line_count": invalid.count,
        "unreadable_files": unreadable_files,
        "unknown": unknown,
        "sysctl_conf_read": sysctl_conf_read,
        "sysctl_conf_entries": conf_entries,
    }


def _could_change(winner, how, unreadable_files):
    """Could an unreadable file change the effective entry of a key (so its boot value is unknown)?

    An explicit assignment is beaten only by a later explicit one, so files sorting before the winner's cannot
    change it; a glob or no assignment at all can be beaten by an explicit line in any file. A same-named file is
    taken as possibly later (which of the two applies depends on masking the unreadable one hides).
    """
    if not unreadable_files:
        return False
    if winner is None or how != "explicit":
        return True
    name = posixpath.basename(winner["file"])
    return any(posixpath.basename(path) >= name for path in unreadable_files)


def _public(entry):
    record = {
        "value": entry["value"],
        "file": entry["file"],
        "line": entry["line"],
        "ignore_failure": entry["ignore_failure"],
    }
    if entry.get("resolved_file"):
        record["resolved_file"] = entry["resolved_file"]
    if entry["glob"]:
        record["pattern"] = dotted_key(entry["key"])
    return record
