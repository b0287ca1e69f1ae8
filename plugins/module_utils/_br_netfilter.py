# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""br_netfilter facts: gather (file reads only) and evaluate (pure).

``gather_br_netfilter_facts(root="/")`` returns the dict published as
``ansible_facts.br_netfilter`` (see DESIGN.md, "br_netfilter_facts"). It reads
files under ``root`` and runs no subprocess. ``evaluate(facts)`` derives
``problems``, ``ready`` and ``ready_after_reboot`` from gathered data and is
separately testable.

The same classification serves every module in ``WATCHED_MODULES``
(br_netfilter and overlay; ``MODULE`` below stands for the module, ``CONFIG``
and "feature present" for its row in ``KERNEL_MODULES``). The br_netfilter
verdict is published at the top level of the facts and, like every watched
module, under ``modules.<name>``.

State (first rule that matches):

=========== ==============================================================
loaded      /sys/module/MODULE/initstate is ``live`` (or ``coming``),
            or MODULE is listed in /proc/modules
builtin     /sys/module/MODULE exists without ``initstate``; or
            modules.builtin lists it; or CONFIG=y; or the feature is
            present while no MODULE module is loaded (br_netfilter:
            bridge-nf-call-iptables exists; overlay: /proc/filesystems
            lists overlay)
unavailable no module support / modules disabled (checked first), see
            ``UNAVAILABLE_REASONS``
blocked     MODULE.ko* is in modules.dep but kmod's first matching
            ``install MODULE ...`` line does not load it (or the kernel
            command line has ``module_blacklist=MODULE``)
loadable    MODULE.ko* is in modules.dep
unavailable otherwise, with a reason code
=========== ==============================================================

A block line on a loaded/builtin kernel does not change the state; it is
reported in ``blocked_by`` (and as BR_NETFILTER_BLOCK_CONFIGURED when
br_netfilter is loaded).

Watched sysctl keys are ``SYSCTL_KEYS`` plus the caller's ``sysctl_keys``.
The extra keys are reported (live, persisted, after reboot) and never raise a
problem; their kernel default is unknown, so ``after_reboot`` holds a value
for them only when a sysctl.d file sets it (or null because br_netfilter will
be missing for a ``net.bridge.*`` key), and lists them in
``after_reboot_unknown`` otherwise.
"""

from __future__ import annotations

from ansible_collections.nodeprep.netfilter.plugins.module_utils._kernel_env import (
    detect_environment,
    find_in_modules_dep,
    parse_proc_modules,
    read_kernel_config,
)
from ansible_collections.nodeprep.netfilter.plugins.module_utils._modules_load_d import (
    gather_modprobe_policies,
    gather_modules_load,
    parse_kernel_cmdline,
)
from ansible_collections.nodeprep.netfilter.plugins.module_utils._names import sysctl_key_problem
from ansible_collections.nodeprep.netfilter.plugins.module_utils._rootfs import RootFS
from ansible_collections.nodeprep.netfilter.plugins.module_utils._sysctl_d import (
    canonical_key,
    gather_sysctl_persistence,
    normalize_key,
)

MODULE = "br_netfilter"
# Modules whose state is classified and reported under ``modules``; BOOT_MODULES: looked up in modules-load.d.
WATCHED_MODULES = ("br_netfilter", "overlay")
BOOT_MODULES = WATCHED_MODULES
STATES = ("loaded", "builtin", "loadable", "unavailable", "blocked")
ACTIVE_STATES = ("loaded", "builtin")
BRIDGE_SYSCTL_DIR = "/proc/sys/net/bridge"
KEY_IPTABLES = "net.bridge.bridge-nf-call-iptables"
PROC_FILESYSTEMS = "/proc/filesystems"

# Per watched module: the kernel config symbol, the feature's name in messages, and what shows that the kernel
# provides the feature although no such module is loaded (then it is built in).
KERNEL_MODULES = {
    "br_netfilter": {"config": "CONFIG_BRIDGE_NETFILTER", "feature": "bridge netfilter",
                     "feature_evidence": "bridge-nf-call-iptables exists"},
    "overlay": {"config": "CONFIG_OVERLAY_FS", "feature": "overlayfs",
                "feature_evidence": "/proc/filesystems lists overlay"},
}

# The sysctl keys we always watch. ``desired`` None: reported, never a problem.
# ``kernel_default``: value after boot when nothing persists it (bridge-nf-*
# are 1 when br_netfilter is loaded: measured on trixie 6.12 and
# net/bridge/br_netfilter_hooks.c; forwarding defaults to 0).
# ``follows``: writing that key also writes this one. net/ipv6/addrconf.c
# (addrconf_fixup_forwarding) copies a write to conf/all/forwarding into
# conf/default/forwarding, which is the file kubeadm's IPv6 preflight reads.
SYSCTL_KEYS = (
    {"key": "net.bridge.bridge-nf-call-iptables", "desired": 1, "required": True,
     "needs_module": True, "kernel_default": 1},
    {"key": "net.bridge.bridge-nf-call-ip6tables", "desired": 1, "required": True,
     "needs_module": True, "kernel_default": 1},
    {"key": "net.bridge.bridge-nf-call-arptables", "desired": None, "required": False,
     "needs_module": True, "kernel_default": 1},
    {"key": "net.ipv4.ip_forward", "desired": 1, "required": True,
     "needs_module": False, "kernel_default": 0},
    {"key": "net.ipv6.conf.all.forwarding", "desired": None, "required": False,
     "needs_module": False, "kernel_default": 0},
    {"key": "net.ipv6.conf.default.forwarding", "desired": None, "required": False,
     "needs_module": False, "kernel_default": 0, "follows": "net.ipv6.conf.all.forwarding"},
)
SYSCTL_KEY_NAMES = tuple(item["key"] for item in SYSCTL_KEYS)
# Keys that exist only while br_netfilter is active (also for caller-supplied keys).
BRIDGE_KEY_PREFIX = "net.bridge."

# Templates: {module}, {config}, {feature} from KERNEL_MODULES; see unavailable_text().
UNAVAILABLE_REASONS = {
    "no_module_support": "the kernel is built without loadable module support (no /proc/modules, "
                         "CONFIG_MODULES unset) and does not contain {feature}",
    "modules_disabled": "module loading is switched off (/proc/sys/kernel/modules_disabled = 1) "
                        "until the next boot",
    "not_in_kernel": "this kernel has no {module}: {config} is not set, or "
                     "modules.dep does not list {module}.ko",
    "container": "running in a container: the host kernel must provide {module}, it cannot be "
                 "loaded from here",
    "no_modules_dir": "no modules directory (/lib/modules/<release>/modules.dep) for the running kernel",
}


def unavailable_text(reason, module=MODULE):
    """The sentence for an ``unavailable_reason`` code, for one module."""
    spec = KERNEL_MODULES[module]
    return UNAVAILABLE_REASONS[reason].format(module=module, config=spec["config"], feature=spec["feature"])


_REF_MOBY = "https://github.com/moby/moby/issues/48948"
_REF_SYSCTL_D = "https://www.freedesktop.org/software/systemd/man/latest/sysctl.d.html"
_REF_MODULES_LOAD = "https://www.freedesktop.org/software/systemd/man/latest/modules-load.d.html"
_REF_MODPROBE_D = "https://man7.org/linux/man-pages/man5/modprobe.d.5.html"
_REF_K8S = ("https://kubernetes.io/docs/setup/production-environment/container-runtimes/"
            "#prerequisite-ipv4-forwarding-optional")

# One table for every problem this module can report. Codes are stable.
PROBLEMS = {
    "BR_NETFILTER_UNAVAILABLE": {
        "severity": "high",
        "message": "br_netfilter is unavailable ({reason}): {reason_text}.",
        "remediation": "Use a kernel with CONFIG_BRIDGE_NETFILTER=y or =m and its modules package "
                       "installed; in a container, load br_netfilter on the host.",
        "container_remediation": "Nothing can be done inside this {container} container: module loading belongs to the host. "
                                 "On the host: use a kernel with CONFIG_BRIDGE_NETFILTER=y or =m, modprobe br_netfilter and "
                                 "list it in the host's /etc/modules-load.d/.",
        "reference": _REF_MOBY,
    },
    "BR_NETFILTER_BLOCKED": {
        "severity": "high",
        "message": "br_netfilter cannot be loaded: '{command}' at {where} replaces every load.",
        "remediation": "Remove or comment out that line (an /etc/modprobe.d file of the same name "
                       "overrides one in /usr/lib/modprobe.d), then modprobe br_netfilter.",
        "container_remediation": "That line is in the {container} container's file system; only the host's modprobe.d decides "
                                 "what its kernel loads. On the host: remove any such line there, then modprobe br_netfilter "
                                 "and list it in the host's /etc/modules-load.d/.",
        "reference": _REF_MODPROBE_D,
    },
    "BR_NETFILTER_BLOCK_CONFIGURED": {
        "severity": "medium",
        "message": "br_netfilter is loaded now, but '{command}' at {where} will stop it from "
                   "loading after a reboot.",
        "remediation": "Remove or override that modprobe.d line.",
        "container_remediation": "That line is in the {container} container's file system and does not affect the host's boot; "
                                 "check the host's modprobe.d for the same line.",
        "reference": _REF_MODPROBE_D,
    },
    "BR_NETFILTER_NOT_LOADED": {
        "severity": "high",
        "message": "br_netfilter is available ({module_files}) but not loaded.",
        "remediation": "modprobe br_netfilter (community.general.modprobe with persistent: present, "
                       "or the nodeprep.netfilter.br_netfilter role).",
        "container_remediation": "Inside this {container} container only a privileged container with CAP_SYS_MODULE could load "
                                 "it, and it would load into the host's kernel. On the host: modprobe br_netfilter and list it "
                                 "in the host's /etc/modules-load.d/.",
        "reference": _REF_MOBY,
    },
    "BR_NETFILTER_BLACKLISTED": {
        "severity": "medium",
        "message": "br_netfilter is blacklisted at {where}: systemd-modules-load skips it at boot "
                   "('deny-listed (by kmod)'); only an explicit modprobe loads it.",
        "remediation": "Remove the blacklist line, or load br_netfilter from a unit that runs an "
                       "explicit modprobe.",
        "container_remediation": "That line is in the {container} container's file system and does not affect the host's boot; "
                                 "check the host's modprobe.d for the same line.",
        "reference": _REF_MODPROBE_D,
    },
    "BRIDGE_DIR_FALSE_POSITIVE": {
        "severity": "high",
        "message": "/proc/sys/net/bridge exists but bridge-nf-call-iptables does not: only the "
                   "bridge part is present. Docker 27.3.0/27.3.1 mistake this for a loaded "
                   "br_netfilter and then do not enforce icc=false.",
        "remediation": "Load br_netfilter; upgrade Docker to 27.4.0 or later.",
        "container_remediation": "Nothing inside this {container} container loads kernel modules. On the host: modprobe "
                                 "br_netfilter and list it in the host's /etc/modules-load.d/; upgrade Docker to 27.4.0 or "
                                 "later.",
        "reference": _REF_MOBY,
    },
    "SYSCTL_LIVE_NOT_1": {
        "severity": "high",
        "message": "{key} is {value} now, expected 1.",
        "remediation": "sysctl -w {key}=1 (ansible.posix.sysctl with sysctl_set: true).",
        "container_remediation": "Inside this {container} container /proc/sys is usually read-only: {key} belongs to the "
                                 "container's network namespace, so set it when the container starts (podman/docker run "
                                 "--sysctl {key}=1; LXC: lxc.sysctl.{key} = 1 in its config). Setting it on the host changes "
                                 "only the host's namespace, unless the container shares it (--network host).",
        "reference": _REF_K8S,
    },
    "SYSCTL_NOT_PERSISTED": {
        "severity": "medium",
        "message": "{key} is not set by any sysctl.d file; after a reboot it will be {after_reboot}.",
        "remediation": "Add '{key} = 1' to a file in /etc/sysctl.d/ that sorts after every other "
                       "file setting it.",
        "container_remediation": "No init applies sysctl.d inside this {container} container, so a file here changes nothing "
                                 "at start: state {key}=1 in the container's definition (podman/docker run --sysctl {key}=1; "
                                 "LXC: lxc.sysctl.{key} = 1), which every start applies to its network namespace.",
        "reference": _REF_SYSCTL_D,
    },
    "SYSCTL_KERNEL_DEFAULT_ONLY": {
        "severity": "low",
        "message": "{key} is not set by any sysctl.d file; it will be 1 after a reboot only because "
                   "that is the kernel's default when br_netfilter loads.",
        "remediation": "Add '{key} = 1' to a file in /etc/sysctl.d/ so that the value is stated, "
                       "not inherited: nothing then flips it silently.",
        "container_remediation": "No init applies sysctl.d inside this {container} container: to state the value, put {key}=1 "
                                 "in the container's definition (podman/docker run --sysctl {key}=1; LXC: lxc.sysctl.{key} = "
                                 "1).",
        "reference": _REF_SYSCTL_D,
    },
    "SYSCTL_OVERRIDDEN": {
        "severity": "high",
        "message": "{key} will be {value} after a reboot: {where} wins{overrides}.",
        "remediation": "Change that line, or set the key in a file whose name sorts after "
                       "{winner_name} (files are sorted by name across all sysctl.d directories).",
        "container_remediation": "No init applies sysctl.d inside this {container} container, so this file only matters if "
                                 "something inside runs sysctl --system: state {key}=1 in the container's definition instead "
                                 "(podman/docker run --sysctl {key}=1; LXC: lxc.sysctl.{key} = 1).",
        "reference": _REF_SYSCTL_D,
    },
    "MODULE_NOT_PERSISTED": {
        "severity": "medium",
        "message": "br_netfilter is not listed in any modules-load.d file{etc_modules_note}; it will "
                   "not be loaded at boot.",
        "remediation": "Create /etc/modules-load.d/br_netfilter.conf containing 'br_netfilter'.",
        "container_remediation": "modules-load.d inside this {container} container is not read by the host's boot. On the "
                                 "host: list br_netfilter in the host's /etc/modules-load.d/.",
        "reference": _REF_MODULES_LOAD,
    },
    "SYSCTL_PERSISTENCE_UNKNOWN": {
        "severity": "medium",
        "message": "{key}: its value after a reboot is unknown: {files} could not be read and may set it{readable}.",
        "remediation": "Make {files} readable regular files (or remove them), then gather the facts again; to state "
                       "the value, add '{key} = 1' to a file in /etc/sysctl.d/ whose name sorts after every other.",
        "container_remediation": "No init applies sysctl.d inside this {container} container; state {key}=1 in the "
                                 "container's definition (podman/docker run --sysctl {key}=1; LXC: lxc.sysctl.{key} = 1), "
                                 "and make {files} readable to see what they hold.",
        "reference": _REF_SYSCTL_D,
    },
    "MODULE_PERSISTENCE_UNKNOWN": {
        "severity": "medium",
        "message": "br_netfilter is not listed in any readable modules-load.d file, but {files} could not be read "
                   "and may list it: whether it is loaded at boot is unknown.",
        "remediation": "Make {files} readable regular files (or remove them), or create "
                       "/etc/modules-load.d/br_netfilter.conf containing 'br_netfilter'.",
        "container_remediation": "modules-load.d inside this {container} container is not read by the host's boot. On the "
                                 "host: list br_netfilter in the host's /etc/modules-load.d/.",
        "reference": _REF_MODULES_LOAD,
    },
    "MODPROBE_POLICY_UNKNOWN": {
        "severity": "medium",
        "message": "{files} in modprobe.d could not be read: a blacklist or install line there may stop br_netfilter "
                   "from loading at boot, so whether it will be loaded after a reboot is unknown.",
        "remediation": "Make {files} readable regular files (or remove them), then gather the facts again.",
        "container_remediation": "That modprobe.d is in the {container} container's file system and does not affect the "
                                 "host's boot; check the host's modprobe.d.",
        "reference": _REF_MODPROBE_D,
    },
    "SYSCTL_PERSISTED_WITHOUT_MODULE": {
        "severity": "medium",
        "message": "{keys} persisted but br_netfilter will not be loaded at boot: systemd-sysctl "
                   "logs \"Couldn't write '1' to 'net/bridge/bridge-nf-call-iptables', ignoring: "
                   "No such file or directory\" and the keys stay absent until something loads "
                   "the module.",
        "remediation": "Persist the module too (/etc/modules-load.d/br_netfilter.conf).",
        "container_remediation": "Both belong to the host: list br_netfilter in the host's /etc/modules-load.d/; the bridge "
                                 "keys of this {container} container's namespace are then set at its start (--sysctl, "
                                 "lxc.sysctl).",
        "reference": _REF_MODULES_LOAD,
    },
    "SYSCTL_CONF_NOT_READ": {
        "severity": "low",
        "message": "/etc/sysctl.conf sets {keys} but systemd-sysctl does not read it (no sysctl.d "
                   "entry links to it).",
        "remediation": "Move the settings into /etc/sysctl.d/*.conf.",
        "container_remediation": "Nothing inside this {container} container reads sysctl files at start: put the keys in the "
                                 "container's definition (podman/docker run --sysctl, LXC: lxc.sysctl.*) instead.",
        "reference": _REF_SYSCTL_D,
    },
    "ETC_MODULES_NOT_READ": {
        "severity": "low",
        "message": "/etc/modules lists {modules} but systemd-modules-load does not read it (no "
                   "modules-load.d entry links to it).",
        "remediation": "Create /etc/modules-load.d/br_netfilter.conf instead.",
        "container_remediation": "The {container} container's /etc/modules is not read by the host's boot: list the modules in "
                                 "the host's /etc/modules-load.d/ instead.",
        "reference": _REF_MODULES_LOAD,
    },
    "CANNOT_LOAD_MODULES_HERE": {
        "severity": "low",
        "message": "br_netfilter is {state} but this process cannot load modules ({why}).",
        "remediation": "Run as root with CAP_SYS_MODULE in the initial user namespace (become: true).",
        "container_remediation": "Load it on the host (modprobe br_netfilter, and list it in the host's /etc/modules-load.d/); "
                                 "a container gets the host kernel's modules.",
        "reference": "https://man7.org/linux/man-pages/man7/capabilities.7.html",
    },
}
SEVERITIES = ("low", "medium", "high")


class BrNetfilterFactsError(Exception):
    """Bad input (e.g. a root that is not a Linux root tree)."""


def make_problem(code, container=None, **context):
    """Build a ``{code, severity, message, remediation, reference}`` dict from PROBLEMS.

    ``container`` (the detected kind, e.g. podman or lxc) selects the remediation for a container, where
    /proc/sys is usually read-only, no init applies sysctl.d and module loading belongs to the host.
    """
    spec = PROBLEMS[code]
    remediation = spec["container_remediation"] if container else spec["remediation"]
    return {
        "code": code,
        "severity": spec["severity"],
        "message": spec["message"].format(**context),
        "remediation": remediation.format(container=container, **context),
        "reference": spec["reference"],
    }


def parse_sysctl_value(text):
    """Live sysctl text -> int when numeric, stripped text otherwise, None when absent."""
    if text is None:
        return None
    value = text.strip()
    try:
        return int(value)
    except ValueError:
        return value


def classify_state(obs, module=MODULE):
    """Decide the state of ``module`` (a key of KERNEL_MODULES) from observations (pure).

    ``obs`` keys: initstate, sysfs_dir, proc_modules (dict or None),
    module_support (bool or None), builtin_listed, kconfig (dict or None),
    feature_present (br_netfilter: bridge-nf-call-iptables exists; overlay:
    /proc/filesystems lists overlay), modules_disabled, dep_files,
    modules_dep_present, container, can_load_modules, blocked_by.

    Returns ``(state, unavailable_reason, state_reason, evidence)``.
    """
    spec = KERNEL_MODULES[module]
    evidence = []
    kconfig = obs.get("kconfig") or {}
    proc_modules = obs.get("proc_modules")
    loaded_reason = "%s is a loaded module" % module
    if obs.get("initstate") in ("live", "coming"):
        evidence.append("/sys/module/%s/initstate = %s" % (module, obs["initstate"]))
        return "loaded", None, loaded_reason, evidence
    if proc_modules and module in proc_modules:
        evidence.append("/proc/modules lists %s" % module)
        return "loaded", None, loaded_reason, evidence
    builtin_reason = None
    if obs.get("sysfs_dir") and obs.get("initstate") is None:
        builtin_reason = "/sys/module/%s exists without initstate" % module
    elif obs.get("builtin_listed"):
        builtin_reason = "modules.builtin lists %s" % module
    elif kconfig.get(spec["config"]) == "y":
        builtin_reason = "%s=y" % spec["config"]
    elif obs.get("feature_present"):
        builtin_reason = "%s and no %s module is loaded" % (spec["feature_evidence"], module)
    if builtin_reason:
        evidence.append(builtin_reason)
        return "builtin", None, "%s is built into the kernel (%s)" % (spec["feature"], builtin_reason), evidence

    def unavailable(code, detail):
        evidence.append(detail)
        return "unavailable", code, "%s is unavailable: %s" % (module, unavailable_text(code, module)), evidence

    if obs.get("module_support") is False:
        return unavailable("no_module_support", "no /proc/modules" + (
            ", CONFIG_MODULES unset" if kconfig.get("CONFIG_MODULES") == "n" else ""))
    if obs.get("modules_disabled"):
        return unavailable("modules_disabled", "/proc/sys/kernel/modules_disabled = 1")
    dep_files = obs.get("dep_files") or []
    if dep_files:
        evidence.append("modules.dep lists %s" % ", ".join(dep_files))
        blocked_by = obs.get("blocked_by")
        if blocked_by:
            where = _where(blocked_by)
            evidence.append("install command at %s" % where)
            return ("blocked", None, "%s exists but '%s' at %s stops it from loading"
                    % (module, blocked_by["command"], where), evidence)
        if obs.get("container") and not obs.get("can_load_modules"):
            return unavailable("container", "container %s without module loading rights" % obs["container"])
        return "loadable", None, "%s is available as a module but not loaded" % module, evidence
    if kconfig.get(spec["config"]) == "n":
        return unavailable("not_in_kernel", "%s is not set" % spec["config"])
    if obs.get("modules_dep_present"):
        return unavailable("not_in_kernel", "modules.dep does not list %s.ko" % module)
    if obs.get("container"):
        return unavailable("container", "container %s, no modules directory" % obs["container"])
    return unavailable("no_modules_dir", "no modules.dep for the running kernel")


def _where(ref):
    if ref.get("line"):
        return "%s:%s" % (ref["file"], ref["line"])
    return ref["file"]


def _modules_dirs(release):
    return ("/lib/modules/%s" % release, "/usr/lib/modules/%s" % release)


def check_sysctl_keys(keys):
    """Validate caller-supplied sysctl keys; returns their canonical dotted forms, in order, without repeats.

    Raises BrNetfilterFactsError naming every bad key.
    """
    if keys is None:
        return []
    if isinstance(keys, str) or not isinstance(keys, (list, tuple)):
        raise BrNetfilterFactsError("sysctl_keys must be a list of sysctl keys, got %r" % (keys,))
    bad = []
    result = []
    for key in keys:
        problem = sysctl_key_problem(key)
        if problem:
            bad.append("%r %s" % (key, problem))
            continue
        canonical = canonical_key(key)
        if canonical not in result:
            result.append(canonical)
    if bad:
        raise BrNetfilterFactsError(
            "sysctl_keys: %s. Give each key dotted (net.ipv4.conf.all.rp_filter) or slashed "
            "(net/ipv4/conf/eth0.100/rp_filter, which keeps the dot in an interface name)." % "; ".join(bad))
    return result


def watched_sysctl_keys(extra_keys=()):
    """SYSCTL_KEYS plus one entry per extra key (canonical dotted form) that is not among them."""
    return list(SYSCTL_KEYS) + [_spec_of(key) for key in extra_keys if key not in SYSCTL_KEY_NAMES]


def _filesystems(text):
    """Names in /proc/filesystems (``nodev\toverlay`` -> ``overlay``)."""
    return set(line.split()[-1] for line in (text or "").splitlines() if line.split())


def gather_br_netfilter_facts(root="/", managed_sysctl_file=None, sysctl_keys=()):
    """Gather everything (file reads only) and evaluate it. See module docs.

    ``sysctl_keys``: further sysctl keys to report (live, persisted, after reboot); validated with
    ``check_sysctl_keys``.
    """
    extra_keys = check_sysctl_keys(sysctl_keys)
    fs = RootFS(root)
    if not fs.isdir("/"):
        raise BrNetfilterFactsError("root %r does not exist or is not a directory" % root)
    release_text = fs.read_text("/proc/sys/kernel/osrelease")
    if release_text is None:
        raise BrNetfilterFactsError(
            "cannot read /proc/sys/kernel/osrelease under root %r: not a Linux root with /proc mounted" % root)
    release = release_text.strip()

    cmdline = parse_kernel_cmdline(fs.read_text("/proc/cmdline") or "")
    environment = detect_environment(fs, release)

    proc_modules_text = fs.read_text("/proc/modules")
    proc_modules = parse_proc_modules(proc_modules_text) if proc_modules_text is not None else None
    if proc_modules is None and fs.exists("/proc/modules"):
        module_support = None  # present but unreadable
    else:
        module_support = proc_modules is not None

    modules_dir, dep_text, builtin_text = None, None, None
    for candidate in _modules_dirs(release):
        dep_text = fs.read_text(candidate + "/modules.dep")
        if dep_text is None:
            continue
        modules_dir = candidate
        builtin_text = fs.read_text(candidate + "/modules.builtin")
        break

    bridge_dir = fs.isdir(BRIDGE_SYSCTL_DIR)
    sysctl_specs = watched_sysctl_keys(extra_keys)
    live = {}
    for item in sysctl_specs:
        live[item["key"]] = parse_sysctl_value(fs.read_text("/proc/sys/" + normalize_key(item["key"])))
    key_present = live[KEY_IPTABLES] is not None

    observations = {}
    for module in WATCHED_MODULES:
        initstate_text = fs.read_text("/sys/module/%s/initstate" % module)
        initstate = initstate_text.strip() if initstate_text is not None else None
        observations[module] = {
            "initstate": initstate,
            "sysfs_dir": fs.isdir("/sys/module/%s" % module),
            "dep_files": ["%s/%s" % (modules_dir, path) for path in find_in_modules_dep(dep_text, module)]
            if dep_text is not None else [],
            "builtin_listed": bool(builtin_text and find_in_modules_dep(builtin_text, module)),
        }
    observations[MODULE]["feature_present"] = key_present
    observations["overlay"]["feature_present"] = "overlay" in _filesystems(fs.read_text(PROC_FILESYSTEMS))

    # The kernel config is read only when some module's state is not settled by sysfs, /proc/modules or
    # modules.builtin (reading /proc/config.gz means decompressing it).
    kconfig, kconfig_source = None, None
    unsettled = [module for module, obs in observations.items()
                 if not (obs["initstate"] in ("live", "coming") or (proc_modules and module in proc_modules)
                         or obs["sysfs_dir"] or obs["builtin_listed"])]
    if unsettled:
        kconfig, kconfig_source = read_kernel_config(fs, release)
    if module_support is None and kconfig and "CONFIG_MODULES" in kconfig:
        module_support = kconfig["CONFIG_MODULES"] == "y"

    can_load = bool(module_support and environment["cap_sys_module"]
                    and environment["modules_disabled"] is not True
                    and environment["initial_user_namespace"] is not False)
    environment["can_load_modules"] = can_load

    policies = gather_modprobe_policies(fs, WATCHED_MODULES, cmdline)
    modules = {}
    for module in WATCHED_MODULES:
        obs = dict(observations[module])
        obs.update({
            "proc_modules": proc_modules,
            "module_support": module_support,
            "kconfig": kconfig,
            "modules_disabled": environment["modules_disabled"],
            "modules_dep_present": dep_text is not None,
            "container": environment["container"],
            "can_load_modules": can_load,
            "blocked_by": policies[module]["blocked_by"],
        })
        state, reason, state_reason, evidence = classify_state(obs, module)
        policy = policies[module]
        modules[module] = {
            "state": state,
            "state_reason": state_reason,
            "state_evidence": evidence,
            "unavailable_reason": reason,
            "blacklisted": policy["blacklisted"],
            "blacklist_files": policy["blacklist_files"],
            "blacklisted_by": policy["blacklisted_by"],
            "blocked_by": policy["blocked_by"],
            "install_command": policy["install"],
            "modprobe_unreadable_files": policy["unreadable_files"],
            "module_files": obs["dep_files"],
        }

    sysctl = gather_sysctl_persistence(fs, [item["key"] for item in sysctl_specs])
    modules_load = gather_modules_load(fs, BOOT_MODULES, cmdline)

    facts = dict(modules[MODULE])
    facts.update({
        "modules": modules,
        "modules_dir": modules_dir,
        "module_support": module_support,
        "kernel_release": release,
        "kernel_config": _kconfig_summary(kconfig, kconfig_source),
        "bridge_sysctl_dir_present": bridge_dir,
        "bridge_nf_call_iptables_present": key_present,
        "false_positive_bridge_dir": bridge_dir and not key_present,
        "live": live,
        "persisted": sysctl["persisted"],
        "persisted_all": sysctl["persisted_all"],
        "persisted_unknown": sysctl["unknown"],
        "sysctl_unreadable_files": sysctl["unreadable_files"],
        "sysctl_files": sysctl["files"],
        "sysctl_invalid_lines": sysctl["invalid_lines"],
        "sysctl_conf": {"read_by_systemd": sysctl["sysctl_conf_read"],
                        "entries": sysctl["sysctl_conf_entries"]},
        "modules_load": modules_load["modules"],
        "modules_load_files": modules_load["files"],
        "etc_modules": modules_load["etc_modules"],
        "environment": environment,
        "unreadable": fs.unreadable,
    })
    facts.update(evaluate(facts, managed_sysctl_file))
    for module, record in modules.items():
        record["persisted"] = bool(facts["modules_load"].get(module, {}).get("persisted"))
        record["active_at_boot"] = module_active_at_boot(facts, module)
    return facts


def _kconfig_summary(kconfig, source):
    if kconfig is None:
        return {"source": None}
    summary = {"source": source}
    for key in ("CONFIG_MODULES", "CONFIG_BRIDGE", "CONFIG_BRIDGE_NETFILTER", "CONFIG_OVERLAY_FS"):
        summary[key] = kconfig.get(key)
    return summary


def _is_one(value):
    try:
        return int(str(value).strip()) == 1
    except (TypeError, ValueError):
        return False


def module_active_at_boot(facts, module=MODULE):
    """Will ``module`` be present after a reboot, by the configuration alone.

    br_netfilter is judged from the top-level facts (what ``evaluate`` sees), other modules from
    ``facts["modules"][module]``.
    Returns None when no readable modules-load.d file lists it but an unreadable one might, or when it is
    listed but a modprobe.d file that could blacklist or block it could not be read.
    """
    record = facts if module == MODULE else (facts.get("modules") or {}).get(module) or {}
    state = record.get("state")
    if state == "builtin":
        return True
    if state not in ("loaded", "loadable"):
        return False
    if record.get("blocked_by") or record.get("blacklisted"):
        return False
    listing = (facts.get("modules_load") or {}).get(module, {})
    if listing.get("persisted"):
        # An unreadable modprobe.d file may blacklist or block it: listed, but not known to load.
        return None if record.get("modprobe_unreadable_files") else True
    return None if listing.get("unknown") else False


def _apply_position(facts, record):
    """Where systemd-sysctl applies a persisted record: (file index in ``sysctl_files``, line)."""
    paths = [item["path"] for item in facts.get("sysctl_files") or []]
    index = paths.index(record["file"]) if record["file"] in paths else len(paths)
    return index, record.get("line") or 0


def _spec_of(key):
    """The SYSCTL_KEYS entry of ``key``, or the entry of a caller-supplied key (never a problem, default unknown)."""
    for item in SYSCTL_KEYS:
        if item["key"] == key:
            return item
    return {"key": key, "desired": None, "required": False, "needs_module": key.startswith(BRIDGE_KEY_PREFIX),
            "kernel_default": None, "extra": True}


def after_reboot_prediction(facts, module_at_boot):
    """Expected value of each watched key right after boot, and the keys whose value is not known.

    Values are typed like ``live`` (int when numeric; None when the key will be absent or is unknown).
    Returns ``(values, unknown_keys)``. A key the caller added (not in SYSCTL_KEYS) that no sysctl.d file
    sets gets the kernel's default after boot, which is not known here: the live value may have been set by
    hand since boot. Such a key is None and listed in ``unknown_keys``, and so is any key an unreadable
    sysctl.d file may set (``persisted_unknown``), and a ``net.bridge.*`` key while ``module_at_boot`` is None.
    """
    persisted = facts.get("persisted") or {}
    # An unreadable sysctl.d file may set the key (or the one it follows): no value is promised for it.
    unreadable_may_set = set(facts.get("persisted_unknown") or [])
    keys = list(SYSCTL_KEY_NAMES) + [key for key in facts.get("live") or {} if key not in SYSCTL_KEY_NAMES]
    values, unknown = {}, []
    for key in keys:
        item = _spec_of(key)
        if item["needs_module"] and module_at_boot is False:
            values[key] = None
            continue
        if (item["needs_module"] and module_at_boot is None) or key in unreadable_may_set \
                or item.get("follows") in unreadable_may_set:
            values[key] = None
            unknown.append(key)
            continue
        record = persisted.get(key)
        leader = persisted.get(item["follows"]) if item.get("follows") else None
        if leader is not None and (record is None or _apply_position(facts, leader) > _apply_position(facts, record)):
            record = leader  # writing the leader key at boot also writes this one, after this key's own line
        if record is not None:
            values[key] = parse_sysctl_value(record["value"])
        elif item.get("extra"):
            values[key] = None
            unknown.append(key)
        else:
            values[key] = item["kernel_default"]
    return values, unknown


def evaluate(facts, managed_sysctl_file=None):
    """Problems, readiness and after-reboot view from gathered facts (pure).

    Returns ``{"problems", "ready", "ready_after_reboot", "module_active_at_boot",
    "after_reboot", "after_reboot_unknown"}``. ``managed_sysctl_file`` names the file the caller writes;
    SYSCTL_OVERRIDDEN then says that file is overridden.
    """
    problems = []
    state = facts["state"]
    container = (facts.get("environment") or {}).get("container")

    def problem(code, **context):
        return make_problem(code, container=container, **context)

    if state == "unavailable":
        reason = facts["unavailable_reason"]
        problems.append(problem("BR_NETFILTER_UNAVAILABLE", reason=reason,
                                reason_text=unavailable_text(reason)))
    elif state == "blocked":
        problems.append(problem("BR_NETFILTER_BLOCKED", command=facts["blocked_by"]["command"],
                                where=_where(facts["blocked_by"])))
    elif state == "loadable":
        problems.append(problem("BR_NETFILTER_NOT_LOADED",
                                module_files=", ".join(facts["module_files"])))
    if state == "loaded" and facts.get("blocked_by"):
        problems.append(problem("BR_NETFILTER_BLOCK_CONFIGURED", command=facts["blocked_by"]["command"],
                                where=_where(facts["blocked_by"])))
    if facts.get("blacklisted") and state in ("loaded", "loadable"):
        problems.append(problem("BR_NETFILTER_BLACKLISTED",
                                where=", ".join(_where(ref) for ref in facts["blacklisted_by"])))
    if facts.get("false_positive_bridge_dir"):
        problems.append(problem("BRIDGE_DIR_FALSE_POSITIVE"))
    if state in ("loaded", "loadable", "blocked") and facts["environment"].get("can_load_modules") is False:
        env = facts["environment"]
        why = []
        if env.get("cap_sys_module") is False:
            why.append("no CAP_SYS_MODULE")
        if env.get("initial_user_namespace") is False:
            why.append("inside a user namespace")
        if env.get("modules_disabled"):
            why.append("modules_disabled = 1")
        if state != "loaded":
            problems.append(problem("CANNOT_LOAD_MODULES_HERE", state=state,
                                    why=", ".join(why) or "unknown"))

    live = facts["live"]
    for item in SYSCTL_KEYS:
        if item["desired"] is None:
            continue
        value = live.get(item["key"])
        if value is None and item["needs_module"] and state not in ACTIVE_STATES:
            continue  # covered by the module problem above
        if value != item["desired"]:
            problems.append(problem("SYSCTL_LIVE_NOT_1", key=item["key"],
                                    value="absent" if value is None else value))

    at_boot = module_active_at_boot(facts)
    after, after_unknown = after_reboot_prediction(facts, at_boot)
    persisted = facts["persisted"]
    sysctl_unknown = facts.get("persisted_unknown") or []
    for item in SYSCTL_KEYS:
        if not item["required"]:
            continue
        key = item["key"]
        record = persisted.get(key)
        if key in sysctl_unknown:
            # Neither "not persisted" nor the readable winner can be asserted: an unreadable file may override it.
            readable = "; the readable files give %s (%s)" % (record["value"], _where(record)) if record else \
                "; no readable file sets it"
            problems.append(problem("SYSCTL_PERSISTENCE_UNKNOWN", key=key, readable=readable,
                                    files=", ".join(facts.get("sysctl_unreadable_files") or []) or "some files"))
            continue
        # The boot value when no file sets it; a bridge key is the kernel's default once the module loads, so
        # while that is unknown (at_boot None) the default is what holds if it does (the module problem says the rest).
        default = None if item["needs_module"] and at_boot is False else item["kernel_default"]
        if record is None and default == item["desired"]:
            # Only the bridge keys default to 1: the boot value is right, just not stated anywhere.
            problems.append(problem("SYSCTL_KERNEL_DEFAULT_ONLY", key=key))
        elif record is None:
            problems.append(problem("SYSCTL_NOT_PERSISTED", key=key,
                                    after_reboot="absent" if after[key] is None else after[key]))
        elif not _is_one(record["value"]):
            earlier = [a for a in facts["persisted_all"].get(key, [])
                       if _is_one(a["value"]) and not a.get("effective")]
            overrides = ""
            if earlier:
                overrides = " over " + ", ".join(_where(a) for a in earlier)
            if managed_sysctl_file and any(a["file"] == managed_sysctl_file for a in earlier):
                overrides += " (the managed file %s is overridden)" % managed_sysctl_file
            problems.append(problem("SYSCTL_OVERRIDDEN", key=key, value=record["value"],
                                    where=_where(record), overrides=overrides,
                                    winner_name=record["file"].rsplit("/", 1)[-1]))

    listing = facts["modules_load"].get(MODULE, {})
    if state in ("loaded", "loadable", "blocked") and not listing.get("persisted"):
        etc = facts.get("etc_modules") or {}
        note = ""
        if MODULE in etc.get("modules", []) and not etc.get("read_by_systemd"):
            note = " (/etc/modules lists it but is not read)"
        if listing.get("unknown"):
            problems.append(problem("MODULE_PERSISTENCE_UNKNOWN", files=", ".join(listing.get("unreadable_files") or [])))
        else:
            problems.append(problem("MODULE_NOT_PERSISTED", etc_modules_note=note))

    if state in ("loaded", "loadable") and facts.get("modprobe_unreadable_files") and not facts.get("blocked_by") \
            and not facts.get("blacklisted"):
        problems.append(problem("MODPROBE_POLICY_UNKNOWN", files=", ".join(facts["modprobe_unreadable_files"])))

    if at_boot is False and state != "builtin":
        bridge_persisted = [item["key"] for item in SYSCTL_KEYS
                            if item["needs_module"] and persisted.get(item["key"])]
        if bridge_persisted:
            problems.append(problem("SYSCTL_PERSISTED_WITHOUT_MODULE", keys=", ".join(bridge_persisted)))

    conf = facts.get("sysctl_conf") or {}
    if conf.get("entries") and not conf.get("read_by_systemd"):
        problems.append(problem("SYSCTL_CONF_NOT_READ", keys=", ".join(sorted(conf["entries"]))))

    etc = facts.get("etc_modules") or {}
    listed = [m for m in etc.get("modules", []) if m in BOOT_MODULES]
    if listed and not etc.get("read_by_systemd"):
        problems.append(problem("ETC_MODULES_NOT_READ", modules=", ".join(listed)))

    ready = (state in ACTIVE_STATES
             and all(live.get(item["key"]) == item["desired"]
                     for item in SYSCTL_KEYS if item["required"]))
    # False as soon as one known input says so; None (unknown) when only an unreadable input stands in the way.
    required = [item["key"] for item in SYSCTL_KEYS if item["required"]]
    if at_boot is False or any(key not in after_unknown and not _is_one(after[key]) for key in required):
        ready_after_reboot = False
    elif at_boot is None or any(key in after_unknown for key in required):
        ready_after_reboot = None
    else:
        ready_after_reboot = True
    return {
        "problems": problems,
        "ready": ready,
        "ready_after_reboot": ready_after_reboot,
        "module_active_at_boot": at_boot,
        "after_reboot": after,
        "after_reboot_unknown": after_unknown,
    }
