# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Boot-time module loading (modules-load.d) and kmod policy (modprobe.d).

modules-load.d (systemd-modules-load, modules-load.d(5)):
  ``*.conf`` in /etc, /run, /usr/local/lib, /usr/lib (and /lib) ``modules-load.d``,
  sorted by basename, an earlier directory masking the same name; one module
  per line, ``#``/``;`` comments. Debian's /etc/modules is read only through
  the /etc/modules-load.d/modules.conf -> ../modules link the kmod package
  ships; without that link systemd does not read it. The kernel command line
  ``modules_load=``/``rd.modules_load=`` also loads modules (current boot).

modprobe.d (kmod, modprobe.d(5)):
  ``*.conf`` in /etc, /run, /usr/local/lib, /usr/lib, /lib ``modprobe.d``, same
  ordering and masking. ``blacklist NAME`` stops alias-based autoloading and
  makes systemd-modules-load skip the module ("Module 'x' is deny-listed (by
  kmod)"), but an explicit ``modprobe NAME`` still loads it.
  ``install NAME COMMAND`` replaces loading by COMMAND; kmod uses the FIRST
  matching install line (module name matched with fnmatch). A command that does
  not run modprobe/insmod for the module itself (``/bin/false``, ``/bin/true``,
  ``echo ...``) blocks every load, explicit or at boot. The kernel command line
  ``modprobe.blacklist=`` blacklists and ``module_blacklist=`` makes the kernel
  itself refuse the module.
"""

from __future__ import annotations

import posixpath
import shlex
from fnmatch import fnmatchcase

from ansible_collections.nodeprep.netfilter.plugins.module_utils._rootfs import list_conf_files

MODULES_LOAD_D_DIRS = (
    "/etc/modules-load.d",
    "/run/modules-load.d",
    "/usr/local/lib/modules-load.d",
    "/usr/lib/modules-load.d",
    "/lib/modules-load.d",
)
MODPROBE_D_DIRS = (
    "/etc/modprobe.d",
    "/run/modprobe.d",
    "/usr/local/lib/modprobe.d",
    "/usr/lib/modprobe.d",
    "/lib/modprobe.d",
)
ETC_MODULES = "/etc/modules"
_LOADERS = ("modprobe", "insmod")


def normalize_module_name(name):
    """kmod treats ``-`` and ``_`` alike in module names."""
    return name.strip().replace("-", "_")


def parse_modules_load_text(text, filename="<string>"):
    """Module names listed in a modules-load.d file: [(name, line)]."""
    result = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        result.append((normalize_module_name(line.split()[0]), lineno))
    return result


def parse_kernel_cmdline(text):
    """Kernel command line -> list of (key, value) in order (value None if bare)."""
    if not text:
        return []
    try:
        tokens = shlex.split(text)
    except ValueError:
        tokens = text.split()
    result = []
    for token in tokens:
        if token == "--":
            break  # the rest goes to init
        key, sep, value = token.partition("=")
        result.append((key, value if sep else None))
    return result


def cmdline_list(cmdline_pairs, *keys):
    """Comma separated module lists from the given cmdline parameters."""
    names = []
    for key, value in cmdline_pairs:
        if key in keys and value:
            names.extend(normalize_module_name(v) for v in value.split(",") if v.strip())
    return names


def gather_modules_load(fs, modules, cmdline_pairs=(), dirs=MODULES_LOAD_D_DIRS):
    """Where each of ``modules`` is listed for systemd-modules-load.

    Returns ``{name: {"persisted", "file", "line", "resolved_file"}}`` plus a
    ``_files`` entry listing the files read and ``_etc_modules`` describing
    /etc/modules (listed names and whether systemd reads it).
    """
    files = list_conf_files(fs, dirs, ".conf")
    etc_modules_real = fs.resolve(ETC_MODULES)
    etc_modules_read = False
    found = {}
    for item in files:
        if item["null"]:
            continue
        if item["resolved"] == etc_modules_real:
            etc_modules_read = True
        text = fs.read_text(item["path"])
        if text is None:
            continue
        for name, lineno in parse_modules_load_text(text, item["path"]):
            if name in found:
                continue
            record = {"file": item["path"], "line": lineno}
            if item["resolved"] != item["path"]:
                record["resolved_file"] = item["resolved"]
            found[name] = record
    on_cmdline = cmdline_list(cmdline_pairs, "modules_load", "rd.modules_load")
    result = {}
    for module in modules:
        name = normalize_module_name(module)
        record = found.get(name)
        if record is None and name in on_cmdline:
            record = {"file": "/proc/cmdline", "line": None,
                      "note": "kernel command line of the current boot"}
        entry = {"persisted": record is not None, "file": None, "line": None}
        if record:
            entry.update(record)
        result[module] = entry

    etc_text = fs.read_text(ETC_MODULES)
    etc_names = [n for n, _l in parse_modules_load_text(etc_text)] if etc_text else []
    return {
        "modules": result,
        "files": [{"path": f["path"], "resolved": f["resolved"], "masked_paths": f["masked_paths"]} for f in files],
        "etc_modules": {"present": etc_text is not None, "read_by_systemd": etc_modules_read,
                        "modules": etc_names},
    }


def _join_continuations(text):
    """kmod joins lines ending in a backslash; returns [(line_text, first_line_no)]."""
    out = []
    pending = ""
    start = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        if start is None:
            start = lineno
        if raw.endswith("\\"):
            pending += raw[:-1] + " "
            continue
        out.append((pending + raw, start))
        pending = ""
        start = None
    if pending:
        out.append((pending, start))
    return out


def parse_modprobe_text(text, filename="<string>"):
    """Parse modprobe.d content into blacklist and install entries.

    Returns ``{"blacklist": [{module, file, line}], "install": [{pattern,
    command, file, line}]}`` in file order.
    """
    blacklist = []
    install = []
    for line, lineno in _join_continuations(text):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        words = stripped.split(None, 2)
        verb = words[0]
        if verb == "blacklist" and len(words) >= 2:
            blacklist.append({"module": normalize_module_name(words[1]), "file": filename, "line": lineno})
        elif verb == "install" and len(words) >= 3:
            install.append({"pattern": normalize_module_name(words[1]), "command": words[2].strip(),
                            "file": filename, "line": lineno})
    return {"blacklist": blacklist, "install": install}


def install_command_loads(command, module):
    """Does an install command still load ``module``?

    True when it invokes modprobe or insmod (by any path) with the module's
    name or a path to its ``.ko`` file as a later argument; everything else
    (``/bin/false``, ``/bin/true``, ``echo``...) is treated as blocking.
    """
    name = normalize_module_name(module)
    spaced = command
    for separator in ("&&", "||", ";", "|", "&"):
        spaced = spaced.replace(separator, " ; ")
    try:
        tokens = shlex.split(spaced)
    except ValueError:
        tokens = spaced.split()
    loader_seen = False
    for token in tokens:
        if token == ";":
            loader_seen = False
            continue
        base = posixpath.basename(token)
        if base in _LOADERS or token in ("$MODPROBE", "${MODPROBE}"):
            loader_seen = True
            continue
        if loader_seen and normalize_module_name(base.split(".ko")[0]) == name:
            return True
    return False


def gather_modprobe_policy(fs, module, cmdline_pairs=(), dirs=MODPROBE_D_DIRS):
    """Blacklist and install-command policy that kmod applies to ``module``.

    Returns ``{"blacklisted", "blacklisted_by": [{file, line}],
    "blacklist_files": [...], "install": {file, line, command} or None,
    "blocked_by": {file, line, command} or None, "files": [...]}``.
    """
    return gather_modprobe_policies(fs, (module,), cmdline_pairs, dirs)[module]


def gather_modprobe_policies(fs, modules, cmdline_pairs=(), dirs=MODPROBE_D_DIRS):
    """``gather_modprobe_policy`` for several modules, reading modprobe.d once: ``{module: policy}``."""
    files = list_conf_files(fs, dirs, ".conf")
    parsed_files = []
    for item in files:
        if item["null"]:
            continue
        text = fs.read_text(item["path"])
        if text is not None:
            parsed_files.append(parse_modprobe_text(text, item["path"]))
    paths = [f["path"] for f in files]
    return dict((module, _policy(module, parsed_files, cmdline_pairs, paths)) for module in modules)


def _policy(module, parsed_files, cmdline_pairs, paths):
    name = normalize_module_name(module)
    blacklisted_by = []
    first_install = None
    for parsed in parsed_files:
        for entry in parsed["blacklist"]:
            if entry["module"] == name:
                blacklisted_by.append({"file": entry["file"], "line": entry["line"]})
        if first_install is None:
            for entry in parsed["install"]:
                if fnmatchcase(name, entry["pattern"]):
                    first_install = {"file": entry["file"], "line": entry["line"], "command": entry["command"]}
                    break
    if name in cmdline_list(cmdline_pairs, "modprobe.blacklist"):
        blacklisted_by.append({"file": "/proc/cmdline", "line": None})
    blocked_by = None
    if first_install is not None and not install_command_loads(first_install["command"], name):
        blocked_by = dict(first_install)
    if name in cmdline_list(cmdline_pairs, "module_blacklist"):
        if blocked_by is None:
            blocked_by = {"file": "/proc/cmdline", "line": None, "command": "module_blacklist=%s" % name}
    blacklist_files = []
    for entry in blacklisted_by:
        if entry["file"] not in blacklist_files:
            blacklist_files.append(entry["file"])
    return {
        "blacklisted": bool(blacklisted_by),
        "blacklisted_by": blacklisted_by,
        "blacklist_files": blacklist_files,
        "install": first_install,
        "blocked_by": blocked_by,
        "files": list(paths),
    }
