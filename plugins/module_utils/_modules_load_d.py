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

from ansible_collections.nodeprep.netfilter.plugins.module_utils._rootfs import list_conf_files, unreadable_conf_files

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
#: /etc/modules names reported (a real one lists a handful; a huge one must not become huge facts).
_MAX_ETC_MODULES = 200
_LOADERS = ("modprobe", "insmod")
_MAX_JOINED = 64 * 1024


def normalize_module_name(name):
    """kmod treats ``-`` and ``_`` alike in module names."""
    return name.strip().replace("-", "_")


def _module_lines(lines):
    """(name, line) for each module named in ``lines`` ([(text, line number)])."""
    for raw, lineno in lines:
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        yield normalize_module_name(line.split()[0]), lineno


def parse_modules_load_text(text, filename="<string>"):
    """Module names listed in a modules-load.d file: [(name, line)]."""
    return list(_module_lines((raw, lineno) for lineno, raw in enumerate(text.splitlines(), 1)))


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


def _lines(fs, path):
    """Lines of ``path`` read one at a time (over-long lines dropped): [(text, line number)] as a generator."""
    for lineno, raw, too_long in fs.iter_lines(path):
        if not too_long:
            yield raw, lineno


def _readable_lines(fs, path):
    """``(generator, was_unreadable)``: the lines of ``path`` and, after consuming them, whether it was unreadable."""
    state = {"unreadable": False}

    def generate():
        count = 0
        for item in _lines(fs, path):
            count += 1
            yield item
        state["unreadable"] = count == 0 and fs.was_unreadable(path)
    return generate(), state


def gather_modules_load(fs, modules, cmdline_pairs=(), dirs=MODULES_LOAD_D_DIRS):
    """Where each of ``modules`` is listed for systemd-modules-load.

    Returns ``{name: {"persisted", "file", "line", "resolved_file"}}`` plus a
    ``_files`` entry listing the files read and ``_etc_modules`` describing
    /etc/modules (listed names and whether systemd reads it). Files are read line
    by line; only the watched modules are kept. When a listed file could not be read
    and a module was not found elsewhere, its entry says ``"unknown": True`` (the
    unreadable file may list it) next to ``persisted: False``.
    """
    files = list_conf_files(fs, dirs, ".conf")
    names = dict((normalize_module_name(module), module) for module in modules)
    etc_modules_real = fs.resolve(ETC_MODULES)
    etc_modules_read = False
    found = {}
    unreadable_files = []
    for item in files:
        if item["null"]:
            continue
        if item["resolved"] == etc_modules_real:
            etc_modules_read = True
        lines, state = _readable_lines(fs, item["path"])
        for name, lineno in _module_lines(lines):
            if name in found or name not in names:
                continue
            record = {"file": item["path"], "line": lineno}
            if item["resolved"] != item["path"]:
                record["resolved_file"] = item["resolved"]
            found[name] = record
        if state["unreadable"]:
            unreadable_files.append(item["path"])
    # Loops and FIFOs were noted while listing and never reached the loop above; they may list a module as well.
    unreadable_files = unreadable_conf_files(fs, dirs, ".conf", unreadable_files)
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
        elif unreadable_files:
            entry.update({"unknown": True, "unreadable_files": list(unreadable_files)})
        result[module] = entry

    etc_lines, etc_state = _readable_lines(fs, ETC_MODULES)
    etc_names = [n for n, _l in _module_lines(etc_lines)][:_MAX_ETC_MODULES]
    etc_present = bool(etc_names) or fs.isfile(ETC_MODULES)
    return {
        "modules": result,
        "files": [{"path": f["path"], "resolved": f["resolved"], "masked_paths": f["masked_paths"]} for f in files],
        "etc_modules": {"present": etc_present, "read_by_systemd": etc_modules_read,
                        "modules": etc_names},
        "unreadable_files": unreadable_files,
    }


def _join_continuations(text):
    """kmod joins lines ending in a backslash; returns [(line_text, first_line_no)]."""
    return list(_joined((raw, lineno) for lineno, raw in enumerate(text.splitlines(), 1)))


def _joined(lines):
    """``_join_continuations`` over an iterable of (text, line number), one joined line at a time."""
    pending = ""
    start = None
    for raw, lineno in lines:
        if start is None:
            start = lineno
        if raw.endswith("\\"):
            if len(pending) < _MAX_JOINED:  # a file of backslashes must not grow one line without bound
                pending += raw[:-1] + " "
            continue
        yield pending + raw, start
        pending = ""
        start = None
    if pending:
        yield pending, start


def _modprobe_entries(joined, filename):
    for line, lineno in joined:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        words = stripped.split(None, 2)
        verb = words[0]
        if verb == "blacklist" and len(words) >= 2:
            yield "blacklist", {"module": normalize_module_name(words[1]), "file": filename, "line": lineno}
        elif verb == "install" and len(words) >= 3:
            yield "install", {"pattern": normalize_module_name(words[1]), "command": words[2].strip(),
                              "file": filename, "line": lineno}


def parse_modprobe_text(text, filename="<string>", modules=None):
    """Parse modprobe.d content into blacklist and install entries.

    Returns ``{"blacklist": [{module, file, line}], "install": [{pattern,
    command, file, line}]}`` in file order. With ``modules``, only entries that
    can apply to one of them are kept.
    """
    return _collect_modprobe(_modprobe_entries(_join_continuations(text), filename), modules)


def _collect_modprobe(entries, modules=None):
    names = None if modules is None else [normalize_module_name(module) for module in modules]
    blacklist = []
    install = []
    for verb, entry in entries:
        if verb == "blacklist":
            if names is None or entry["module"] in names:
                blacklist.append(entry)
        elif names is None or any(fnmatchcase(name, entry["pattern"]) for name in names):
            install.append(entry)
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
    "blocked_by": {file, line, command} or None, "files": [...],
    "unreadable_files": [...]}``; the last lists modprobe.d entries that could not be read (a
    permission error, a symlink loop, a FIFO), which may hold a line this policy does not know about.
    """
    return gather_modprobe_policies(fs, (module,), cmdline_pairs, dirs)[module]


def gather_modprobe_policies(fs, modules, cmdline_pairs=(), dirs=MODPROBE_D_DIRS):
    """``gather_modprobe_policy`` for several modules, reading modprobe.d once: ``{module: policy}``."""
    files = list_conf_files(fs, dirs, ".conf")
    parsed_files = []
    read_failed = []
    for item in files:
        if item["null"]:
            continue
        # Line by line, keeping only entries that can apply to ``modules``: memory stays bounded on any file.
        lines, state = _readable_lines(fs, item["path"])
        entries = _modprobe_entries(_joined(lines), item["path"])
        parsed_files.append(_collect_modprobe(entries, modules))
        if state["unreadable"]:
            read_failed.append(item["path"])
    paths = [f["path"] for f in files]
    # A blacklist or install line may hide in a file that could not be read: callers must not call the module free.
    unreadable = unreadable_conf_files(fs, dirs, ".conf", read_failed)
    policies = {}
    for module in modules:
        policies[module] = _policy(module, parsed_files, cmdline_pairs, paths)
        policies[module]["unreadable_files"] = list(unreadable)
    return policies


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
