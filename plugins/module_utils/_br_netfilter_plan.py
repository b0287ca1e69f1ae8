# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Decisions of the br_netfilter and k8s_node roles, as pure functions.

The roles gather ``ansible_facts.br_netfilter`` (module ``br_netfilter_facts``)
and hand it here, through the filter plugins in ``plugins/filter/``:

``plan_br_netfilter(facts, ...)``
    What the role will do on this host: load the module or not, which files it
    writes, which values it sets live, what it promises for "now" and "after a
    reboot", and the errors (fail before any change) and warnings. It predicts
    systemd-sysctl's result as if our sysctl file were already written, with
    the same precedence model the facts module uses (``_sysctl_d``), so a later
    file that would override ours is found before anything is written, and in
    check mode.

``verify_br_netfilter(plan, facts)``
    Compares facts gathered after the changes with the plan's promises.

``k8s_node_readiness(facts, dual_stack, overlay)``
    The exact checks flannel and kubeadm run at start-up (``K8S_CHECKS``), and
    whether overlay is present now and after a reboot (``OVERLAY_CHECKS``).

The facts must watch every key the role sets (the facts module's
``sysctl_keys``; ``check_settings`` returns the list to pass), so every
override by a later sysctl.d file is found and every value is read back.

No Ansible import: unit-tested directly.
"""

from __future__ import annotations

import posixpath

from ansible_collections.nodeprep.netfilter.plugins.module_utils._names import (
    conf_file_name_problem,
    kernel_module_name_problem,
    sysctl_key_problem,
)
from ansible_collections.nodeprep.netfilter.plugins.module_utils._sysctl_d import (
    build_option_table,
    canonical_key,
    effective_value,
    normalize_key,
)

ACTIONS = ("fail", "warn")
ACTIVE_STATES = ("loaded", "builtin")
SYSCTL_DIR = "/etc/sysctl.d"
MODULES_LOAD_DIR = "/etc/modules-load.d"
MODULE = "br_netfilter"
# Keys that exist only while br_netfilter is active.
BRIDGE_KEY_PREFIX = "net.bridge."
# The keys br_netfilter_facts' ``ready`` requires to be 1 (its SYSCTL_KEYS with required=True).
READY_KEYS = (
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
    "net.ipv4.ip_forward",
)
# Keys the roles add on request (switch -> entry); an entry already in the list wins.
OPTIONAL_SYSCTLS = {
    "ipv6_forwarding": {"name": "net.ipv6.conf.all.forwarding", "value": 1},
    "arptables": {"name": "net.bridge.bridge-nf-call-arptables", "value": 1},
}
COMPAT_ROLE = "nodeprep.netfilter.docker_br_netfilter_compat"
ACTION_VARIABLES = "br_netfilter_unavailable_action (k8s_node_unavailable_action for the k8s_node role)"
ACCEPT_VARIABLES = "br_netfilter_accept_overrides (k8s_node_accept_overrides for the k8s_node role)"

FACTS_MODULE = "nodeprep.netfilter.br_netfilter_facts"

# Why br_netfilter cannot be active now, one row per cause, with the remedy.
# Keys: the facts' ``state`` (``blocked``) or ``unavailable_reason``.
BLOCKERS = {
    "blocked": {
        "code": "BR_NETFILTER_BLOCKED",
        "message": "br_netfilter is blocked by {where}: '{command}' runs instead of every load "
                   "(modprobe and systemd-modules-load alike).",
        "remedy": "remove or comment out that line (a same-named file in /etc/modprobe.d overrides one in "
                  "/usr/lib/modprobe.d), then run this role again.",
    },
    "container": {
        "code": "BR_NETFILTER_IN_CONTAINER",
        "message": "this is a container ({container}) and br_netfilter is {state} in the host kernel; "
                   "a container cannot load kernel modules.",
        "remedy": "load and persist br_netfilter on the host (run this role against the host), then run it "
                  "here again.",
    },
    "not_in_kernel": {
        "code": "BR_NETFILTER_NOT_IN_KERNEL",
        "message": "the running kernel {release} has no br_netfilter (CONFIG_BRIDGE_NETFILTER is not set, or "
                   "modules.dep does not list br_netfilter.ko).",
        "remedy": "boot a kernel built with CONFIG_BRIDGE_NETFILTER=y or =m.",
    },
    "no_module_support": {
        "code": "BR_NETFILTER_NOT_IN_KERNEL",
        "message": "the running kernel {release} cannot load modules (CONFIG_MODULES unset) and has no "
                   "built-in bridge netfilter.",
        "remedy": "boot a kernel built with CONFIG_BRIDGE_NETFILTER=y, or with module support and "
                  "CONFIG_BRIDGE_NETFILTER=m.",
    },
    "modules_disabled": {
        "code": "BR_NETFILTER_MODULES_DISABLED",
        "message": "module loading is switched off until the next boot (/proc/sys/kernel/modules_disabled = 1).",
        "remedy": "list br_netfilter in modules-load.d (or load it before modules_disabled is set) and reboot.",
    },
    "no_modules_dir": {
        "code": "BR_NETFILTER_NO_MODULES_DIR",
        "message": "there is no modules directory for the running kernel {release} "
                   "(/lib/modules/{release}/modules.dep).",
        "remedy": "install the modules of the running kernel (Debian: linux-image-{release}) or reboot into "
                  "the kernel that is installed.",
    },
}
_BLOCKER_TAIL = (" If Docker has to run on this host without br_netfilter, apply the {compat} role: for "
                 "Docker >= 27.5.1 it sets DOCKER_IGNORE_BR_NETFILTER_ERROR=1 (inter-container isolation, "
                 "icc=false, is then NOT enforced). To continue without br_netfilter set {action}: warn.")

# br_netfilter usable now, but not after a reboot.
BOOT_BLOCKERS = {
    "blocked_at_boot": {
        "code": "BR_NETFILTER_BLOCKED_AT_BOOT",
        "message": "br_netfilter is loaded now, but {where} ('{command}') stops it from loading at the next boot.",
        "remedy": "remove or comment out that line.",
    },
    "blacklisted": {
        "code": "BR_NETFILTER_BLACKLISTED",
        "message": "br_netfilter is blacklisted by {where}: systemd-modules-load skips blacklisted modules at "
                   "boot, so it would be missing after a reboot.",
        "remedy": "remove the blacklist line (an explicit modprobe still works, a boot-time load does not).",
    },
}

# The exact start-up checks of flannel and kubeadm (>= 1.30), with the message each prints on failure.
K8S_CHECKS = (
    {
        "id": "flannel-ipv4",
        "tool": "flannel",
        "check": "os.Stat(\"/proc/sys/net/bridge/bridge-nf-call-iptables\") succeeds (flanneld start-up, IPv4)",
        "failure": "Failed to check br_netfilter: stat /proc/sys/net/bridge/bridge-nf-call-iptables: "
                   "no such file or directory",
        "key": "net.bridge.bridge-nf-call-iptables",
        "test": "present",
        "dual_stack_only": False,
        "reference": "https://github.com/flannel-io/flannel/blob/master/main.go",
    },
    {
        "id": "flannel-ipv6",
        "tool": "flannel",
        "check": "os.Stat(\"/proc/sys/net/bridge/bridge-nf-call-ip6tables\") succeeds (flanneld start-up, "
                 "EnableIPv6)",
        "failure": "Failed to check br_netfilter: stat /proc/sys/net/bridge/bridge-nf-call-ip6tables: "
                   "no such file or directory",
        "key": "net.bridge.bridge-nf-call-ip6tables",
        "test": "present",
        "dual_stack_only": True,
        "reference": "https://github.com/flannel-io/flannel/blob/master/main.go",
    },
    {
        "id": "kubeadm-ipv4-forward",
        "tool": "kubeadm",
        "check": "/proc/sys/net/ipv4/ip_forward starts with \"1\" (kubeadm preflight FileContentCheck; since "
                 "1.30 the only kernel-networking check, kubernetes PR #123464)",
        "failure": "[ERROR FileContent--proc-sys-net-ipv4-ip_forward]: /proc/sys/net/ipv4/ip_forward contents "
                   "are not set to 1",
        "key": "net.ipv4.ip_forward",
        "test": "one",
        "dual_stack_only": False,
        "reference": "https://github.com/kubernetes/kubernetes/pull/123464",
    },
    {
        "id": "kubeadm-ipv6-forward",
        "tool": "kubeadm",
        "check": "/proc/sys/net/ipv6/conf/default/forwarding starts with \"1\" (kubeadm preflight, IPv6 "
                 "advertise address)",
        "failure": "[ERROR FileContent--proc-sys-net-ipv6-conf-default-forwarding]: "
                   "/proc/sys/net/ipv6/conf/default/forwarding contents are not set to 1",
        "key": "net.ipv6.conf.default.forwarding",
        "test": "one",
        "dual_stack_only": True,
        "reference": "https://github.com/kubernetes/kubernetes/blob/master/cmd/kubeadm/app/preflight/checks.go",
    },
)


# overlay: no start-up message to quote, so these carry a consequence instead of a failure text. Judged from the
# facts' ``modules.overlay`` (br_netfilter_facts classifies overlay the way it classifies br_netfilter).
OVERLAY_CHECKS = (
    {"id": "overlay-present", "tool": "containerd", "failure": None,
     "check": "overlay is loaded or built in (br_netfilter_facts: modules.overlay.state loaded or builtin)",
     "consequence": "the overlayfs snapshotter of containerd (and CRI-O's overlay storage) cannot mount images",
     "reference": "https://kubernetes.io/docs/setup/production-environment/container-runtimes/"},
    {"id": "overlay-persisted", "tool": "containerd", "failure": None,
     "check": "overlay is built in, or listed for systemd-modules-load and neither blocked nor blacklisted "
              "(modules.overlay.active_at_boot)",
     "consequence": "overlay may be missing after a reboot",
     "reference": "https://www.freedesktop.org/software/systemd/man/latest/modules-load.d.html"},
)


class PlanError(ValueError):
    """Input the roles must reject before changing anything."""


def _text(value):
    """Whitespace-normalised text of a sysctl value (None stays None)."""
    if value is None:
        return None
    return " ".join(str(value).split())


def same_value(left, right):
    """sysctl values compare as whitespace-separated words ("1" == 1, "4096  87380" == "4096 87380")."""
    return left is not None and right is not None and _text(left) == _text(right)


def _where(ref):
    where = ref["file"]
    if ref.get("resolved_file"):
        where = "%s (-> %s)" % (where, ref["resolved_file"])
    if ref.get("line"):
        where = "%s line %s" % (where, ref["line"])
    return where


# -- input validation ---------------------------------------------------------

def validate_conf_path(path, directory, what):
    if not isinstance(path, str) or not path.strip():
        raise PlanError("%s must be a non-empty path" % what)
    if posixpath.normpath(path) != path or posixpath.dirname(path) != directory:
        raise PlanError("%s must be a file directly in %s, got %r: files elsewhere are not read at boot, or are "
                        "masked by /etc" % (what, directory, path))
    problem = conf_file_name_problem(posixpath.basename(path))
    if problem:
        raise PlanError("%s must be named '<name>.conf' (only *.conf files are read), got %r: %s" % (what, path, problem))


def validate_sysctls(sysctls):
    """[{name, value}] -> [{name, value (str), path}] with clear errors for bad entries."""
    if not isinstance(sysctls, (list, tuple)):
        raise PlanError("sysctls must be a list of {name, value}, got %s" % type(sysctls).__name__)
    result = []
    seen = {}
    for index, item in enumerate(sysctls):
        if not isinstance(item, dict) or set(item) - {"name", "value"} or "name" not in item or "value" not in item:
            raise PlanError("sysctls[%d] must be a dict with exactly 'name' and 'value', got %r" % (index, item))
        name, value = item["name"], item["value"]
        problem = sysctl_key_problem(name)
        if problem:
            raise PlanError("sysctls[%d].name %r is not a sysctl key: it %s (e.g. net.ipv4.ip_forward)"
                            % (index, name, problem))
        if isinstance(value, bool) or not isinstance(value, int):
            try:
                if isinstance(value, bool) or not isinstance(value, str):
                    raise ValueError
                value = int(value.strip())
            except ValueError:
                raise PlanError("sysctls[%d].value for %s must be an integer, got %r" % (index, name, value))
        path = normalize_key(name)
        if path in seen:
            raise PlanError("sysctls lists %s twice (as %r and %r)" % (name, seen[path], name))
        seen[path] = name
        result.append({"name": name, "value": str(value), "path": path, "key": canonical_key(name)})
    return result


def validate_modules(modules):
    if not isinstance(modules, (list, tuple)):
        raise PlanError("extra_modules must be a list of module names")
    for name in modules:
        problem = kernel_module_name_problem(name)
        if problem:
            raise PlanError("extra_modules: %s" % problem)
    return [name for index, name in enumerate(modules) if name not in modules[:index]]


# -- boot-time prediction -------------------------------------------------------

def _entries_from_history(key, history):
    """Rebuild _sysctl_d entries from the facts' persisted_all records (in applied order)."""
    entries = []
    for record in history:
        pattern = record.get("pattern")
        entry = {
            "key": normalize_key(pattern or key),
            "value": record.get("value"),
            "ignore_failure": bool(record.get("ignore_failure")),
            "file": record["file"],
            "line": record.get("line"),
            "glob": bool(pattern),
        }
        if record.get("resolved_file"):
            entry["resolved_file"] = record["resolved_file"]
        entries.append(entry)
    return entries


def effective_after_write(facts, key, value, sysctl_file):
    """The entry systemd-sysctl will apply for ``key`` once ``sysctl_file`` holds ``key = value``.

    Our file replaces any earlier version of itself and masks same-named files in
    later directories (it lives in /etc/sysctl.d, the first directory). Files are
    applied sorted by name; later assignments win; an explicit key beats globs.
    Returns ``(winner, ours)`` where ``winner`` is a record ``{value, file, line,
    resolved_file}`` (None: nothing sets the key) and ``ours`` tells whether it is
    our line. Returns ``(None, None)`` when the facts do not watch ``key``.
    """
    history = (facts.get("persisted_all") or {}).get(key)
    if history is None:
        return None, None
    name = posixpath.basename(sysctl_file)
    kept = [entry for entry in _entries_from_history(key, history)
            if entry["file"] != sysctl_file and posixpath.basename(entry["file"]) != name]
    ours = {"key": normalize_key(key), "value": value, "ignore_failure": False,
            "file": sysctl_file, "line": None, "glob": False}
    position = len(kept)
    for index, entry in enumerate(kept):
        if posixpath.basename(entry["file"]) > name:
            position = index
            break
    entries = kept[:position] + [ours] + kept[position:]
    winner, how = effective_value(build_option_table(entries), normalize_key(key))
    if winner is None or how == "excluded":
        return None, False
    record = {"value": winner["value"], "file": winner["file"], "line": winner["line"]}
    if winner.get("resolved_file"):
        record["resolved_file"] = winner["resolved_file"]
    return record, winner["file"] == sysctl_file


# -- the plan -----------------------------------------------------------------

def _blocker(facts, context):
    """Why br_netfilter cannot be active after this role, as {code, message, remedy}, or None."""
    state = facts["state"]
    env = facts.get("environment") or {}
    context_args = {"container": env.get("container"), "state": state,
                    "release": facts.get("kernel_release") or "?"}
    if context == "container":
        if state in ACTIVE_STATES:
            return None
        row = BLOCKERS["container"]
    elif state == "blocked":
        blocked = facts.get("blocked_by") or {}
        row = BLOCKERS["blocked"]
        context_args.update(where=_where(blocked) if blocked else "?", command=blocked.get("command", "?"))
    elif state == "unavailable":
        row = BLOCKERS.get(facts.get("unavailable_reason")) or BLOCKERS["not_in_kernel"]
    else:
        return None
    return {"code": row["code"], "message": row["message"].format(**context_args),
            "remedy": row["remedy"].format(**context_args)}


def _boot_blocker(facts):
    state = facts["state"]
    if state == "loaded" and facts.get("blocked_by"):
        row = BOOT_BLOCKERS["blocked_at_boot"]
        args = {"where": _where(facts["blocked_by"]), "command": facts["blocked_by"].get("command")}
    elif state in ("loaded", "loadable") and facts.get("blacklisted"):
        row = BOOT_BLOCKERS["blacklisted"]
        args = {"where": ", ".join(_where(ref) for ref in facts.get("blacklisted_by") or []) or "modprobe.d"}
    else:
        return None
    return {"code": row["code"], "message": row["message"].format(**args), "remedy": row["remedy"]}


def _describe(blocker, tail=True):
    text = "%s Remedy: %s" % (blocker["message"], blocker["remedy"])
    if tail:
        text += _BLOCKER_TAIL.format(compat=COMPAT_ROLE, action=ACTION_VARIABLES)
    return "[%s] %s" % (blocker["code"], text)


def with_optional_sysctls(sysctls, **switches):
    """``sysctls`` plus OPTIONAL_SYSCTLS whose switch is on and whose key is not listed yet."""
    result = list(sysctls or [])
    listed = set(normalize_key(item["name"]) for item in result if isinstance(item, dict)
                 and isinstance(item.get("name"), str))
    unknown = sorted(set(switches) - set(OPTIONAL_SYSCTLS))
    if unknown:
        raise PlanError("unknown optional sysctl switch %s" % ", ".join(unknown))
    for switch, entry in OPTIONAL_SYSCTLS.items():
        if switches.get(switch) and normalize_key(entry["name"]) not in listed:
            result.append(dict(entry))
    return result


def sysctl_keys_of(entries):
    """The keys to pass to br_netfilter_facts' ``sysctl_keys`` for validated entries (canonical dotted form)."""
    return [entry["key"] for entry in entries]


def check_settings(sysctls, sysctl_file, modules_load_file, extra_modules=(), unavailable_action="fail",
                   ipv6_forwarding=False, arptables=False):
    """Validate the role settings without any facts; returns ``(entries, extra_modules)``.

    Raises PlanError with a message naming the bad setting.
    """
    if unavailable_action not in ACTIONS:
        raise PlanError("unavailable_action must be one of %s, got %r" % (", ".join(ACTIONS), unavailable_action))
    validate_conf_path(sysctl_file, SYSCTL_DIR, "the sysctl file")
    validate_conf_path(modules_load_file, MODULES_LOAD_DIR, "the modules-load file")
    if not isinstance(sysctls, (list, tuple)):
        raise PlanError("sysctls must be a list of {name, value}, got %s" % type(sysctls).__name__)
    entries = validate_sysctls(with_optional_sysctls(sysctls, ipv6_forwarding=ipv6_forwarding,
                                                     arptables=arptables))
    return entries, validate_modules(list(extra_modules or ()))


def plan_br_netfilter(facts, sysctls, sysctl_file, modules_load_file, extra_modules=(),
                      accept_overrides=False, unavailable_action="fail", ipv6_forwarding=False, arptables=False):
    """Decide what the br_netfilter role does on one host. See the module docstring.

    Raises PlanError for bad input. Returns a dict (all JSON types):
    ``context`` host|container; ``state``; ``load_module``; ``modules_load``
    {manage, path, modules}; ``sysctl`` {manage, path, entries, skipped};
    ``live`` {key: value} to set now; ``live_pending`` (keys whose live value
    differs from it); ``promised`` {key: value} now and after
    reboot; ``overrides``; ``modules_skipped`` (extra modules not listed for
    boot, with the reason); ``assert`` {module_now,
    module_at_boot, ready, ready_after_reboot, boot_modules}; ``errors``,
    ``warnings``, ``notes``; ``blocker``, ``boot_blocker``.
    """
    entries, extras = check_settings(sysctls, sysctl_file, modules_load_file, extra_modules, unavailable_action,
                                     ipv6_forwarding, arptables)
    if not isinstance(facts, dict) or "state" not in facts or "live" not in facts:
        raise PlanError("facts must be ansible_facts.br_netfilter from %s" % FACTS_MODULE)
    watched = facts.get("persisted_all") or {}
    unwatched = [entry["key"] for entry in entries if entry["key"] not in watched or entry["key"] not in facts["live"]]
    if unwatched:
        raise PlanError("the facts do not report %s: gather them with %s and sysctl_keys listing every key "
                        "the role sets (%s), so that a later sysctl.d file overriding one of them is found"
                        % (", ".join(unwatched), FACTS_MODULE, ", ".join(sysctl_keys_of(entries))))

    env = facts.get("environment") or {}
    context = "container" if env.get("container") else "host"
    state = facts["state"]
    errors, warnings, notes = [], [], []

    blocker = _blocker(facts, context)
    boot_blocker = _boot_blocker(facts) if context == "host" and blocker is None else None
    for problem in (blocker, boot_blocker):
        if problem is None:
            continue
        if unavailable_action == "fail":
            errors.append(_describe(problem, tail=problem is blocker))
        else:
            warnings.append("%s Continuing because the unavailable action is 'warn'." % _describe(problem))
    module_active = blocker is None

    # Files: only on a host. Without br_netfilter the bridge keys cannot be set and must not be persisted:
    # at boot systemd-sysctl would log "Couldn't write '1' to 'net/bridge/bridge-nf-call-iptables'".
    written, skipped = [], []
    for entry in entries:
        if not module_active and entry["name"].startswith(BRIDGE_KEY_PREFIX):
            skipped.append({"name": entry["name"], "value": entry["value"],
                            "reason": "br_netfilter is not active: the key does not exist"})
        else:
            written.append(entry)
    # An extra module the facts know to be blocked or missing is not listed: systemd-modules-load would fail on it.
    modules, modules_skipped = [], []
    known = facts.get("modules") or {}
    for name in extras:
        record = known.get(name) or {}
        if context == "host" and record.get("state") in ("blocked", "unavailable"):
            modules_skipped.append({"name": name, "state": record["state"], "reason": record.get("state_reason")})
            warnings.append("[MODULE_NOT_LISTED] %s is %s (%s): it is not listed in %s, because "
                            "systemd-modules-load.service would fail on it at boot."
                            % (name, record["state"], record.get("state_reason"), modules_load_file))
            continue
        modules.append(name)
    if context == "host" and module_active and state != "builtin" and MODULE not in modules:
        modules.append(MODULE)

    promised, live, overrides = {}, {}, []
    for entry in written:
        name, value = entry["key"], entry["value"]
        if context == "container":
            promised[name] = value
            live[name] = value
            continue
        winner, ours = effective_after_write(facts, name, value, sysctl_file)
        if ours:
            promised[name] = value
        elif winner is not None and same_value(winner["value"], value):
            promised[name] = value  # a later file sets the same value: harmless
        else:
            override = {"key": name, "ours": value, "value": winner["value"] if winner else None,
                        "file": winner["file"] if winner else None, "line": winner["line"] if winner else None}
            if winner and winner.get("resolved_file"):
                override["resolved_file"] = winner["resolved_file"]
            overrides.append(override)
            promised[name] = override["value"]
        if promised[name] is not None:
            live[name] = promised[name]

    for override in overrides:
        if override["file"]:
            text = ("%s = %s in %s would not survive a reboot: %s sets %s and systemd-sysctl applies it later "
                    "(files are sorted by name across all sysctl.d directories, and '%s' sorts after '%s')."
                    % (override["key"], override["ours"], sysctl_file, _where(override), override["value"],
                       posixpath.basename(override["file"]), posixpath.basename(sysctl_file)))
        else:
            text = ("%s = %s in %s would not be applied at boot: a later '-%s' line excludes it."
                    % (override["key"], override["ours"], sysctl_file, override["key"]))
        if accept_overrides:
            warnings.append("[SYSCTL_OVERRIDE_ACCEPTED] %s Accepted (%s): %s is set to %s now as well, so the value "
                            "does not change at the next boot." % (text, ACCEPT_VARIABLES, override["key"],
                                                                   override["value"]))
        else:
            errors.append("[SYSCTL_OVERRIDDEN] %s Remedy: change or remove that line, or give our file a name that "
                          "sorts later (br_netfilter_sysctl_file), or set %s: true to accept the other file's value."
                          % (text, ACCEPT_VARIABLES))
    now = facts.get("live") or {}
    live_pending = sorted(key for key, value in live.items() if not same_value(now.get(key), value))
    if context == "container":
        live, live_pending = {}, []
        notes.append("Inside a container (%s): no module is loaded, no file is written and /proc/sys is not "
                     "written; the host kernel's state is checked instead (br_netfilter is %s there)."
                     % (env.get("container"), state))
    if skipped:
        notes.append("Not persisted or set because br_netfilter is not active: %s."
                     % ", ".join(item["name"] for item in skipped))

    ready_keys_promised = all(same_value(promised.get(key), 1) for key in READY_KEYS)
    assertions = {
        "module_now": module_active,
        "module_at_boot": context == "host" and module_active and boot_blocker is None,
        "boot_modules": modules if context == "host" else [],
        "ready": module_active and ready_keys_promised,
        "ready_after_reboot": (context == "host" and module_active and boot_blocker is None
                               and ready_keys_promised),
    }
    return {
        "context": context,
        "state": state,
        "load_module": context == "host" and state == "loadable" and not errors,
        "modules_load": {"manage": context == "host" and bool(modules), "path": modules_load_file,
                         "modules": modules},
        "modules_skipped": modules_skipped,
        "sysctl": {"manage": context == "host" and bool(written), "path": sysctl_file,
                   "entries": [{"name": e["name"], "value": e["value"]} for e in written], "skipped": skipped},
        "live": live,
        "live_pending": live_pending,
        "promised": promised,
        "overrides": overrides,
        "assert": assertions,
        "blocker": blocker,
        "boot_blocker": boot_blocker,
        "errors": errors,
        "warnings": warnings,
        "notes": notes,
    }


# -- verification ---------------------------------------------------------------

def _problem_summary(facts):
    return "; ".join("[%s] %s" % (p["code"], p["message"]) for p in facts.get("problems") or []
                     if p.get("severity") in ("medium", "high")) or "no problem reported"


def verify_br_netfilter(plan, facts):
    """Check facts gathered after the changes against the plan's promises.

    The facts must watch every promised key (``sysctl_keys``). Returns
    ``{"ok", "failures", "summary", "live"}`` (``live``: the value of each
    promised key now).
    """
    failures = []
    observed = {}
    checks = plan["assert"]
    watched = facts.get("live") or {}
    if checks["module_now"] and facts["state"] not in ACTIVE_STATES:
        failures.append("br_netfilter is %s, expected loaded or built in (%s)"
                        % (facts["state"], facts.get("state_reason")))
    if checks["module_at_boot"] and not facts.get("module_active_at_boot"):
        # None: an input that decides it (a modprobe.d or modules-load.d file) could not be read.
        verdict = "may not be" if facts.get("module_active_at_boot") is None else "will not be"
        failures.append("br_netfilter %s active after a reboot: %s" % (verdict, _problem_summary(facts)))
    modules_load = facts.get("modules_load") or {}
    for module in checks.get("boot_modules") or []:
        record = modules_load.get(module)
        if record is not None and not record.get("persisted"):
            failures.append("%s is not listed for systemd-modules-load (expected in %s)"
                            % (module, plan["modules_load"]["path"]))
    after = facts.get("after_reboot") or {}
    for key, value in sorted(plan["promised"].items()):
        now = watched.get(key)
        observed[key] = now
        if key not in watched:
            failures.append("%s is not reported by the facts (gather them with sysctl_keys listing it)" % key)
        elif not same_value(now, value):
            failures.append("%s is %s now, promised %s" % (key, "absent" if now is None else now, value))
        if plan["context"] == "host" and key in after and not same_value(after[key], value):
            record = (facts.get("persisted") or {}).get(key)
            source = _where(record) if record else "no sysctl.d file sets it"
            if after[key] is None and key in (facts.get("persisted_unknown") or []):
                failures.append("%s is unknown after a reboot (an unreadable sysctl.d file may set it; %s), promised %s"
                                % (key, source, value))
            elif after[key] is None and key in (facts.get("after_reboot_unknown") or []):
                failures.append("%s will be the kernel's default (not known here) after a reboot (%s), promised %s"
                                % (key, source, value))
            else:
                outcome = "absent" if after[key] is None else after[key]
                failures.append("%s will be %s after a reboot (%s), promised %s" % (key, outcome, source, value))
    if checks["ready"] and not facts.get("ready"):
        failures.append("br_netfilter_facts reports ready=false: %s" % _problem_summary(facts))
    if checks["ready_after_reboot"] and not facts.get("ready_after_reboot"):
        failures.append("br_netfilter_facts reports ready_after_reboot=%s: %s" % (
            "unknown" if facts.get("ready_after_reboot") is None else "false", _problem_summary(facts)))
    if failures:
        summary = "Verification failed on this host: " + " | ".join(failures)
        if plan["context"] == "container":
            summary += (" | Inside a container nothing can be changed from here: the host (modules, bridge keys) "
                        "or the container runtime (per-namespace keys, e.g. podman run --sysctl "
                        "net.ipv4.ip_forward=1) must provide these.")
    else:
        summary = "Verified: br_netfilter %s; %s" % (facts["state"], ", ".join(
            "%s = %s" % (key, value) for key, value in sorted(plan["promised"].items())) or "no sysctl managed")
    return {"ok": not failures, "failures": failures, "summary": summary, "live": observed}


# -- Kubernetes / flannel readiness ---------------------------------------------------

def _describe_check(item):
    if item.get("failure"):
        outcome = '%s fails with: "%s"' % (item["tool"], item["failure"])
    else:
        outcome = "%s: %s" % (item["tool"], item["consequence"])
    return "%s (check: %s; observed: %s)" % (outcome, item["check"], item["observed"])


def _overlay_observed(facts, check_id):
    """(good, observed) for one OVERLAY_CHECKS row, from the facts' ``modules.overlay``."""
    record = (facts.get("modules") or {}).get("overlay")
    if not record:
        return False, "the facts do not report overlay (modules.overlay is missing)"
    state = record.get("state")
    if check_id == "overlay-present":
        return state in ACTIVE_STATES, "overlay is %s: %s" % (state, record.get("state_reason"))
    if record.get("active_at_boot"):
        return True, None
    blocked = record.get("blocked_by")
    if blocked:
        return False, "overlay is blocked at boot by %s ('%s')" % (_where(blocked), blocked.get("command"))
    if record.get("blacklisted"):
        return False, "overlay is blacklisted by %s; systemd-modules-load skips it" % ", ".join(
            _where(ref) for ref in record.get("blacklisted_by") or [])
    if state in ("loaded", "loadable"):
        return False, "no modules-load.d file lists overlay"
    return False, "overlay is %s: %s" % (state, record.get("state_reason"))


def k8s_node_readiness(facts, dual_stack=False, overlay=False):
    """Run K8S_CHECKS against the facts, and OVERLAY_CHECKS when ``overlay`` is true.

    Inside a container (``environment.container``) overlay-persisted is skipped: what loads at boot is the
    host's configuration. Returns ``{"ok", "failed": [check + "observed"], "passed": [ids], "summary"}``.
    """
    watched = facts.get("live") or {}
    failed, passed = [], []
    for check in K8S_CHECKS:
        if check["dual_stack_only"] and not dual_stack:
            continue
        key = check["key"]
        value = watched.get(key)
        if check["test"] == "present":
            good = value is not None
        else:
            good = same_value(value, 1)
        if good:
            passed.append(check["id"])
            continue
        item = dict(check)
        item["observed"] = ("%s is %s" % (key, "absent" if value is None else value)) if key in watched else (
            "%s is not reported by the facts" % key)
        failed.append(item)
    if overlay:
        in_container = bool((facts.get("environment") or {}).get("container"))
        for check in OVERLAY_CHECKS:
            if check["id"] == "overlay-persisted" and in_container:
                continue
            good, observed = _overlay_observed(facts, check["id"])
            if good:
                passed.append(check["id"])
            else:
                item = dict(check)
                item["observed"] = observed
                failed.append(item)
    if failed:
        summary = "Not ready for kubeadm/flannel: " + " | ".join(_describe_check(item) for item in failed)
    else:
        summary = "Ready for kubeadm/flannel: %s" % ", ".join(passed)
    return {"ok": not failed, "failed": failed, "passed": passed, "summary": summary}
