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
names the predicate in ``HOST_CONDITIONS`` below (checks that apply with or
without Docker) or in ``_docker_checks.DOCKER_CONDITIONS``.

Modules run from an AnsiballZ zip, where every import is compiled from source
on every host. ``_docker_checks`` is therefore imported only when
``docker_traces(ctx)`` finds something Docker left on the host; on a host
without any (most Kubernetes nodes run containerd alone) its conditions all
return ``[]``, so the result is the same without them. ``_versions`` is imported
only when a Docker version is known or compared, which needs such a trace too.
"""

from __future__ import annotations

import re
import string

from ansible_collections.nodeprep.netfilter.plugins.module_utils import _docker_env as env
from ansible_collections.nodeprep.netfilter.plugins.module_utils import _iptables as ipt
from ansible_collections.nodeprep.netfilter.plugins.module_utils._known_issues import (
    KNOWN_ISSUES,
    SEVERITIES,
)

_DOCKERD_VERSION_RE = re.compile(r"Docker version\s+v?(\S+?),")


def severity_rank(severity):
    """0 for info ... 3 for high; -1 for None/unknown."""
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        return -1


def _versions():
    """``_versions``, imported on first use (see the module docstring)."""
    from ansible_collections.nodeprep.netfilter.plugins.module_utils import _versions as versions
    return versions


def _ge(version, other):
    return version is not None and _versions().compare_versions(version, other) >= 0


def _lt(version, other):
    return version is not None and _versions().compare_versions(version, other) < 0


# --- context -----------------------------------------------------------------

def build_context(collected):
    """Derive everything the conditions need from ``collected`` (pure)."""
    packages = collected.get("packages") or {}
    ctx = {"skipped": [], "privileges": collected.get("privileges"),
           # _docker_collect.collect_packages marks a corrupt dpkg status "unknown": its empty list is not "none"
           "package_db_error": (packages.get("error") or "unreadable") if packages.get("unknown") else None}
    _docker_ctx(collected, ctx)
    _iptables_ctx(collected, ctx)
    _br_ctx(collected, ctx)
    _settings_ctx(collected, ctx)
    _need_ctx(collected, ctx)
    _expectations_ctx(collected, ctx)
    _ip6_ctx(collected, ctx)
    ctx["start_blocker"] = _start_blocker(ctx)
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
        version, source = _versions().upstream_version(info["server_version"]), "engine"
    if version is None and package_name:
        version, source = _versions().upstream_version(package_version), "package %s" % package_name
    if version is None and docker.get("dockerd_version_output"):
        match = _DOCKERD_VERSION_RE.search(docker["dockerd_version_output"])
        if match:
            version, source = _versions().upstream_version(match.group(1)), "dockerd --version"

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
        ctx["br"] = {"known": False, "state": None,
                     "error": collected.get("br_netfilter_error") or "br_netfilter facts not gathered"}
        return
    ctx["br"] = {"known": True, "state": facts.get("state"), "error": None}


def _settings_ctx(collected, ctx):
    docker = collected.get("docker") or {}
    daemon_json = docker.get("daemon_json") or {}
    systemd = docker.get("systemd") or {}
    flags = env.parse_dockerd_flags(systemd.get("exec_start"))
    settings, sources = env.effective_settings(daemon_json, flags, systemd.get("unit"))
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


def _need_ctx(collected, ctx):
    """``_br_netfilter_need.br_netfilter_need`` for this host: the decision the role makes too.

    Imported only when a Docker version is known (``_versions`` is loaded then anyway).
    """
    ctx["need"] = None
    ctx["needed_by"] = []
    ctx["hatch_mode"] = None
    source = ctx["env_sources"].get(env.IGNORE_BR_NETFILTER_ENV)
    if source:
        first_lines = ((collected.get("docker") or {}).get("systemd") or {}).get("dropin_first_lines") or {}
        path = source.rsplit(":", 1)[0] if ":" in source else source
        if path in first_lines:
            from ansible_collections.nodeprep.netfilter.plugins.module_utils._br_netfilter_need import dropin_mode
            ctx["hatch_mode"] = dropin_mode(first_lines[path])
    version = ctx["docker"]["version"]
    if version is None:
        return
    from ansible_collections.nodeprep.netfilter.plugins.module_utils import _br_netfilter_need as need
    engine = ((collected.get("docker") or {}).get("engine") or {})
    networks = None
    if ctx["docker"]["engine_running"] and engine.get("networks") is not None:
        networks = env.parse_networks(engine.get("networks"))
    facts = collected.get("br_netfilter") if ctx["br"]["known"] else None
    try:
        ctx["need"] = need.br_netfilter_need(version, ctx["settings"], facts, networks, ctx["ignore_env"])
    except need.NeedError as exc:
        ctx["skipped"].append("br_netfilter decision: %s" % exc)
        return
    ctx["needed_by"] = ctx["need"]["needed_by"]


def _start_blocker(ctx):
    """Why dockerd cannot start with this configuration (None: no known reason)."""
    if ctx["daemon_json"].get("error"):
        return "DAEMON_JSON_INVALID"
    explicit = ctx["daemon_json"].get("explicit") or {}
    if any(key in explicit for key in ctx["flags"]):
        return "DOCKERD_FLAG_CONFLICT"
    need = ctx.get("need")
    if need and need["effective"] == "fails" and need["failure"] == "start":
        return "DOCKER_BR_NETFILTER_REQUIRED_NO_ESCAPE" if not need["escape_hatch_allowed"] \
            else "DOCKER_BR_NETFILTER_REQUIRED"
    return None


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


#: First Docker release whose ``ip6tables`` setting defaults to true (moby PR #48560, release notes 27.0.1).
IP6TABLES_DEFAULT_ON_SINCE = "27.0.0"


def ip6tables_enabled(settings, version):
    """``(enabled, why)``: does dockerd program ip6tables? ``enabled`` is None when that cannot be known.

    ``iptables: false`` turns off both families; an explicit ``ip6tables`` wins otherwise; the default is true from
    Docker 27.0 and false before.
    """
    if settings.get("iptables") is False:
        return False, "iptables=false turns off ip6tables too"
    explicit = settings.get("ip6tables")
    if isinstance(explicit, bool):
        return explicit, "ip6tables=%s" % ("true" if explicit else "false")
    if version is None:
        return None, "Docker's version is unknown, so the ip6tables default is too"
    if _ge(version, IP6TABLES_DEFAULT_ON_SINCE):
        return True, "default since Docker %s" % IP6TABLES_DEFAULT_ON_SINCE
    return False, "default before Docker %s" % IP6TABLES_DEFAULT_ON_SINCE


def ipv6_networks(networks):
    """Bridge networks with IPv6 whose IPv6 traffic Docker masquerades, from sanitized ``GET /networks``.

    A network counts with ``EnableIPv6`` and at least one IPv6 subnet in its IPAM config.
    """
    found = []
    for item in networks or []:
        if not isinstance(item, dict) or item.get("Driver") != "bridge" or item.get("EnableIPv6") is not True:
            continue
        configs = (item.get("IPAM") or {}).get("Config") or []
        subnets = [config["Subnet"] for config in configs
                   if isinstance(config, dict) and ":" in str(config.get("Subnet") or "")]
        if not subnets:
            continue
        # Name, bridge and the IPv4 options as for IPv4 (one reading of a network); parse_networks keeps IPv4 subnets.
        network = env.parse_networks([item])[0]
        routed = (item.get("Options") or {}).get("com.docker.network.bridge.gateway_mode_ipv6") == "routed"
        found.append({"name": network["name"], "bridge": network["bridge"], "subnets": subnets,
                      "masquerade": network["masquerade"] and not network["internal"] and not routed})
    return sorted(found, key=env.network_order)


def ipv6_published(containers, networks):
    """Published ports bound to an IPv6 host address (``::``) of containers with an address on ``networks``.

    Only those get an ip6tables DNAT rule; a container without IPv6 is reached through docker-proxy.
    """
    names = set(net["name"] for net in networks)
    published = []
    for item in containers or []:
        attached = ((item.get("NetworkSettings") or {}).get("Networks") or {}) if isinstance(item, dict) else {}
        addresses = [net["GlobalIPv6Address"] for name, net in sorted(attached.items())
                     if name in names and isinstance(net, dict) and net.get("GlobalIPv6Address")]
        if not addresses:
            continue
        for port in item.get("Ports") or []:
            if not isinstance(port, dict) or not port.get("PublicPort") or ":" not in str(port.get("IP") or ""):
                continue
            published.append({
                "container": ((item.get("Names") or ["?"])[0] or "?").lstrip("/"),
                "host_ip": port["IP"],
                "host_port": port["PublicPort"],
                "container_port": port.get("PrivatePort") or 0,
                "proto": port.get("Type") or "tcp",
                "container_ips": addresses,
            })
    return sorted(published, key=env.published_order)


def _ip6_ctx(collected, ctx):
    """Docker's IPv6 rules: whether dockerd writes them, for which networks and ports, and the ip6tables dump."""
    data = collected.get("iptables") or {}
    engine = ((collected.get("docker") or {}).get("engine") or {})
    enabled, why = ip6tables_enabled(ctx["settings"], ctx["docker"]["version"])
    result = {"enabled": enabled, "enabled_why": why, "parsed": None, "error": None,
              "networks": None, "published": None}
    backend = ctx["iptables"]["backend"]
    save = (data.get("saves6") or {}).get(backend) if backend else None
    if save and save.get("error"):
        result["error"] = save["error"]
    elif save:
        try:
            result["parsed"] = ipt.parse_iptables_save(save.get("text") or "")
        except ipt.IptablesParseError as exc:
            result["error"] = "unparsable ip6tables-save output: %s" % exc
    if result["error"]:
        ctx["iptables"]["errors"].append({"backend": "%s (ip6tables)" % backend, "error": result["error"],
                                          "family": "ipv6"})
    # Without the engine the IPv6 networks are unknown: the rules alone cannot tell a network without IPv6 from
    # one whose IPv6 rules are gone, so no IPv6 expectation is guessed.
    if ctx["docker"]["engine_running"] and engine.get("networks") is not None:
        result["networks"] = ipv6_networks(engine["networks"])
        if engine.get("containers") is not None:
            result["published"] = ipv6_published(engine["containers"], result["networks"])
    ctx["ip6"] = result


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


def docker_traces(ctx):
    """What Docker left on the host that a Docker-only check reads; [] when there is nothing.

    Wider than ``_docker_present``: a daemon.json or a rootless user unit is no
    sign of an installed engine, yet DAEMON_JSON_INVALID and DOCKER_ROOTLESS
    report them. Every input of a ``_docker_checks`` condition that can produce
    evidence is listed here (ExecStart flags and Environment come with a unit,
    which is a signal, but a hand-written ``collected`` may lack it), so an empty
    list means each of those conditions returns ``[]``.
    """
    docker = ctx["docker"]
    traces = list(docker["signals"])
    if any(ctx["iptables"]["docker_chains"].values()):
        traces.append("Docker chains in the iptables rules")
    daemon_json = ctx["daemon_json"]
    if daemon_json.get("present") or daemon_json.get("explicit") or daemon_json.get("error"):
        traces.append("daemon.json at %s" % daemon_json.get("path"))
    if ctx["flags"] or ctx["env"]:
        traces.append("ExecStart flags or Environment of docker.service")
    if docker["rootless"] or docker["info"]:
        traces.append("rootless Docker or an engine answering")
    return traces


def conditions_for(ctx):
    """The condition table for this host: the host-level ones, plus the Docker-only ones where Docker left traces."""
    if not docker_traces(ctx):
        return HOST_CONDITIONS
    from ansible_collections.nodeprep.netfilter.plugins.module_utils._docker_checks import DOCKER_CONDITIONS
    conditions = dict(HOST_CONDITIONS)
    conditions.update(DOCKER_CONDITIONS)
    return conditions


NO_DOCKER_CHAINS = "no Docker chain in the active backend"


def _rules_preconditions(ctx):
    """Why dockerd's rules of neither family are audited, or None."""
    if not _docker_present(ctx):
        return "Docker not installed"
    if ctx["settings"].get("iptables") is False:
        return "dockerd runs with iptables=false"
    backend = ctx["settings"].get("firewall-backend")
    if backend and backend not in ("iptables", "iptables+firewalld"):
        return "dockerd uses the %s firewall backend" % backend
    if ctx["docker"]["rootless_engine"]:
        return "the engine on the audited socket is rootless"
    if not ctx["docker"]["engine_running"] and ctx.get("start_blocker"):
        return "dockerd cannot start (%s); the rules a failed start left behind are not audited" % ctx["start_blocker"]
    return None


def _rules_checkable(ctx):
    """None when the IPv4 chain/jump/NAT checks apply, else the reason they do not."""
    reason = _rules_preconditions(ctx)
    if reason:
        return reason
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


def _rules6_checkable(ctx):
    """None when the IPv6 chain/jump/NAT checks apply, else the reason they do not (NO_DOCKER_CHAINS included)."""
    reason = _rules_preconditions(ctx)
    if reason:
        return reason
    ip6 = ctx["ip6"]
    if ip6["enabled"] is None:
        return "unknown whether dockerd writes ip6tables rules (%s)" % ip6["enabled_why"]
    if not ip6["enabled"]:
        return "dockerd writes no ip6tables rules (%s)" % ip6["enabled_why"]
    if ip6["networks"] is None:
        return "unknown whether a Docker network has IPv6: the engine did not list its networks"
    if not ip6["networks"]:
        return "no Docker network has IPv6"
    if ip6["parsed"] is None:
        return "the ip6tables rules of the %s backend could not be read" % ctx["iptables"]["backend"]
    if not ipt.docker_chains(ip6["parsed"]):
        return NO_DOCKER_CHAINS
    return None


FAMILY_TOOLS = {"ipv4": "iptables", "ipv6": "ip6tables"}


def rule_families(ctx):
    """The families whose Docker rules are audited: ``[{family, tool, parsed, networks, published, ...}]``."""
    families = []
    if _rules_checkable(ctx) is None:
        families.append({"family": "ipv4", "tool": "iptables", "parsed": ctx["iptables"]["parsed"][ctx["iptables"]["backend"]],
                         "networks": ctx["networks"], "networks_source": ctx["networks_source"],
                         "published": ctx["published"], "published_source": ctx["published_source"]})
    if _rules6_checkable(ctx) is None:
        families.append({"family": "ipv6", "tool": "ip6tables", "parsed": ctx["ip6"]["parsed"],
                         "networks": [net for net in ctx["ip6"]["networks"] if net["masquerade"]],
                         "networks_source": "engine",
                         "published": ctx["ip6"]["published"] or [], "published_source": "engine"})
    return families


# --- conditions: ctx -> [evidence, ...] ------------------------------------

def _cond_docker_not_installed(ctx):
    if ctx["package_db_error"]:
        return []  # an unreadable package database proves nothing absent: PACKAGE_DB_UNREADABLE says so instead
    return [] if _docker_present(ctx) else [{"cli": ctx["docker"]["cli_path"]}]


def _cond_package_db_unreadable(ctx):
    return [{"error": ctx["package_db_error"]}] if ctx["package_db_error"] else []


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


def _cond_rules_in_both_backends(ctx):
    parsed = ctx["iptables"]["parsed"]
    if len(parsed) < 2 or not all(ipt.has_content(item) for item in parsed.values()):
        return []
    detail = "; ".join("%s: %d rules" % (backend, sum(len(t["rules"]) for t in item["tables"].values()))
                       for backend, item in sorted(parsed.items()))
    return [{"detail": detail}]


HOST_CONDITIONS = {
    "docker_not_installed": _cond_docker_not_installed,
    "package_db_unreadable": _cond_package_db_unreadable,
    "audit_unprivileged": _cond_audit_unprivileged,
    "iptables_read_failed": _cond_iptables_read_failed,
    "rules_in_both_backends": _cond_rules_in_both_backends,
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
    versions = _versions()
    try:
        return versions.version_matches(version, row.get("versions") or {}, scheme)
    except versions.VersionError:
        return False


def audit(collected, issues=None):
    """Findings and summary for one host. ``issues`` defaults to KNOWN_ISSUES."""
    ctx = build_context(collected)
    conditions = conditions_for(ctx)
    findings = []
    for row in issues if issues is not None else KNOWN_ISSUES:
        if conditions is HOST_CONDITIONS and row["condition"] not in conditions:
            continue  # a Docker-only check on a host without Docker traces finds nothing (docker_traces)
        if not _row_applies(ctx, row):
            continue
        families = row["families"]
        for evidence in conditions[row["condition"]](ctx):
            if evidence.get("family", families[0]) not in families:
                continue  # the table says this issue does not concern that address family
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
        "packages_known": not ctx["package_db_error"],
        "engine_running": ctx["docker"]["engine_running"],
        "rootless_users": [item.get("user") for item in ctx["docker"]["rootless"]],
        "settings": ctx["settings"],
        "settings_sources": ctx["settings_sources"],
        "ignore_br_netfilter_error": ctx["ignore_env"],
        "br_netfilter_state": ctx["br"]["state"],
        "br_netfilter_needed_by": ctx["needed_by"],
        "br_netfilter_escape_hatch": ctx["need"]["escape_hatch"] if ctx.get("need") else None,
        "br_netfilter_escape_hatch_mode": ctx["hatch_mode"],
        "iptables_binary": ipts["binary"],
        "iptables_version": ipts["version"],
        "iptables_backend": ipts["backend"],
        "iptables_package_version": ipts["package_version"],
        "backends_read": sorted(ipts["parsed"]),
        "docker_chains": ipts["docker_chains"],
        "networks_checked": [dict(net, source=ctx["networks_source"]) for net in ctx["networks"]],
        "published_ports_checked": len(ctx["published"]),
        "rule_checks": "skipped: %s" % skipped if skipped else "done",
        "ip6tables": _ip6_summary(ctx),
        "counts": counts,
        "highest_severity": highest,
        "codes": sorted(set(finding["code"] for finding in findings)),
    }


def _ip6_summary(ctx):
    ip6 = ctx["ip6"]
    skipped = _rules6_checkable(ctx)
    networks = ip6["networks"]
    return {
        "enabled": ip6["enabled"],
        "enabled_why": ip6["enabled_why"],
        "networks_checked": "unknown" if networks is None else [dict(net, source="engine") for net in networks],
        "published_ports_checked": len(ip6["published"] or []) if skipped is None else 0,
        "docker_chains": ipt.docker_chains(ip6["parsed"]) if ip6["parsed"] is not None else None,
        "rule_checks": "skipped: %s" % skipped if skipped else "done",
    }


def failing(findings, fail_on):
    """Findings at or above ``fail_on`` (``none`` -> [])."""
    if fail_on in (None, "none"):
        return []
    threshold = severity_rank(fail_on)
    if threshold < 0:
        raise ValueError("fail_on must be one of none, %s; got %r" % (", ".join(SEVERITIES), fail_on))
    return [item for item in findings if severity_rank(item["severity"]) >= threshold]
