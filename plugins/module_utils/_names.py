# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Names and versions that end up in a file, a pattern or a command line. No Ansible import.

Each ``*_problem(value)`` returns None when ``value`` is valid, otherwise one
sentence naming the value (``repr``, so a newline shows as ``\\n``) and the rule
it breaks. Callers add where the value came from (``pins[0]: ...``).

Every pattern here is matched against the *whole* string with ``fullmatch``:
``re.match(r"^...$")`` also accepts a value with one trailing newline (``$``
matches before a final ``\\n``), and YAML block scalars produce exactly such
values. A newline inside a package name splits an apt preferences stanza (every
apt command on the host then fails), inside a sysctl key it breaks the sysctl.d
file, and a ``/`` or ``..`` in a unit name moves a drop-in out of
/etc/systemd/system.
"""

from __future__ import annotations

import re

#: File names (a preferences.d file, a unit's drop-in directory, a /proc/sys
#: component) are at most NAME_MAX bytes on Linux.
NAME_MAX = 255

# --- packages ------------------------------------------------------------------

# Debian policy 5.6.1: lowercase letters, digits, '+', '-', '.'; at least two
# characters; starts with an alphanumeric.
_DEB_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]+")
# RPM names: letters, digits and '-._+' (Fedora packaging guidelines). No
# whitespace, no ',' (dnf splits excludepkgs on it) and no glob characters
# (dnf and versionlock read '*?[' as patterns). A leading '-' or '.' would read
# as an option or a hidden file, so the first character is alphanumeric or '_'.
_RPM_PACKAGE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+-]*")


def _length_problem(what, value, limit=NAME_MAX):
    if len(value) > limit:
        return "%s %r is %d characters long; at most %d are allowed" % (what, _short(value), len(value), limit)
    return None


def _short(value):
    """The value itself, or its head for a very long one (the message stays readable)."""
    return value if len(value) <= 64 else value[:60] + "..."


def deb_package_name_problem(name):
    """Debian package name (Debian policy 5.6.1)."""
    if not isinstance(name, str):
        return "package name %r is not a string" % (name,)
    problem = _length_problem("package name", name)
    if problem:
        return problem
    if not _DEB_PACKAGE.fullmatch(name):
        return ("%r is not a Debian package name: lowercase letters, digits, '+', '-' and '.' only, at least 2 "
                "characters, starting with a letter or digit" % (name,))
    return None


def rpm_package_name_problem(name):
    """RPM package name: letters, digits, ``-._+``; no whitespace, comma or glob character."""
    if not isinstance(name, str):
        return "package name %r is not a string" % (name,)
    problem = _length_problem("package name", name)
    if problem:
        return problem
    if not _RPM_PACKAGE.fullmatch(name):
        return ("%r is not an RPM package name: letters, digits, '-', '.', '_' and '+' only (no whitespace, ',' or "
                "glob characters), starting with a letter, digit or '_'" % (name,))
    return None


def package_name_problem(name, pkg_mgr):
    """The package-name rule of ``pkg_mgr``: Debian's for apt, RPM's for dnf and yum."""
    if pkg_mgr == "apt":
        return deb_package_name_problem(name)
    return rpm_package_name_problem(name)


# --- versions --------------------------------------------------------------------

# deb-version(5): [epoch:]upstream[-revision]. The epoch is a number; the
# upstream version starts with a digit and has alphanumerics and '.+~' (and
# '-' only when there is a revision, which is what follows the last '-'); the
# revision has alphanumerics and '+.~'.
_DEB_EPOCH = re.compile(r"[0-9]+")
_DEB_UPSTREAM = re.compile(r"[0-9][A-Za-z0-9.+~]*")
_DEB_UPSTREAM_WITH_REVISION = re.compile(r"[0-9][A-Za-z0-9.+~-]*")
_DEB_REVISION = re.compile(r"[A-Za-z0-9+.~]+")

# RPM [epoch:]version[-release]: version and release use alphanumerics and
# '._+~^' (rpm's own rule for both; '-' separates them, so neither contains it).
_RPM_EVR = re.compile(r"(?:[0-9]+:)?[A-Za-z0-9][A-Za-z0-9._+~^]*(?:-[A-Za-z0-9._+~^]+)?")


def deb_version_problem(version):
    """Debian version (deb-version(5))."""
    if not isinstance(version, str):
        return "version %r is not a string" % (version,)
    if not version:
        return "the version is empty"
    rest = version
    if ":" in rest:
        epoch, rest = rest.split(":", 1)
        if not _DEB_EPOCH.fullmatch(epoch):
            return "%r is not a Debian version: the epoch before ':' must be a number" % (version,)
    if "-" in rest:
        upstream, revision = rest.rsplit("-", 1)
        if not _DEB_REVISION.fullmatch(revision):
            return ("%r is not a Debian version: the revision after the last '-' must be letters, digits, '+', '.' "
                    "or '~'" % (version,))
        upstream_ok = _DEB_UPSTREAM_WITH_REVISION.fullmatch(upstream)
    else:
        upstream_ok = _DEB_UPSTREAM.fullmatch(rest)
    if not upstream_ok:
        return ("%r is not a Debian version ([epoch:]upstream[-revision], deb-version(5)): the upstream version must "
                "start with a digit and contain only letters, digits, '.', '+', '~' (and '-' before a revision); no "
                "whitespace, ':' or pattern characters" % (version,))
    return None


def rpm_version_problem(version):
    """RPM ``[epoch:]version[-release]``: no comma, whitespace or glob character."""
    if not isinstance(version, str):
        return "version %r is not a string" % (version,)
    if not version:
        return "the version is empty"
    if not _RPM_EVR.fullmatch(version):
        return ("%r is not an RPM version ([epoch:]version[-release]): letters, digits, '.', '_', '+', '~' and '^' "
                "only, starting with a letter or digit, with at most one '-' (no whitespace, ',' or glob "
                "characters)" % (version,))
    return None


def version_problem(version, pkg_mgr):
    """The version rule of ``pkg_mgr``: Debian's for apt, RPM's for dnf and yum."""
    if pkg_mgr == "apt":
        return deb_version_problem(version)
    return rpm_version_problem(version)


# --- file names -------------------------------------------------------------------

# apt reads a preferences.d file only if its name has no extension or ".pref",
# and only alphanumerics, "-", "_" and "." (apt_preferences(5)); the pin set
# adds ".pref" itself, so the set's name has no '.'.
_PIN_SET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def pin_set_name_problem(name):
    """Name of a pin set: the apt file is /etc/apt/preferences.d/<name>.pref."""
    if not isinstance(name, str):
        return "pin set name %r is not a string" % (name,)
    problem = _length_problem("pin set name", name, NAME_MAX - len(".pref"))
    if problem:
        return problem
    if not _PIN_SET_NAME.fullmatch(name):
        return ("pin set name %r: use letters, digits, '-' and '_' only, starting with a letter or digit (apt silently "
                "ignores preferences.d files with other characters or an extension)" % (name,))
    return None


# --- systemd units ------------------------------------------------------------------

#: Unit types of systemd.unit(5).
UNIT_TYPES = ("service", "socket", "device", "mount", "automount", "swap", "target", "path", "timer", "slice", "scope")
# systemd's unit_name_is_valid(): the name before the type suffix has
# alphanumerics and ':-_.\' plus '@' between a template prefix and its
# (possibly empty) instance. No '/', so a unit name never leaves the directory
# it is joined to.
_UNIT_PREFIX = re.compile(r"[A-Za-z0-9:_.\\-]+(?:@[A-Za-z0-9:_.\\@-]*)?")


def unit_name_problem(name, types=UNIT_TYPES):
    """systemd unit name (systemd.unit(5)) with a type suffix among ``types``.

    Stricter than systemd in one point: a leading '-' is refused, because
    systemctl and the modules calling it would read the name as an option (the
    only such units, ``-.mount`` and ``-.slice``, are the root's).
    """
    if not isinstance(name, str):
        return "unit name %r is not a string" % (name,)
    problem = _length_problem("unit name", name)
    if problem:
        return problem
    prefix, dot, suffix = name.rpartition(".")
    wanted = " or ".join("." + t for t in types)
    if not dot or suffix not in types:
        return "%r is not a systemd unit name: it must end in %s" % (name, wanted)
    if not prefix or prefix.startswith("-") or not _UNIT_PREFIX.fullmatch(prefix):
        return ("%r is not a systemd unit name: before %s only letters, digits, ':', '-', '_', '.', '\\' and one '@' "
                "are allowed (no '/', whitespace or leading '-'; systemd.unit(5))" % (name, "." + suffix))
    return None


# --- kernel modules and configuration files --------------------------------------------

# A kernel module name as modprobe and modules-load.d take it; the kernel keeps
# at most MODULE_NAME_LEN - 1 = 55 characters (64 - sizeof(unsigned long), NUL).
_KERNEL_MODULE = re.compile(r"[A-Za-z0-9_-]+")
KERNEL_MODULE_NAME_MAX = 55
# A sysctl.d or modules-load.d file the roles write: systemd reads only
# "*.conf"; a leading '.' would be a hidden file, and whitespace or control
# characters in a file name are never intended.
_CONF_FILE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@+-]*\.conf")


def kernel_module_name_problem(name):
    """Kernel module name (letters, digits, '_' and '-'; at most 55 characters)."""
    if not isinstance(name, str):
        return "kernel module name %r is not a string" % (name,)
    problem = _length_problem("kernel module name", name, KERNEL_MODULE_NAME_MAX)
    if problem:
        return problem
    if not _KERNEL_MODULE.fullmatch(name):
        return "%r is not a kernel module name: letters, digits, '_' and '-' only" % (name,)
    return None


def conf_file_name_problem(name):
    """File name of a ``*.conf`` file in a systemd-style ``.d`` directory (sysctl.d, modules-load.d)."""
    if not isinstance(name, str):
        return "file name %r is not a string" % (name,)
    problem = _length_problem("file name", name)
    if problem:
        return problem
    if not _CONF_FILE.fullmatch(name):
        return ("%r is not a configuration file name: '<name>.conf' with letters, digits, '_', '.', '@', '+' and '-', "
                "starting with a letter, digit or '_' (no whitespace or '/'; only *.conf files are read)" % (name,))
    return None


# --- sysctl keys ---------------------------------------------------------------------

_GLOB_CHARS = frozenset("*?[")
# Characters of a sysctl key: kernel names are [A-Za-z0-9_-]; interface names add '.', ':', '+', '@'.
_SYSCTL_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:/+@-]*")


def sysctl_key_as_path(key):
    """Slashed form of a key without normalising it: the first separator says which form the key is in."""
    for char in key:
        if char in "./":
            return key.translate(str.maketrans("./", "/.")) if char == "." else key
    return key


def is_glob(key):
    return any(char in _GLOB_CHARS for char in key)


def sysctl_key_problem(key):
    """Why ``key`` cannot name one sysctl, as a phrase, or None when it can.

    A key is dotted (``net.ipv4.ip_forward``) or slashed (``net/ipv4/ip_forward``, which keeps dots in
    interface names literal). Rejected: non-strings, empty keys, whitespace (a trailing newline too), ``=``,
    a leading ``-`` (the sysctl.d exclusion syntax), glob characters (``*?[``), empty, ``.`` or ``..``
    components, and components longer than a file name under /proc/sys can be.

    Returned as a phrase ("is empty") because callers put it after the key and where it came from.
    """
    if not isinstance(key, str):
        return "is not a string"
    if not key:
        return "is empty"
    if is_glob(key):
        return "is a glob pattern (name one key; globs are not watched)"
    if not _SYSCTL_KEY.fullmatch(key):
        return "contains characters a sysctl key cannot have (whitespace, '=', a leading '-' or '/')"
    parts = sysctl_key_as_path(key).split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "has an empty, '.' or '..' component"
    if any(len(part) > NAME_MAX for part in parts):
        return "has a component longer than %d characters" % NAME_MAX
    return None
