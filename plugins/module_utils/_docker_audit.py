# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The Docker/iptables audit as a pure function. No Ansible import.

``audit(collected) -> {"findings": [...], "summary": {...}}``

``collected`` is raw material (command output as text, files already read),
produced by ``_docker_collect.collect`` on a host or written by hand in tests::

    {
      "packages": {"manager": "dpkg", "installed": {"docker.io": {"version": "28.5.2+dfsg4-5"}}},
      "docker": {
        "dockerd_path": "/usr/sbin/dockerd" or None, "cli_path": ... or None,
        "dockerd_version_output": "Docker version 28.5.2, build ..." or None,
        "engine": {"socket": "/var/run/docker.sock", "socket_present": bool, "reachable": bool,
                   "error": str or None, "info": {...} or None, "networks": [...] or None,
                   "containers": [...] or None},
        "daemon_json": _docker_env.read_daemon_json(...),
        "systemd": _docker_env.read_systemd_unit(...),
        "rootless": _docker_env.read_rootless(...),
      },
      "iptables": {
        "binary": "/usr/sbin/iptables" or None,
        "version_output": "iptables v1.8.11 (nf_tables)" or None, "version_error": str or None,
        "saves": {"nf_tables": {"binary": ..., "text": ..., "error": ...} or None, "legacy": ... or None},
        "legacy_table_names": ["nat", "filter"] or None,
      },
      "routes": _docker_env.parse_proc_net_route(...),
      "br_netfilter": _br_netfilter.gather_br_netfilter_facts(...) or None,
      "br_netfilter_error": str or None,
    }

Every finding is ``{code, severity, message, evidence, remediation, reference}``;
codes and texts come from ``_known_issues.KNOWN_ISSUES``, whose ``condition``
names the predicate in ``CONDITIONS`` below.
"""

from __future__ import annotations

import re
import string

from ansible_collections.nodeprep.netfilter.plugins.module_utils import _docker_env as env
from ansible_collections.nodeprep.netfilter.plugins.module_utils import _iptables as ipt
from ansible_collections.nodeprep.netfilter.plugins.module_utils._known_issues import (
    EXPECTED_CHAINS,
    EXPECTED_JUMPS,
    KNOWN_ISSUES,
    SEVERITIES,
)
from ansible_collections.nodeprep.netfilter.plugins.module_utils._versions import (
    VersionError,
    compare_versions,
    upstream_version,
    version_matches,
)

_DOCKERD_VERSION_RE = re.compile(r"Docker version\s+v?(\S+?),")
BR_ACTIVE_STATES = ("loaded", "builtin")
BR_UNAVAILABLE_STATES = ("unavailable", "blocked")
OTHER_BACKEND = {"nf_tables": "legacy", "legacy": "nf_tables"}


def severity_rank(severity):
    """0 for info ... 3 for high; -1 for None/unknown."""
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        return -1


def _ge(version, other):
    return version is not None and compare_versions(version, other) >= 0


def _lt(version, other):
    return version is not None and compare_versions(version, other) < 0


# --- context -----------------------------------------------------------------

def build_context(collected):
    """Derive everything the conditions need from ``collected`` (pure)."""
    ctx = {"skipped": [], "privileges": collected.get("privileges")}
    _docker_ctx(collected, ctx)
    _iptables_ctx(collected, ctx)
    _br_ctx(collected, ctx)
    _settings_ctx(collected, ctx)
    _expectations_ctx(collected, ctx)
    return ctx


def _docker_ctx(collected, ctx):
    docker = collected.get("docker") or {}
    packages = (collected.get("packages") or {}).get("installed") or {}
    engine = docker.get("engine") or {}
    info = None
    info_error = None
    if engine.get("reachable") and engine.get("info") is not None:
        try:
            info = env.parse_docker_info(engine["info"])
        except env.ConfigError as exc:
            info_error = str(exc)
    package_name = next((name for name in env.DOCKER_ENGINE_PACKAGES if name in packages), None)
    package_version = packages[package_name]["version"] if package_name else None

    version = None
    source = None
    if info:
        version, source = upstream_version(info["server_version"]), "engine"
    if version is None and package_name:
        version, source = upstream_version(package_version), "package %s" % package_name
    if version is None and docker.get("dockerd_version_output"):
        match = _DOCKERD_VERSION_RE.search(docker["dockerd_version_output"])
        if match:
            version, source = upstream_version(match.group(1)), "dockerd --version"

    signals = []
    if package_name:
        signals.append("package %s %s" % (package_name, package_version))
    if docker.get("dockerd_path"):
        signals.append("dockerd at %s" % docker["dockerd_path"])
    systemd = docker.get("systemd") or {}
    if systemd.get("unit"):
        signals.append("unit %s%s" % (systemd["unit"], " (masked)" if systemd.get("masked") else ""))
    if engine.get("reachable"):
        signals.append("engine API at %s" % engine.get("socket"))
    ctx["docker"] = {
        "signals": signals,
        "version": version,
        "version_source": source,
        "server_version": info["server_version"] if info else None,
        "package": package_name,
        "package_version": package_version,
        "engine_running": bool(info),
        "engine_socket": engine.get("socket"),
        "engine_error": engine.get("error") or info_error,
        "info": info,
        "cli_path": docker.get("cli_path"),
        "rootless": list(docker.get("rootless") or []),
        "rootless_engine": bool(info and info["rootless"]),
    }


def _iptables_ctx(collected, ctx):
    data = collected.get("iptables") or {}
    result = {
        "binary": data.get("binary"),
        "version": None,
        "backend": None,
        "errors": [],
        "parsed": {},
        "legacy_table_names": data.get("legacy_table_names"),
    }
    if data.get("version_output"):
        try:
            parsed_version = ipt.parse_iptables_version(data["version_output"])
            result["version"] = parsed_version["version"]
            result["backend"] = parsed_version["backend"]
        except ipt.IptablesParseError as exc:
            result["errors"].append({"backend": "iptables --version", "error": str(exc)})
    elif data.get("version_error"):
        result["errors"].append({"backend": "iptables --version", "error": data["version_error"]})
    for backend in ipt.BACKENDS:
        save = (data.get("saves") or {}).get(backend)
        if not save:
            continue
        if save.get("error"):
            result["errors"].append({"backend": backend, "error": save["error"]})
            continue
        try:
            result["parsed"][backend] = ipt.parse_iptables_save(save.get("text") or "")
        except ipt.IptablesParseError as exc:
            result["errors"].append({"backend": backend, "error": "unparsable iptables-save output: %s" % exc})
    if result["backend"] is None:
        # No version line: trust a single backend that holds rules.
        with_content = [b for b, parsed in result["parsed"].items() if ipt.has_content(parsed)]
        if len(with_content) == 1:
            result["backend"] = with_content[0]
    packages = (collected.get("packages") or {})
    installed = packages.get("installed") or {}
    result["package_manager"] = packages.get("manager")
    result["package_version"] = installed.get("iptables", {}).get("version")
    result["docker_chains"] = dict(
        (backend, ipt.docker_chains(parsed)) for backend, parsed in result["parsed"].items())
    ctx["iptables"] = result


def _br_ctx(collected, ctx):
    facts = collected.get("br_netfilter")
    if not isinstance(facts, dict) or "state" not in facts:
        ctx["br"] = {"known": False, "state": None, "active": None, "unavailable": None,
                     "error": collected.get("br_netfilter_error") or "br_netfilter facts not gathered"}
        return
    state = facts.get("state")
    key_present = facts.get("bridge_nf_call_iptables_present")
    ctx["br"] = {
        "known": True,
        "state": state,
        "active": state in BR_ACTIVE_STATES and key_present is not False,
        "unavailable": state in BR_UNAVAILABLE_STATES,
        "false_positive_dir": bool(facts.get("false_positive_bridge_dir")),
        "error": None,
    }


def _settings_ctx(collected, ctx):
    docker = collected.get("docker") or {}
    daemon_json = docker.get("daemon_json") or {}
    explicit = dict(daemon_json.get("explicit") or {})
    systemd = docker.get("systemd") or {}
    flags = env.parse_dockerd_flags(systemd.get("exec_start"))
    settings = {}
    sources = {}
    for key, meta in env.DAEMON_SETTINGS.items():
        if key in flags and isinstance(flags[key], (bool, str)):
            settings[key], sources[key] = flags[key], "ExecStart flag in %s" % systemd.get("unit")
        elif key in explicit:
            settings[key], sources[key] = explicit[key], daemon_json.get("path", env.DAEMON_JSON)
        else:
            settings[key], sources[key] = meta["default"], "default"
    info = ctx["docker"]["info"]
    if info and info.get("firewall_backend"):
        settings["firewall-backend"] = info["firewall_backend"]
        sources["firewall-backend"] = "docker info"
    environment = systemd.get("environment") or {}
    ctx["settings"] = settings
    ctx["settings_sources"] = sources
    ctx["flags"] = flags
    ctx["daemon_json"] = daemon_json
    ctx["env"] = environment
    ctx["env_sources"] = systemd.get("environment_sources") or {}
    ctx["ignore_env"] = environment.get(env.IGNORE_BR_NETFILTER_ENV)

    version = ctx["docker"]["version"]
    needed_by = []
    if settings.get("iptables") is not False or settings.get("ip6tables"):
        if settings.get("icc") is False:
            needed_by.append("icc=false")
        # Before 27.3 a failed br_netfilter load was only logged for userland-proxy=false.
        if settings.get("userland-proxy") is False and (version is None or _ge(version, "27.3.0")):
            needed_by.append("userland-proxy=false")
    ctx["needed_by"] = needed_by


def _expectations_ctx(collected, ctx):
    """Which bridges and published ports the rules must serve, and from where."""
    engine = ((collected.get("docker") or {}).get("engine") or {})
    routes = collected.get("routes") or []
    active = ctx["iptables"]["parsed"].get(ctx["iptables"]["backend"])
    if ctx["docker"]["engine_running"] and engine.get("networks") is not None:
        networks = env.parse_networks(engine.get("networks"))
        ctx["networks"] = [net for net in networks
                           if net["masquerade"] and not net["internal"] and net["gateway_mode_ipv4"] != "routed"]
        ctx["networks_source"] = "engine"
    else:
        ctx["networks"] = _networks_from_rules(active, routes)
        ctx["networks_source"] = "rules"
    if ctx["docker"]["engine_running"] and engine.get("containers") is not None:
        ctx["published"] = env.parse_containers(engine.get("containers"))
        ctx["published_source"] = "engine"
    else:
        ctx["published"] = _published_from_rules(active)
        ctx["published_source"] = "rules"


def _bridge_of(rule, option):
    found = ipt.rule_option(rule, option)
    if found and not found[1] and found[0] and "+" not in found[0]:
        return found[0]
    return None


def _networks_from_rules(parsed, routes):
    """Bridges Docker's own rules name: ``-A DOCKER -i BR -j RETURN`` (nat) and
    ``-o BR -j DOCKER`` (filter). Subnets come from the interface routes."""
    if not parsed:
        return []
    bridges = []
    for rule in ipt.chain_rules(parsed, "nat", "DOCKER"):
        if ipt.rule_target(rule) == "RETURN":
            bridge = _bridge_of(rule, "-i")
            if bridge and bridge not in bridges:
                bridges.append(bridge)
    for chain in ("FORWARD", "DOCKER-BRIDGE"):
        for rule in ipt.chain_rules(parsed, "filter", chain):
            if ipt.rule_target(rule) == "DOCKER":
                bridge = _bridge_of(rule, "-o")
                if bridge and bridge not in bridges:
                    bridges.append(bridge)
    networks = []
    for bridge in bridges:
        subnets = [route["subnet"] for route in routes if route["iface"] == bridge]
        networks.append({"name": None, "bridge": bridge, "subnets": subnets})
    return networks


def _published_from_rules(parsed):
    """Published ports Docker's filter rules admit:
    ``-A DOCKER -d IP/32 ! -i BR -o BR -p tcp -m tcp --dport CPORT -j ACCEPT``."""
    published = []
    for rule in ipt.chain_rules(parsed, "filter", "DOCKER"):
        if ipt.rule_target(rule) != "ACCEPT":
            continue
        dest = ipt.rule_option(rule, "-d", ("--destination",))
        port = ipt.rule_option(rule, "--dport", ("--destination-port",))
        proto = ipt.rule_option(rule, "-p", ("--protocol",))
        if not dest or dest[1] or not port or port[1]:
            continue
        address = dest[0].split("/")[0]
        published.append({
            "container": None,
            "host_ip": None,
            "host_port": None,
            "container_port": int(port[0]) if port[0].isdigit() else port[0],
            "proto": proto[0] if proto else "tcp",
            "container_ips": [address],
        })
    return published


# --- applicability -----------------------------------------------------------

def _docker_present(ctx):
    chains_anywhere = any(ctx["iptables"]["docker_chains"].values())
    return bool(ctx["docker"]["signals"]) or chains_anywhere


NO_DOCKER_CHAINS = "no Docker chain in the active backend"


def _rules_checkable(ctx):
    """None when the chain/jump/NAT checks apply, else the reason they do not."""
    if not _docker_present(ctx):
        return "Docker not installed"
    if ctx["settings"].get("iptables") is False:
        return "dockerd runs with iptables=false"
    backend = ctx["settings"].get("firewall-backend")
    if backend and backend not in ("iptables", "iptables+firewalld"):
        return "dockerd uses the %s firewall backend" % backend
    if ctx["docker"]["rootless_engine"]:
        return "the engine on the audited socket is rootless"
    ipts = ctx["iptables"]
    if not ipts["binary"] and not ipts["parsed"]:
        return "no iptables binary"
    if ipts["backend"] is None or ipts["backend"] not in ipts["parsed"]:
        return "the active iptables backend's rules could not be read"
    if not ipts["docker_chains"].get(ipts["backend"]):
        if not ctx["docker"]["engine_running"] and not any(ipts["docker_chains"].values()):
            return "Docker engine not running and no Docker chain present"
        return NO_DOCKER_CHAINS
    return None


# --- conditions: ctx -> [evidence, ...] ------------------------------------

def _cond_docker_not_installed(ctx):
    return [] if _docker_present(ctx) else [{"cli": ctx["docker"]["cli_path"]}]


def _cond_docker_version_unknown(ctx):
    if not _docker_present(ctx) or ctx["docker"]["version"]:
        return []
    signals = list(ctx["docker"]["signals"])
    if any(ctx["iptables"]["docker_chains"].values()):
        signals.append("Docker chains in the iptables rules")
    return [{"signals": ", ".join(signals)}]


def _cond_docker_engine_not_running(ctx):
    docker = ctx["docker"]
    if docker["engine_running"] or not docker["signals"]:
        return []
    return [{"socket": docker["engine_socket"], "error": docker["engine_error"] or "not reachable"}]


def _cond_docker_rootless(ctx):
    evidence = []
    for item in ctx["docker"]["rootless"]:
        evidence.append({"user": item.get("user"), "port_driver": item.get("port_driver"),
                         "unit": item.get("unit"), "enabled": item.get("enabled")})
    if ctx["docker"]["rootless_engine"] and not evidence:
        evidence.append({"user": "(engine at %s)" % ctx["docker"]["engine_socket"], "port_driver": "unknown"})
    return evidence


def _cond_docker_iptables_disabled(ctx):
    if not _docker_present(ctx) or ctx["settings"].get("iptables") is not False:
        return []
    return [{"source": ctx["settings_sources"].get("iptables")}]


def _cond_docker_firewall_backend_nftables(ctx):
    backend = ctx["settings"].get("firewall-backend")
    if not _docker_present(ctx) or not backend or backend in ("iptables", "iptables+firewalld"):
        return []
    return [{"backend": backend, "source": ctx["settings_sources"].get("firewall-backend")}]


def _cond_iptables_not_found(ctx):
    ipts = ctx["iptables"]
    if not _docker_present(ctx) or ctx["settings"].get("iptables") is False:
        return []
    if ipts["binary"] or ipts["parsed"]:
        return []
    return [{"detail": "searched PATH and /sbin, /usr/sbin, /usr/local/sbin"}]


def _cond_audit_unprivileged(ctx):
    privileges = ctx["privileges"]
    if not privileges:
        return []
    missing = [name for name, key in (("CAP_NET_ADMIN", "cap_net_admin"), ("CAP_DAC_READ_SEARCH", "cap_dac_read_search"))
               if not privileges[key]]
    if not missing:
        return []
    return [{"uid": privileges["uid"], "missing": ", ".join(missing)}]


def _cond_iptables_read_failed(ctx):
    return [dict(item) for item in ctx["iptables"]["errors"]]


def _cond_daemon_json_invalid(ctx):
    daemon_json = ctx["daemon_json"]
    if not daemon_json.get("error"):
        return []
    return [{"path": daemon_json.get("path"), "error": daemon_json["error"]}]


def _cond_dockerd_flag_conflict(ctx):
    explicit = ctx["daemon_json"].get("explicit") or {}
    evidence = []
    for key in sorted(ctx["flags"]):
        if key in explicit:
            evidence.append({"setting": key, "flag_value": ctx["flags"][key], "file_value": explicit[key],
                             "unit": ctx["settings_sources"].get(key, "").replace("ExecStart flag in ", ""),
                             "path": ctx["daemon_json"].get("path")})
    return evidence


def _br_evidence(ctx):
    return {
        "version": ctx["docker"]["version"],
        "needed_by": " and ".join(ctx["needed_by"]),
        "br_state": ctx["br"]["state"],
        "ignore_env": ctx["ignore_env"],
    }


def _cond_br_needed_unavailable(ctx):
    if not ctx["needed_by"] or not ctx["br"]["known"] or not ctx["br"]["unavailable"]:
        return []
    evidence = _br_evidence(ctx)
    evidence["env_note"] = ""
    if ctx["ignore_env"] is not None:
        evidence["env_note"] = " (DOCKER_IGNORE_BR_NETFILTER_ERROR=%s is set but ignored)" % ctx["ignore_env"]
    return [evidence]


def _cond_br_needed_unavailable_not_ignored(ctx):
    if ctx["ignore_env"] == "1":
        return []
    return _cond_br_needed_unavailable(ctx)


def _cond_br_needed_unavailable_ignored(ctx):
    if ctx["ignore_env"] != "1":
        return []
    found = _cond_br_needed_unavailable(ctx)
    for evidence in found:
        evidence["source"] = ctx["env_sources"].get(env.IGNORE_BR_NETFILTER_ENV)
    return found


def _cond_ignore_env_set_not_needed(ctx):
    if ctx["ignore_env"] is None:
        return []
    version = ctx["docker"]["version"]
    if ctx["ignore_env"] == "1" and ctx["needed_by"] and ctx["br"]["known"] and ctx["br"]["unavailable"] \
            and (version is None or _ge(version, "27.5.1")):
        return []  # reported as DOCKER_BR_NETFILTER_ERROR_IGNORED
    if ctx["needed_by"] and ctx["br"]["known"] and ctx["br"]["unavailable"]:
        return []  # reported as DOCKER_BR_NETFILTER_REQUIRED(_NO_ESCAPE)
    if not ctx["needed_by"]:
        why = "icc and userland-proxy are at their defaults"
    elif ctx["br"]["known"]:
        why = "br_netfilter is %s" % ctx["br"]["state"]
    else:
        why = "br_netfilter state unknown"
    return [{"value": ctx["ignore_env"], "source": ctx["env_sources"].get(env.IGNORE_BR_NETFILTER_ENV), "why": why}]


def _cond_br_needed_inactive(ctx):
    if not ctx["needed_by"] or not ctx["br"]["known"] or ctx["br"]["active"]:
        return []
    evidence = _br_evidence(ctx)
    evidence["false_positive_dir"] = ctx["br"]["false_positive_dir"]
    return [evidence]


def _cond_rootless_slirp4netns(ctx):
    return [{"user": item.get("user"), "unit": item.get("unit"), "source": item.get("port_driver_source")}
            for item in ctx["docker"]["rootless"] if item.get("port_driver") == "slirp4netns"]


def _cond_docker_uses_iptables(ctx):
    if not _docker_present(ctx) or ctx["settings"].get("iptables") is False:
        return []
    return [{"iptables_version": ctx["iptables"]["package_version"], "docker_version": ctx["docker"]["version"]}]


def _cond_docker_rules_absent(ctx):
    """Engine up, rules readable, yet no Docker chain in any backend."""
    ipts = ctx["iptables"]
    if _rules_checkable(ctx) != NO_DOCKER_CHAINS or any(ipts["docker_chains"].values()):
        return []
    if not ctx["docker"]["engine_running"]:
        return []
    return [{"backend": ipts["backend"]}]


def _cond_docker_chains_in_inactive_backend(ctx):
    ipts = ctx["iptables"]
    active = ipts["backend"]
    if active is None:
        return []
    other = OTHER_BACKEND[active]
    chains = ipts["docker_chains"].get(other) or {}
    if not chains:
        return []
    listed = ", ".join("%s/%s" % (table, chain) for table, names in sorted(chains.items()) for chain in names)
    return [{"backend": other, "active": active, "chains": listed}]


def _cond_rules_in_both_backends(ctx):
    parsed = ctx["iptables"]["parsed"]
    if len(parsed) < 2 or not all(ipt.has_content(item) for item in parsed.values()):
        return []
    detail = "; ".join("%s: %d rules" % (backend, sum(len(t["rules"]) for t in item["tables"].values()))
                       for backend, item in sorted(parsed.items()))
    return [{"detail": detail}]


def _expected_for(since, before):
    if since and before:
        return "Docker >= %s and < %s" % (since, before)
    if since:
        return "Docker >= %s" % since
    if before:
        return "Docker < %s" % before
    return "every Docker version"


def _applies(version, since, before):
    if since and (version is None or _lt(version, since)):
        return False
    if before and (version is None or _ge(version, before)):
        return False
    return True


def _active(ctx):
    return ctx["iptables"]["parsed"][ctx["iptables"]["backend"]]


def _cond_docker_chain_missing(ctx):
    if _rules_checkable(ctx) is not None:
        return []
    parsed = _active(ctx)
    version = ctx["docker"]["version"]
    evidence = []
    for row in EXPECTED_CHAINS:
        if not _applies(version, row["since"], None):
            continue
        if not ipt.has_chain(parsed, row["table"], row["chain"]):
            evidence.append({"table": row["table"], "chain": row["chain"],
                             "expected_for": _expected_for(row["since"], None),
                             "backend": ctx["iptables"]["backend"]})
    return evidence


def _jumps(parsed, table, from_chain, to_chain):
    return [rule for rule in ipt.chain_rules(parsed, table, from_chain) if ipt.rule_target(rule) == to_chain]


def _cond_docker_jump_missing(ctx):
    if _rules_checkable(ctx) is not None:
        return []
    parsed = _active(ctx)
    version = ctx["docker"]["version"]
    evidence = []
    for row in EXPECTED_JUMPS:
        if not _applies(version, row["since"], row["before"]):
            continue
        if not _jumps(parsed, row["table"], row["from"], row["to"]):
            evidence.append({"table": row["table"], "from_chain": row["from"], "to_chain": row["to"],
                             "expected_for": _expected_for(row["since"], row["before"]),
                             "backend": ctx["iptables"]["backend"]})
    return evidence


def _cond_docker_user_not_first(ctx):
    if _rules_checkable(ctx) is not None:
        return []
    rules = ipt.chain_rules(_active(ctx), "filter", "FORWARD")
    for position, rule in enumerate(rules, 1):
        if ipt.rule_target(rule) == "DOCKER-USER":
            if position == 1:
                return []
            return [{"position": position, "first_rule": ipt.format_rule(rules[0])}]
    return []  # a missing jump is DOCKER_JUMP_MISSING


def _masquerades(parsed):
    found = []
    for rule in ipt.chain_rules(parsed, "nat", "POSTROUTING"):
        if ipt.rule_target(rule) != "MASQUERADE":
            continue
        source = ipt.rule_option(rule, "-s", ("--source",))
        out = ipt.rule_option(rule, "-o", ("--out-interface",))
        found.append({
            "source": source[0] if source and not source[1] else None,
            "not_out": out[0] if out and out[1] else None,
            "rule": ipt.format_rule(rule),
        })
    return found


def _cond_docker_masquerade_missing(ctx):
    if _rules_checkable(ctx) is not None:
        return []
    masquerades = _masquerades(_active(ctx))
    evidence = []
    for net in ctx["networks"]:
        bridge = net["bridge"]
        subnets = net["subnets"] or [None]
        for subnet in subnets:
            ok = any(item["not_out"] == bridge and (subnet is None or item["source"] == subnet)
                     for item in masquerades)
            if not ok:
                evidence.append({"network": net.get("name") or bridge, "bridge": bridge,
                                 "subnet": subnet or "(subnet unknown: any source)",
                                 "expected_from": ctx["networks_source"]})
    return evidence


def _dnat_rules(parsed):
    found = []
    for rule in ipt.chain_rules(parsed, "nat", "DOCKER"):
        if ipt.rule_target(rule) != "DNAT":
            continue
        dport = ipt.rule_option(rule, "--dport", ("--destination-port",))
        proto = ipt.rule_option(rule, "-p", ("--protocol",))
        dest = ipt.rule_option(rule, "--to-destination", ("--to",))
        found.append({
            "dport": dport[0] if dport else None,
            "proto": proto[0] if proto else None,
            "to": dest[0] if dest else None,
        })
    return found


def _cond_docker_dnat_missing(ctx):
    if _rules_checkable(ctx) is not None:
        return []
    dnats = _dnat_rules(_active(ctx))
    evidence = []
    for port in ctx["published"]:
        targets = ["%s:%s" % (ip, port["container_port"]) for ip in port["container_ips"]]
        ok = False
        for rule in dnats:
            if rule["proto"] not in (None, port["proto"]) or rule["to"] not in targets:
                continue
            if port["host_port"] is not None and rule["dport"] != str(port["host_port"]):
                continue
            ok = True
            break
        if not ok:
            known = port["host_port"] is not None
            evidence.append({
                "port": port["host_port"],
                "port_text": "host port %s" % port["host_port"] if known else "a published port",
                "proto": port["proto"],
                "destination": " or ".join(targets) or "(container address unknown)",
                "container": "container %s" % port["container"] if port["container"]
                             else "admitted by filter chain DOCKER",
                "expected_from": ctx["published_source"],
            })
    return evidence


CONDITIONS = {
    "docker_not_installed": _cond_docker_not_installed,
    "docker_version_unknown": _cond_docker_version_unknown,
    "docker_engine_not_running": _cond_docker_engine_not_running,
    "docker_rootless": _cond_docker_rootless,
    "docker_iptables_disabled": _cond_docker_iptables_disabled,
    "docker_firewall_backend_nftables": _cond_docker_firewall_backend_nftables,
    "iptables_not_found": _cond_iptables_not_found,
    "audit_unprivileged": _cond_audit_unprivileged,
    "iptables_read_failed": _cond_iptables_read_failed,
    "daemon_json_invalid": _cond_daemon_json_invalid,
    "dockerd_flag_conflict": _cond_dockerd_flag_conflict,
    "br_netfilter_needed_and_unavailable": _cond_br_needed_unavailable,
    "br_netfilter_needed_unavailable_not_ignored": _cond_br_needed_unavailable_not_ignored,
    "br_netfilter_needed_unavailable_ignored": _cond_br_needed_unavailable_ignored,
    "ignore_br_netfilter_env_set_not_needed": _cond_ignore_env_set_not_needed,
    "br_netfilter_needed_and_inactive": _cond_br_needed_inactive,
    "rootless_slirp4netns_port_driver": _cond_rootless_slirp4netns,
    "docker_uses_iptables": _cond_docker_uses_iptables,
    "docker_rules_absent": _cond_docker_rules_absent,
    "docker_chains_in_inactive_backend": _cond_docker_chains_in_inactive_backend,
    "rules_in_both_backends": _cond_rules_in_both_backends,
    "docker_chain_missing": _cond_docker_chain_missing,
    "docker_jump_missing": _cond_docker_jump_missing,
    "docker_user_not_first": _cond_docker_user_not_first,
    "docker_masquerade_missing": _cond_docker_masquerade_missing,
    "docker_dnat_missing": _cond_docker_dnat_missing,
}


# --- the audit ---------------------------------------------------------------

class _Blank(dict):
    def __missing__(self, key):
        return "?"


def _format(template, evidence):
    values = _Blank()
    for key, value in evidence.items():
        values[key] = "?" if value is None else value
    return string.Formatter().vformat(template, (), values)


def _component_version(ctx, component):
    if component == "docker":
        return ctx["docker"]["version"], "deb"
    if component == "iptables-deb":
        if ctx["iptables"]["package_manager"] != "dpkg":
            return None, "deb"
        return ctx["iptables"]["package_version"], "deb"
    raise KeyError("unknown component %r in the known-issues table" % component)


def _row_applies(ctx, row):
    if not row.get("component"):
        return True
    version, scheme = _component_version(ctx, row["component"])
    if version is None:
        return False
    try:
        return version_matches(version, row.get("versions") or {}, scheme)
    except VersionError:
        return False


def audit(collected, issues=None):
    """Findings and summary for one host. ``issues`` defaults to KNOWN_ISSUES."""
    ctx = build_context(collected)
    findings = []
    for row in issues if issues is not None else KNOWN_ISSUES:
        if not _row_applies(ctx, row):
            continue
        for evidence in CONDITIONS[row["condition"]](ctx):
            findings.append({
                "code": row["code"],
                "severity": row["severity"],
                "message": _format(row["message"], evidence),
                "evidence": evidence,
                "remediation": _format(row["remediation"], evidence),
                "reference": list(row["reference"]),
            })
    findings.sort(key=lambda item: -severity_rank(item["severity"]))
    return {"findings": findings, "summary": summarize(ctx, findings)}


def summarize(ctx, findings):
    counts = dict((severity, 0) for severity in SEVERITIES)
    for finding in findings:
        counts[finding["severity"]] += 1
    highest = None
    for severity in SEVERITIES:
        if counts[severity]:
            highest = severity
    skipped = _rules_checkable(ctx)
    ipts = ctx["iptables"]
    return {
        "docker_present": _docker_present(ctx),
        "docker_version": ctx["docker"]["version"],
        "docker_version_source": ctx["docker"]["version_source"],
        "docker_package": ctx["docker"]["package"],
        "docker_package_version": ctx["docker"]["package_version"],
        "engine_running": ctx["docker"]["engine_running"],
        "rootless_users": [item.get("user") for item in ctx["docker"]["rootless"]],
        "settings": ctx["settings"],
        "settings_sources": ctx["settings_sources"],
        "ignore_br_netfilter_error": ctx["ignore_env"],
        "br_netfilter_state": ctx["br"]["state"],
        "br_netfilter_needed_by": ctx["needed_by"],
        "iptables_binary": ipts["binary"],
        "iptables_version": ipts["version"],
        "iptables_backend": ipts["backend"],
        "iptables_package_version": ipts["package_version"],
        "backends_read": sorted(ipts["parsed"]),
        "docker_chains": ipts["docker_chains"],
        "networks_checked": [dict(net, source=ctx["networks_source"]) for net in ctx["networks"]],
        "published_ports_checked": len(ctx["published"]),
        "rule_checks": "skipped: %s" % skipped if skipped else "done",
        "counts": counts,
        "highest_severity": highest,
        "codes": sorted(set(finding["code"] for finding in findings)),
    }


def failing(findings, fail_on):
    """Findings at or above ``fail_on`` (``none`` -> [])."""
    if fail_on in (None, "none"):
        return []
    threshold = severity_rank(fail_on)
    if threshold < 0:
        raise ValueError("fail_on must be one of none, %s; got %r" % (", ".join(SEVERITIES), fail_on))
    return [item for item in findings if severity_rank(item["severity"]) >= threshold]
