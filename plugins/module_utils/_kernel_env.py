# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Kernel and runtime environment observations (pure file reads).

Container detection rule (documented in the module and tested):

1. Strong positive evidence names the container: ``container=`` in PID 1's
   environment, /run/systemd/container (written by systemd from that
   variable), or /run/.containerenv (podman).
2. Otherwise, if this process is in the initial PID namespace
   (``/proc/self/ns/pid`` is ``pid:[4026531836]``, the kernel's fixed
   PROC_PID_INIT_INO) or, when that link is unreadable, kernel threads are
   visible (``/proc/2/comm`` is ``kthreadd``), the host owns this kernel's
   PID space: NOT a container, whatever /.dockerenv or cgroup paths say.
   (Measured: the development VM has /.dockerenv because its root file system
   came from an image, and systemd-detect-virt says "docker" - wrongly.)
3. Otherwise, weak hints (/.dockerenv, container cgroup paths such as
   ``/docker/<id>``, ``/lxc/``, ``kubepods``, ``libpod-``) name the type; in a
   non-initial PID namespace with no hint the type is ``unknown``.
"""

from __future__ import annotations

import re
import zlib

PROC_PID_INIT_INO = 4026531836
CAP_SYS_MODULE = 16
_CGROUP_HINTS = (
    (re.compile(r"/docker[/-][0-9a-f]{12,}"), "docker"),
    (re.compile(r"/libpod-[0-9a-f]{12,}|/libpod_parent"), "podman"),
    (re.compile(r"/lxc(\.payload)?[/.]"), "lxc"),
    (re.compile(r"/kubepods"), "kubernetes"),
    (re.compile(r"/(cri-)?containerd[-/:][0-9a-f]{12,}"), "containerd"),
    (re.compile(r"/machine\.slice/.*machine-.*\.scope|/systemd-nspawn"), "systemd-nspawn"),
)
_NS_RE = re.compile(r"^pid:\[(\d+)\]$")


_KCONFIG_LINE = r"^[ \t]*(?:# (%(name)s) is not set|(%(name)s)=(.*?))[ \t]*$"
_KCONFIG_RE = re.compile(_KCONFIG_LINE % {"name": "CONFIG_[A-Za-z0-9_]+"}, re.MULTILINE)
#: What the facts read from a kernel config: parsing only these names skips the other ~7,000 lines' matches
#: (the audit reads the config on every host whose br_netfilter state sysfs does not settle).
KCONFIG_WANTED = ("CONFIG_MODULES", "CONFIG_BRIDGE", "CONFIG_BRIDGE_NETFILTER", "CONFIG_OVERLAY_FS")


def _kconfig_pattern(wanted):
    if wanted is None:
        return _KCONFIG_RE
    names = "|".join(re.escape(name) for name in sorted(wanted, key=len, reverse=True))
    # The name must end where the line says so: CONFIG_BRIDGE must not match CONFIG_BRIDGE_NETFILTER's line.
    return re.compile(_KCONFIG_LINE % {"name": "(?:%s)(?![A-Za-z0-9_])" % names}, re.MULTILINE)


def parse_kernel_config(text, wanted=None):
    """``CONFIG_X=y`` lines -> {"CONFIG_X": "y"}; ``# CONFIG_X is not set`` -> "n". Only ``wanted`` names if given."""
    config = {}
    for match in _kconfig_pattern(wanted).finditer(text):
        if match.group(1):
            config[match.group(1)] = "n"
        else:
            config[match.group(2)] = match.group(3).strip().strip('"')
    return config


#: Largest unpacked kernel config accepted (a real one is about 300 KB); a gzip bomb stops here.
MAX_KCONFIG_BYTES = 8 * 1024 * 1024


def _gunzip_bounded(data, limit=MAX_KCONFIG_BYTES):
    """Text of gzip ``data`` unpacked to at most ``limit`` bytes; None when it is not gzip or unpacks larger."""
    inflater = zlib.decompressobj(wbits=31)  # 31: gzip header and trailer
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error:
        return None
    if len(out) > limit or inflater.unconsumed_tail:
        return None
    return out.decode("utf-8", "replace")


def read_kernel_config(fs, release, wanted=KCONFIG_WANTED):
    """Kernel config from /proc/config.gz or /boot/config-<release>, the ``wanted`` names (None: all).

    Returns ``(config_dict or None, source_path or None)``.
    """
    data = fs.read_bytes("/proc/config.gz")
    if data is not None:
        text = _gunzip_bounded(data)
        if text is None:
            fs.note("/proc/config.gz", "not gzip, or more than %d bytes unpacked; not used" % MAX_KCONFIG_BYTES)
        else:
            return parse_kernel_config(text, wanted), "/proc/config.gz"
    if release:
        path = "/boot/config-%s" % release
        text = fs.read_text(path)
        if text is not None:
            return parse_kernel_config(text, wanted), path
    return None, None


def parse_proc_modules(text):
    """/proc/modules -> {name: state} (state is "Live", "Loading", "Unloading")."""
    modules = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 5:
            modules[fields[0]] = fields[4]
        elif fields:
            modules[fields[0]] = None
    return modules


def find_in_modules_dep(text, module):
    """Relative paths of ``module``.ko* listed as targets in modules.dep."""
    pattern = re.compile(r"(^|/)%s\.ko(\.[a-z0-9]+)?$" % re.escape(module))
    found = []
    for line in text.splitlines():
        target = line.split(":", 1)[0].strip()
        if target and pattern.search(target):
            found.append(target)
    return found


def parse_cap_eff(status_text):
    """CapEff from /proc/<pid>/status as int, or None."""
    for line in status_text.splitlines():
        if line.startswith("CapEff:"):
            try:
                return int(line.split(":", 1)[1].strip(), 16)
            except ValueError:
                return None
    return None


def parse_environ(data):
    """NUL separated environment (bytes) -> dict."""
    env = {}
    for item in data.split(b"\0"):
        if b"=" in item:
            key, value = item.split(b"=", 1)
            env[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
    return env


def cgroup_hint(text):
    """Container type hinted by /proc/self/cgroup paths, or None."""
    for line in text.splitlines():
        path = line.split(":", 2)[-1]
        for pattern, kind in _CGROUP_HINTS:
            if pattern.search(path):
                return kind, line.strip()
    return None


def is_initial_user_ns(uid_map_text):
    """True when uid_map is the identity map of the initial user namespace."""
    lines = [line.split() for line in uid_map_text.splitlines() if line.strip()]
    return lines == [["0", "0", "4294967295"]]


def detect_environment(fs, osrelease):
    """Container/WSL/capability facts with the evidence that decided them."""
    evidence = []
    strong = None

    environ = fs.read_bytes("/proc/1/environ")
    if environ is not None:
        value = parse_environ(environ).get("container")
        if value:
            strong = strong or value
            evidence.append({"source": "/proc/1/environ", "detail": "container=%s" % value, "weight": "strong"})
    else:
        evidence.append({"source": "/proc/1/environ", "detail": "unreadable or absent", "weight": "none"})

    text = fs.read_text("/run/systemd/container")
    if text is not None and text.strip():
        strong = strong or text.strip()
        evidence.append({"source": "/run/systemd/container", "detail": text.strip(), "weight": "strong"})

    if fs.exists("/run/.containerenv"):
        strong = strong or "podman"
        evidence.append({"source": "/run/.containerenv", "detail": "present", "weight": "strong"})

    initial_pidns = None
    link = fs.readlink("/proc/self/ns/pid")
    match = _NS_RE.match(link or "")
    if match:
        initial_pidns = int(match.group(1)) == PROC_PID_INIT_INO
        evidence.append({"source": "/proc/self/ns/pid", "detail": link,
                         "weight": "host" if initial_pidns else "strong"})
    else:
        comm = fs.read_text("/proc/2/comm")
        if comm is not None:
            initial_pidns = comm.strip() == "kthreadd"
            evidence.append({"source": "/proc/2/comm", "detail": comm.strip(),
                             "weight": "host" if initial_pidns else "weak"})

    weak = None
    if fs.exists("/.dockerenv"):
        weak = "docker"
        evidence.append({"source": "/.dockerenv", "detail": "present", "weight": "weak"})
    cgroup_text = fs.read_text("/proc/self/cgroup")
    if cgroup_text:
        hint = cgroup_hint(cgroup_text)
        if hint:
            weak = weak or hint[0]
            evidence.append({"source": "/proc/self/cgroup", "detail": hint[1], "weight": "weak"})

    if strong:
        container, rule = strong, "strong evidence"
    elif initial_pidns:
        container, rule = None, "initial PID namespace: host kernel's own PID space"
    elif initial_pidns is False:
        container, rule = weak or "unknown", "non-initial PID namespace"
    elif weak:
        container, rule = weak, "weak hints only (PID namespace unknown)"
    else:
        container, rule = None, "no evidence"

    status = fs.read_text("/proc/self/status")
    cap_eff = parse_cap_eff(status) if status else None
    cap_sys_module = None if cap_eff is None else bool(cap_eff & (1 << CAP_SYS_MODULE))

    uid_map = fs.read_text("/proc/self/uid_map")
    initial_userns = None if uid_map is None else is_initial_user_ns(uid_map)

    disabled_text = fs.read_text("/proc/sys/kernel/modules_disabled")
    modules_disabled = None
    if disabled_text is not None and disabled_text.strip() in ("0", "1"):
        modules_disabled = disabled_text.strip() == "1"

    release = osrelease or ""
    wsl = "microsoft" in release.lower() or fs.exists("/proc/sys/fs/binfmt_misc/WSLInterop")

    return {
        "container": container,
        "container_rule": rule,
        "container_evidence": evidence,
        "initial_pid_namespace": initial_pidns,
        "initial_user_namespace": initial_userns,
        "wsl": wsl,
        "cap_sys_module": cap_sys_module,
        "modules_disabled": modules_disabled,
    }
