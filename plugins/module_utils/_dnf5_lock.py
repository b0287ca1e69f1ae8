# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""dnf5's own version locks: ``/etc/dnf/versionlock.toml`` and an ``excludepkgs`` drop-in. No Ansible import.

Measured with dnf5 5.4.6 (Debian sid), the facts this module is built on:

* The lock file's path is fixed and has no drop-in directory: the pin set
  shares it with the admin's own ``dnf5 versionlock`` entries. It reads
  ``version = "1.0"`` (any other value, or none, and dnf5 silently ignores the
  whole file), then ``[[packages]]`` tables (``name``, optional ``comment``)
  each with ``[[packages.conditions]]`` (``key`` evr|epoch|arch,
  ``comparator`` = != < <= > >=, ``value``).
* A candidate of a listed name is allowed when it meets **all** conditions of
  **at least one** entry of that name: AND within an entry, OR across entries.
  So an exact pin is one entry (``evr = E:V-R``), a second entry for the same
  name would OR the lock away, and forbidding a version means one entry per
  *allowed* interval: ``< E:V``, ``>= E:V^`` AND ``< E:W``, ``>= E:W^``. A value
  without a release sorts below every release of that version and ``V^`` just
  above all of them, so ``[E:V, E:V^)`` is every release of V (dnf 4's
  ``!NAME-V-*``).
* Values need the epoch: ``27.5.1-1.fc41`` is epoch 0 and matches nothing of
  an Epoch 3 package, which then locks every version out.
* Malformed TOML aborts every dnf5 command (rc 134), so the file is rendered
  by a small emitter for exactly this grammar and parsed back before it is
  returned; a file that does not parse is never rewritten (nor are its
  entries guessed at).
* ``dnf5 versionlock add/delete`` rewrite the file, dropping ``#`` comments and
  unknown keys but keeping ``comment``. The pin set therefore marks its
  entries by their ``comment`` (``nodeprep.netfilter.package_pin NAME: ...``)
  and re-emits every other entry from the parsed data.
* ``excludepkgs`` in ``/etc/dnf/libdnf5.conf.d/*.conf`` (a ``[main]`` header is
  mandatory) adds to dnf.conf's; dnf 4 does not read that directory.
"""

from __future__ import annotations

import fnmatch
import functools
import math
import re

try:
    import tomllib
except ImportError:  # Python < 3.11: there is no TOML parser in the standard library.
    tomllib = None

from ansible_collections.nodeprep.netfilter.plugins.module_utils._versions import rpmvercmp

VERSIONLOCK_TOML = "/etc/dnf/versionlock.toml"
FILE_VERSION = "1.0"
DROPIN_DIR = "/etc/dnf/libdnf5.conf.d"
MARKER = "nodeprep.netfilter.package_pin"
COMPARATORS = ("=", "!=", "<", "<=", ">", ">=")


class Dnf5LockError(ValueError):
    """The lock cannot be planned safely; the message says why and what to do."""


def dropin_path(name):
    """The pin set's own drop-in: dnf5 reads only ``*.conf`` there."""
    return "%s/nodeprep-%s.conf" % (DROPIN_DIR, name)


def render_dropin(name, patterns):
    """The drop-in with ``patterns`` as excludepkgs, or None when there is nothing to exclude (no file)."""
    if not patterns:
        return None
    # [main] comes first: a drop-in whose first line is not a section header breaks every dnf5 command.
    return ("[main]\n# Managed by %s (pin set %s): versions dnf5 must not install. Do not edit: changes are "
            "overwritten.\nexcludepkgs=%s\n" % (MARKER, name, ",".join(patterns)))


# --- TOML: parse what is there, emit exactly this grammar --------------------------------------

def require_tomllib():
    if tomllib is None:
        raise Dnf5LockError("dnf5's versionlock.toml needs a TOML parser: Python 3.11 or later on the managed host "
                            "(this is Python older than 3.11, which has no tomllib); use a newer interpreter "
                            "(ansible_python_interpreter) or dnf_method excludepkgs")


def parse_versionlock(text, path=VERSIONLOCK_TOML):
    """``{"entries": [...], "top": {other top-level keys}}`` of a versionlock.toml text (None or blank: empty).

    Raises Dnf5LockError for a file dnf5 cannot use as it stands: malformed TOML (dnf5 aborts on it), a
    ``version`` other than "1.0" or none with entries (dnf5 ignores the whole file, so the admin's entries are
    not in force; adding ours, or the version line, would change that behind their back), or a shape other than
    the grammar above. The file is then left for a human to fix.
    """
    require_tomllib()
    if text is None or not text.strip():
        return {"entries": [], "top": {}}
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise Dnf5LockError("%s is not valid TOML (%s): every dnf5 command aborts on it now (rc 134). The role does "
                            "not rewrite a file it cannot read, since the entries in it may be someone's; fix or "
                            "remove it, then run again" % (path, exc))
    entries = data.get("packages", [])
    version = data.get("version")
    if version != FILE_VERSION and (entries or version is not None):
        raise Dnf5LockError("%s has version = %r: dnf5 reads only version = \"%s\" and silently ignores the whole "
                            "file otherwise, so its entries are not in force. The role does not change that for you; "
                            "fix the version line (or remove the file), then run again" % (path, version, FILE_VERSION))
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise Dnf5LockError("%s: 'packages' is not an array of tables ([[packages]]); fix it by hand" % path)
    for index, entry in enumerate(entries):
        conditions = entry.get("conditions", [])
        if not isinstance(entry.get("name"), str) or not isinstance(conditions, list) or not all(
                isinstance(c, dict) for c in conditions):
            raise Dnf5LockError("%s: packages entry %d has no string name or its conditions are not "
                                "[[packages.conditions]] tables; fix it by hand" % (path, index + 1))
    top = dict((k, v) for k, v in data.items() if k not in ("version", "packages"))
    return {"entries": entries, "top": top}


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"}


def toml_string(text):
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append("\\u%04X" % ord(char))
        else:
            out.append(char)
    return '"%s"' % "".join(out)


def _key(key):
    return key if _BARE_KEY.fullmatch(key) else toml_string(key)


def _value(value, where):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    if isinstance(value, list):
        return "[%s]" % ", ".join(_value(item, where) for item in value)
    raise Dnf5LockError("%s: a value of type %s cannot be kept as written (the role re-emits every entry it does "
                        "not own); simplify it by hand" % (where, type(value).__name__))


def _pairs(table, first, skip, where):
    lines = []
    for key in list(first) + sorted(k for k in table if k not in first and k not in skip):
        if key in table:
            lines.append("%s = %s" % (_key(key), _value(table[key], "%s key %s" % (where, key))))
    return lines


def render_versionlock(entries, top=None):
    """versionlock.toml text for ``entries`` (dicts as parsed, with ``conditions``); parsed back before returning."""
    require_tomllib()
    lines = ['version = "%s"' % FILE_VERSION] + _pairs(top or {}, (), ("version", "packages"), "top level")
    for index, entry in enumerate(entries):
        where = "packages entry %d (%s)" % (index + 1, entry.get("name"))
        lines += ["", "[[packages]]"] + _pairs(entry, ("name", "comment"), ("conditions",), where)
        for condition in entry.get("conditions", []):
            lines += ["", "[[packages.conditions]]"] + _pairs(condition, ("key", "comparator", "value"), (), where)
    text = "\n".join(lines) + "\n"
    parsed = tomllib.loads(text)  # a bug here must fail loudly, never write a file that aborts dnf5
    if parsed.get("version") != FILE_VERSION or parsed.get("packages", []) != list(entries):
        raise AssertionError("rendered versionlock.toml does not parse back to its entries")
    return text


# --- what the pin set locks -----------------------------------------------------------------------

def comment_for(name, what):
    return "%s %s: %s" % (MARKER, name, what)


def is_ours(entry, name):
    comment = entry.get("comment")
    return isinstance(comment, str) and comment.startswith("%s %s:" % (MARKER, name))


def _condition(comparator, value):
    return {"key": "evr", "comparator": comparator, "value": value}


def split_evr(text):
    """``(epoch or None, version, release or None)`` as written (``28.0.0`` has neither epoch nor release)."""
    epoch = None
    if ":" in text:
        head, text = text.split(":", 1)
        epoch = int(head)
    version, _sep, release = text.partition("-")
    return epoch, version, release or None


def evr_compare(left, right):
    """-1, 0 or 1 in dnf5's order for lock values: epoch, version, then release, a missing release lowest.

    (rpm's own comparison ignores a missing release instead; dnf5 sorts ``3:28.0.0`` below ``3:28.0.0-1.fc41``.)
    """
    epoch_l, version_l, release_l = split_evr(left)
    epoch_r, version_r, release_r = split_evr(right)
    if (epoch_l or 0) != (epoch_r or 0):
        return -1 if (epoch_l or 0) < (epoch_r or 0) else 1
    result = rpmvercmp(version_l, version_r)
    if result:
        return result
    if release_l is None or release_r is None:
        return (release_l is not None) - (release_r is not None)
    return rpmvercmp(release_l, release_r)


def epochs_of(package, version, release, known):
    """Epochs under which ``version`` (and ``release``) of ``package`` exists or would exist.

    ``known``: every full ``E:V-R`` the repositories offer or the host has installed. The epochs of that exact
    version first; else every epoch the package uses (a package keeps its epoch across releases, and a version
    not offered yet is forbidden under each).
    """
    exact, any_version = set(), set()
    for evr in known:
        epoch, v, r = split_evr(evr)
        any_version.add(epoch or 0)
        if v == version and (release is None or r == release):
            exact.add(epoch or 0)
    return sorted(exact or any_version)


def pin_entries(name, package, version, source, known):
    """The one entry (one per epoch found) that holds ``package`` at ``version``.

    A full ``E:V-R`` is locked as written (``evr = E:V-R``). Without a release every release of the version is
    allowed (``>= E:V`` AND ``< E:V^``, what dnf 4's ``NAME-V-*`` lock allows); without an epoch it is taken from
    ``known``. Raises Dnf5LockError when the epoch cannot be known: an entry without it would lock every version out.
    """
    epoch, v, release = split_evr(version)
    epochs = [epoch] if epoch is not None else epochs_of(package, v, release, known)
    if not epochs:
        raise Dnf5LockError("cannot lock %s to %s with dnf5: its epoch is unknown (no repository offers that version "
                            "and it is not installed) and dnf5 compares full epoch:version-release values, so a "
                            "guess would lock every version out. Pin the full version, e.g. 3:%s, or add the "
                            "repository first" % (package, version, version if release is not None else version + "-1.fc41"))
    entries = []
    for found in epochs:
        if release is not None:
            conditions = [_condition("=", "%d:%s-%s" % (found, v, release))]
        else:
            conditions = [_condition(">=", "%d:%s" % (found, v)), _condition("<", "%d:%s^" % (found, v))]
        entries.append({"name": package, "comment": comment_for(name, "pin %s (%s)" % (version, source)),
                        "conditions": conditions})
    return entries


def forbid_entries(name, package, versions, codes, known):
    """Entries allowing everything but ``versions`` of ``package``: one per allowed interval.

    Each forbidden item is ``[E:V, E:V^)`` (every release of V, for a version without release) or the point
    ``E:V-R``, for every epoch ``epochs_of`` finds; overlapping ones are merged. Returns ``[]`` when no epoch is
    known (nothing offered or installed: the caller decides what that means).
    """
    bad = []
    for version in versions:
        epoch, v, release = split_evr(version)
        for found in ([epoch] if epoch is not None else epochs_of(package, v, release, known)):
            if release is None:
                bad.append(("%d:%s" % (found, v), True, "%d:%s^" % (found, v), False))
            else:
                point = "%d:%s-%s" % (found, v, release)
                bad.append((point, True, point, True))
    if not bad:
        return []
    bad.sort(key=functools.cmp_to_key(lambda a, b: evr_compare(a[0], b[0])))
    merged = [list(bad[0])]
    for low, low_in, high, high_in in bad[1:]:
        last = merged[-1]
        touching = evr_compare(low, last[2])
        if touching < 0 or (touching == 0 and (low_in or last[3])):
            beyond = evr_compare(high, last[2])
            if beyond > 0 or (beyond == 0 and high_in):
                last[2], last[3] = high, high_in
        else:
            merged.append([low, low_in, high, high_in])
    comment = comment_for(name, "forbid %s (%s)" % (", ".join(versions), ", ".join(codes)))
    entries = [[_condition("<" if merged[0][1] else "<=", merged[0][0])]]
    for (_low, _low_in, high, high_in), (low, low_in, _h, _hi) in zip(merged, merged[1:]):
        entries.append([_condition(">" if high_in else ">=", high), _condition("<" if low_in else "<=", low)])
    entries.append([_condition(">" if merged[-1][3] else ">=", merged[-1][2])])
    return [{"name": package, "comment": comment, "conditions": conditions} for conditions in entries]


def _same_entries(left, right):
    def canonical(entries):
        return sorted(repr(sorted((k, repr(v)) for k, v in entry.items())) for entry in entries)
    return canonical(left) == canonical(right)


def versionlock_variants(text, name, ours, path=VERSIONLOCK_TOML):
    """What versionlock.toml becomes with the pin set present and absent, and whose entries widen ours.

    ``{"present": text or None, "absent": text or None, "others": [{"name", "comment", "locks"}]}``: None where
    the file stays as it is (no file and nothing to write counts as unchanged). Every entry not ours is kept, in
    its order, re-emitted from the parsed data; ours follow. ``others`` lists each entry of another owner for a
    name ``ours`` locks: dnf5 ORs entries of one name, so such an entry widens (or cancels) our lock.
    """
    parsed = parse_versionlock(text, path)
    kept = [e for e in parsed["entries"] if not is_ours(e, name)]
    variants = {}
    for state, wanted in (("present", ours), ("absent", [])):
        entries = kept + list(wanted)
        if text is None and not entries:
            variants[state] = None
            continue
        if text is not None and _same_entries(entries, parsed["entries"]):
            # Order means nothing to dnf5 (entries of a name OR), and 'dnf5 versionlock add' appends after ours:
            # rewriting only to restore our order would report a change where none is.
            variants[state] = None
            continue
        rendered = render_versionlock(entries, parsed["top"])
        variants[state] = None if rendered == text else rendered
    locked = sorted(set(e["name"] for e in ours))
    variants["others"] = [{"name": e["name"], "comment": e.get("comment"), "locks": pkg}
                          for e in kept for pkg in locked if fnmatch.fnmatchcase(pkg, e["name"])]
    return variants
