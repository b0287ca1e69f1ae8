# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Package version comparison: Debian (dpkg) and RPM rules, no Ansible import.

``compare_versions(a, b, scheme)`` returns -1, 0 or 1.

* ``deb`` follows dpkg's ``verrevcmp``: ``[epoch:]upstream[-revision]``, the
  epoch compared as an integer, then upstream and revision by alternating
  non-digit runs (letters sort before non-letters, ``~`` before everything,
  even the end of the string) and digit runs (numerically).
* ``rpm`` follows ``rpmvercmp`` on ``[epoch:]version[-release]``: alphanumeric
  segments, numbers beat letters, ``~`` sorts before and ``^`` after the end.

``upstream_version("5:27.3.1-1~debian.12~bookworm")`` gives ``"27.3.1"``: the
leading dotted number of the upstream part, used to place Docker and iptables
releases against the known-issue table whatever the packager added.
"""

from __future__ import annotations

import re

_DIGITS = "0123456789"
_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DEB_ALLOWED = re.compile(r"^[A-Za-z0-9.+~:-]+$")
_UPSTREAM_NUMBER = re.compile(r"^v?(\d+(?:\.\d+)*)")

SCHEMES = ("deb", "rpm")


class VersionError(ValueError):
    """A version string that no packager would produce."""


def _sign(value):
    return (value > 0) - (value < 0)


# --- Debian ------------------------------------------------------------

def parse_deb_version(version):
    """Split ``[epoch:]upstream[-revision]`` into ``(epoch, upstream, revision)``.

    The revision is what follows the last hyphen; ``""`` when there is none.
    Raises VersionError for empty strings, a non-numeric epoch, characters dpkg
    rejects, or an upstream part that does not start with a digit.
    """
    if not isinstance(version, str):
        raise VersionError("version must be a string, got %r" % (version,))
    text = version.strip()
    if not text:
        raise VersionError("empty version string")
    if not _DEB_ALLOWED.match(text):
        raise VersionError("invalid character in Debian version %r" % (version,))
    epoch = 0
    if ":" in text:
        epoch_text, text = text.split(":", 1)
        if not epoch_text.isdigit():
            raise VersionError("epoch of %r is not a number" % (version,))
        epoch = int(epoch_text)
    revision = ""
    if "-" in text:
        text, revision = text.rsplit("-", 1)
        if not revision:
            raise VersionError("empty revision in %r" % (version,))
    if not text or text[0] not in _DIGITS:
        raise VersionError("upstream part of %r must start with a digit" % (version,))
    if ":" in text or ":" in revision:
        raise VersionError("more than one epoch separator in %r" % (version,))
    return epoch, text, revision


def _deb_order(char):
    if char in _DIGITS:
        return 0
    if char in _LETTERS:
        return ord(char)
    if char == "~":
        return -1
    return ord(char) + 256


def _verrevcmp(left, right):
    """dpkg's verrevcmp on one component (upstream or revision)."""
    i = j = 0
    len_l, len_r = len(left), len(right)
    while i < len_l or j < len_r:
        first_diff = 0
        while (i < len_l and left[i] not in _DIGITS) or (j < len_r and right[j] not in _DIGITS):
            order_l = _deb_order(left[i]) if i < len_l else 0
            order_r = _deb_order(right[j]) if j < len_r else 0
            if order_l != order_r:
                return _sign(order_l - order_r)
            i += 1
            j += 1
        while i < len_l and left[i] == "0":
            i += 1
        while j < len_r and right[j] == "0":
            j += 1
        while i < len_l and left[i] in _DIGITS and j < len_r and right[j] in _DIGITS:
            if not first_diff:
                first_diff = ord(left[i]) - ord(right[j])
            i += 1
            j += 1
        if i < len_l and left[i] in _DIGITS:
            return 1
        if j < len_r and right[j] in _DIGITS:
            return -1
        if first_diff:
            return _sign(first_diff)
    return 0


def deb_compare(left, right):
    """Compare two Debian versions like ``dpkg --compare-versions``."""
    epoch_l, upstream_l, revision_l = parse_deb_version(left)
    epoch_r, upstream_r, revision_r = parse_deb_version(right)
    if epoch_l != epoch_r:
        return _sign(epoch_l - epoch_r)
    result = _verrevcmp(upstream_l, upstream_r)
    if result:
        return result
    return _verrevcmp(revision_l, revision_r)


# --- RPM ---------------------------------------------------------------

def parse_rpm_evr(version):
    """Split ``[epoch:]version[-release]`` into ``(epoch, version, release)``."""
    if not isinstance(version, str):
        raise VersionError("version must be a string, got %r" % (version,))
    text = version.strip()
    if not text or any(c.isspace() for c in text):
        raise VersionError("invalid RPM version %r" % (version,))
    epoch = 0
    if ":" in text:
        epoch_text, text = text.split(":", 1)
        if not epoch_text.isdigit():
            raise VersionError("epoch of %r is not a number" % (version,))
        epoch = int(epoch_text)
    release = ""
    if "-" in text:
        text, release = text.rsplit("-", 1)
    if not text:
        raise VersionError("empty version in %r" % (version,))
    return epoch, text, release


def _isalnum(char):
    return char in _DIGITS or char in _LETTERS


def rpmvercmp(left, right):
    """rpm's ``rpmvercmp`` on one component (version or release)."""
    if left == right:
        return 0
    i = j = 0
    len_l, len_r = len(left), len(right)
    while i < len_l or j < len_r:
        while i < len_l and not _isalnum(left[i]) and left[i] not in "~^":
            i += 1
        while j < len_r and not _isalnum(right[j]) and right[j] not in "~^":
            j += 1
        tilde_l = i < len_l and left[i] == "~"
        tilde_r = j < len_r and right[j] == "~"
        if tilde_l or tilde_r:
            if not tilde_l:
                return 1
            if not tilde_r:
                return -1
            i += 1
            j += 1
            continue
        caret_l = i < len_l and left[i] == "^"
        caret_r = j < len_r and right[j] == "^"
        if caret_l or caret_r:
            if i >= len_l:
                return -1
            if j >= len_r:
                return 1
            if not caret_l:
                return 1
            if not caret_r:
                return -1
            i += 1
            j += 1
            continue
        if not (i < len_l and j < len_r):
            break
        start_l, start_r = i, j
        if left[i] in _DIGITS:
            numeric = True
            while i < len_l and left[i] in _DIGITS:
                i += 1
            while j < len_r and right[j] in _DIGITS:
                j += 1
        else:
            numeric = False
            while i < len_l and left[i] in _LETTERS:
                i += 1
            while j < len_r and right[j] in _LETTERS:
                j += 1
        seg_l, seg_r = left[start_l:i], right[start_r:j]
        if not seg_r:
            # segments of different types: numeric beats alphabetic
            return 1 if numeric else -1
        if numeric:
            seg_l = seg_l.lstrip("0")
            seg_r = seg_r.lstrip("0")
            if len(seg_l) != len(seg_r):
                return 1 if len(seg_l) > len(seg_r) else -1
        if seg_l != seg_r:
            return 1 if seg_l > seg_r else -1
    if i >= len_l and j >= len_r:
        return 0
    return -1 if i >= len_l else 1


def rpm_compare(left, right):
    """Compare two RPM ``[epoch:]version[-release]`` strings."""
    epoch_l, version_l, release_l = parse_rpm_evr(left)
    epoch_r, version_r, release_r = parse_rpm_evr(right)
    if epoch_l != epoch_r:
        return _sign(epoch_l - epoch_r)
    result = rpmvercmp(version_l, version_r)
    if result or not (release_l and release_r):
        return result
    return rpmvercmp(release_l, release_r)


# --- common ------------------------------------------------------------

def compare_versions(left, right, scheme="deb"):
    """-1, 0 or 1 as ``left`` sorts before, equal to or after ``right``."""
    if scheme == "deb":
        return deb_compare(left, right)
    if scheme == "rpm":
        return rpm_compare(left, right)
    raise VersionError("unknown version scheme %r (expected one of %s)" % (scheme, ", ".join(SCHEMES)))


def upstream_version(version):
    """The leading dotted number of a package or engine version, or None.

    ``5:27.3.1-1~debian.12~bookworm`` -> ``27.3.1``; ``28.5.2+dfsg4-5`` ->
    ``28.5.2``; ``28.5.2+dfsg4`` (Docker's ServerVersion) -> ``28.5.2``;
    ``3:27.3.1-1.el9`` -> ``27.3.1``; ``28.0.0-rc.1`` -> ``28.0.0``.
    """
    if not isinstance(version, str):
        return None
    text = version.strip()
    if ":" in text:
        head, rest = text.split(":", 1)
        if head.isdigit():
            text = rest
    match = _UPSTREAM_NUMBER.match(text)
    return match.group(1) if match else None


def version_matches(version, spec, scheme="deb"):
    """Does ``version`` fall in ``spec``?

    ``spec`` keys (all optional, all must hold): ``exact`` (list of versions),
    ``min`` (inclusive), ``before`` (exclusive upper bound). An empty spec
    matches every version. Raises VersionError on an unparsable version.
    """
    exact = spec.get("exact")
    if exact is not None and not any(compare_versions(version, item, scheme) == 0 for item in exact):
        return False
    minimum = spec.get("min")
    if minimum is not None and compare_versions(version, minimum, scheme) < 0:
        return False
    before = spec.get("before")
    if before is not None and compare_versions(version, before, scheme) >= 0:
        return False
    return True
