# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Which package manager ``package_pin`` configures on a host, and the ones it refuses. No Ansible import.

``resolve_pkg_mgr(fs, requested, which)`` returns ``(name, problem)``: the
package manager to plan for (``apt``, ``dnf`` or ``dnf5``), or a message
saying why none can be used. It never guesses silently:

* ``apt`` wins under ``auto`` when dpkg's status file or ``apt-get`` exists
  (a Debian host that carries dnf or dnf5 and rpm as a test rig stays an apt
  host unless ``dnf`` or ``dnf5`` is asked for explicitly);
* ``dnf`` means dnf 4, the one that reads ``/etc/dnf/plugins/versionlock.list``
  and ``excludepkgs`` in ``/etc/dnf/dnf.conf``. When the host's ``dnf``
  command is dnf5 (Fedora 41 and later: ``/usr/bin/dnf -> dnf5``), asking for
  ``dnf`` is refused: the versionlock.list it would write is ignored there;
* ``dnf5`` reads ``/etc/dnf/versionlock.toml`` and
  ``/etc/dnf/libdnf5.conf.d/*.conf``. ``auto`` takes it where ``dnf`` is dnf5
  or only ``dnf5`` exists; where ``dnf`` is dnf 4 (EL 9, Fedora 40 with dnf5
  installed beside it) ``auto`` stays with dnf 4, the host's own ``dnf``;
* yum without dnf (EL 7) is refused: EL 7 is end of life and no test runs yum.

Binaries are looked up with ``which`` (the module's ``get_bin_path`` on the
real root) and in the usual directories of ``fs`` (fixture trees); symlinks
are followed inside ``fs`` to tell dnf 4 from dnf5.
"""

from __future__ import annotations

import posixpath
import re

SUPPORTED = ("apt", "dnf", "dnf5")
#: What package_pin_pkg_mgr (and the module's pkg_mgr) may ask for. Not yum: a yum-only host is refused under auto.
REQUESTABLE = ("auto", "apt", "dnf", "dnf5")
BIN_DIRS = ("/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin")
DPKG_STATUS = "/var/lib/dpkg/status"
OS_RELEASE = ("/etc/os-release", "/usr/lib/os-release")

DNF4_ON_DNF5 = (
    "%(where)s: dnf 4 was asked for, but this host's dnf is dnf5 (%(how)s). dnf5 ignores dnf 4's "
    "/etc/dnf/plugins/versionlock.list (its locks live in /etc/dnf/versionlock.toml), so the pins would silently do "
    "nothing. Ask for dnf5 (or auto) instead."
)
YUM_REFUSED = (
    "%(where)s: only yum was found (%(how)s). package_pin no longer supports yum: EL 7 is end of life and no test "
    "ran the role against yum. Use a host with dnf 4 (EL 8 and later), or pin with yum-plugin-versionlock by hand."
)
DNF5_MISSING = (
    "%(where)s: dnf5 was asked for, but no dnf5 command was found (/usr/bin/dnf5). Install dnf5 first (Debian sid: "
    "packages dnf5 and python3-libdnf5), or ask for the package manager the host has."
)
NONE_FOUND = "%(where)s: no supported package manager found (apt, dnf 4, dnf5); set the package manager explicitly"


def parse_os_release(text):
    """``{KEY: value}`` of an os-release file (quotes and escapes removed). Shared with _pins."""
    result = {}
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        result[key.strip()] = re.sub(r"\\(.)", r"\1", value)
    return result


def host_label(os_release):
    """``Fedora Linux 41`` or ``this host``: how messages name the host."""
    os_release = os_release or {}
    name = os_release.get("PRETTY_NAME") or " ".join(
        v for v in (os_release.get("NAME"), os_release.get("VERSION_ID")) if v)
    return name or "this host"


def find_binary(fs, name, which=None):
    """Target path of command ``name``: ``which(name)`` first, then the usual bin directories of ``fs``."""
    if which is not None:
        path = which(name)
        if path:
            return path
    for directory in BIN_DIRS:
        path = posixpath.join(directory, name)
        if fs.exists(path):
            return path
    return None


def dnf_generation(fs, path):
    """``(5 or 4, resolved path)`` of the dnf command at ``path``: dnf5 when it resolves to a ``dnf5*`` file."""
    resolved = fs.resolve(path) or path
    return (5 if posixpath.basename(resolved).startswith("dnf5") else 4), resolved


def _how(path, resolved):
    return path if resolved in (None, path) else "%s -> %s" % (path, resolved)


def resolve_pkg_mgr(fs, requested="auto", which=None, os_release=None):
    """``(name, None)`` with the package manager to plan for, or ``(None, problem)``.

    ``fs``: a RootFS of the host (or a fixture tree); ``requested``: ``auto``,
    ``apt``, ``dnf`` or ``dnf5``; ``which(name)``: path or None;
    ``os_release``: parsed os-release (read from ``fs`` when None), only to
    name the host in messages.
    """
    requested = requested or "auto"
    if os_release is None:
        text = None
        for path in OS_RELEASE:
            text = fs.read_text(path)
            if text is not None:
                break
        os_release = parse_os_release(text)
    where = host_label(os_release)
    if requested not in REQUESTABLE:
        return None, "unsupported package manager %r: use one of %s" % (requested, ", ".join(REQUESTABLE))
    if requested == "apt":
        return "apt", None
    if requested == "dnf5":
        # Unlike dnf 4's files, the lock would be written for nobody: no dnf5 would read it, and the epochs its
        # values need come from dnf5's own repoquery.
        if find_binary(fs, "dnf5", which):
            return "dnf5", None
        return None, DNF5_MISSING % {"where": where}
    if requested == "auto" and (fs.read_text(DPKG_STATUS) is not None or find_binary(fs, "apt-get", which)):
        return "apt", None
    dnf = find_binary(fs, "dnf", which)
    if dnf:
        generation, resolved = dnf_generation(fs, dnf)
        if generation == 5:
            if requested == "dnf":
                return None, DNF4_ON_DNF5 % {"where": where, "how": _how(dnf, resolved)}
            return "dnf5", None
        return "dnf", None
    if find_binary(fs, "dnf5", which):
        if requested == "dnf":
            return None, DNF4_ON_DNF5 % {"where": where, "how": "only dnf5 is installed"}
        return "dnf5", None
    if requested == "dnf":
        # Asked for explicitly on a host without any dnf yet: plan for it; installing fails loudly later.
        return "dnf", None
    yum = find_binary(fs, "yum", which)
    if yum:
        return None, YUM_REFUSED % {"where": where, "how": yum}
    return None, NONE_FOUND % {"where": where}
