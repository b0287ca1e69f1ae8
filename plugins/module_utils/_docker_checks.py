# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The audit's checks that can only find something where Docker left a trace. No Ansible import.

``_docker_audit.audit`` imports this module only when ``_docker_audit.docker_traces(ctx)``
lists something (a Docker signal, Docker chains, a daemon.json, a docker.service
ExecStart or Environment, a rootless user unit). Without any of those every
condition here returns ``[]``, and most hosts (containerd-only Kubernetes nodes)
do not pay for compiling it: modules run from an AnsiballZ zip, where every
import is compiled from source, and these checks were most of _docker_audit,
the largest file the audit compiled.

Conditions take the context of ``_docker_audit.build_context`` and return the
evidence of each finding, as in ``_docker_audit.HOST_CONDITIONS``.
"""

from __future__ import annotations

from ansible_collections.nodeprep.netfilter.plugins.module_utils import _docker_env as env
from ansible_collections.nodeprep.netfilter.plugins.module_utils import _iptables as ipt
from ansible_collections.nodeprep.netfilter.plugins.module_utils._docker_audit import (
    NO_DOCKER_CHAINS,
    _docker_present,
    _ge,
    _lt,
    _rules6_checkable,
    _rules_checkable,
    rule_families,
)
from ansible_collections.nodeprep.netfilter.plugins.module_utils._known_issues import (
    EXPECTED_CHAINS,
    EXPECTED_JUMPS,
)

OTHER_BACKEND = {"nf_tables": "legacy", "legacy": "nf_tables"}


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


def _what_fails(need):
    if need["failure"] == "start":
        return "dockerd fails to start"
    names = [item["network"] for item in need["needs"] if item["outcome"] == "fails" and item["network"]]
    return "'docker network create' (and the restore at start) fails for %s" % ", ".join(names)


def _br_evidence(ctx):
    need = ctx["need"]
    return {
        "version": need["docker_version"],
        "needed_by": " and ".join(item["setting"] for item in need["needs"] if item["outcome"] == "fails"),
        "br_state": ctx["br"]["state"],
        "why": need["why"],
        "what_fails": _what_fails(need),
        "behaviour": need["behaviour"],
        "source_lines": need["source"],
        "escape_hatch": need["escape_hatch"],
        "ignore_env": ctx["ignore_env"],
    }


def _failing(ctx):
    need = ctx.get("need")
    return bool(need) and need["outcome"] == "fails"


def _dir_branch(need):
    return any(item.get("branch") == "27.3 directory check" for item in need["needs"] if item["outcome"] == "fails")


def _cond_br_fails_no_escape(ctx):
    """Fails and no escape hatch (< 27.5.1); the 27.3 directory branch is DOCKER_27_3_BR_NETFILTER_DETECTION's."""
    if not _failing(ctx) or ctx["need"]["escape_hatch"] != "impossible" or _dir_branch(ctx["need"]):
        return []
    evidence = _br_evidence(ctx)
    evidence["env_note"] = ""
    if ctx["ignore_env"] is not None:
        evidence["env_note"] = " (DOCKER_IGNORE_BR_NETFILTER_ERROR=%s is set but ignored)" % ctx["ignore_env"]
    return [evidence]


def _cond_br_fails_not_ignored(ctx):
    if not _failing(ctx) or ctx["need"]["effective"] != "fails" or ctx["need"]["escape_hatch"] != "needed":
        return []
    return [_br_evidence(ctx)]


def _cond_br_fails_ignored(ctx):
    if not _failing(ctx) or ctx["need"]["effective"] != "isolation_lost":
        return []
    evidence = _br_evidence(ctx)
    evidence["source"] = ctx["env_sources"].get(env.IGNORE_BR_NETFILTER_ENV)
    return [evidence]


def _not_needed_why(ctx):
    need = ctx["need"]
    if need is None:
        return None
    if need["escape_hatch"] in ("needed", "impossible", "unknown"):
        return None  # needed (or reported as needed), or undecidable
    if not need["needs"]:
        return "nothing needs br_netfilter: icc and userland-proxy are at their defaults%s" % (
            " and no network has enable_icc=false" if need["networks_known"] else "")
    if need["outcome"] == "degraded":
        return "dockerd does not fail without br_netfilter for %s" % " and ".join(need["needed_by"])
    return need["needs"][0]["why"]


def _cond_ignore_env_set_not_needed(ctx):
    if ctx["ignore_env"] is None or (ctx["ignore_env"] == "1" and ctx["hatch_mode"] == "always"):
        return []
    why = _not_needed_why(ctx)
    if why is None:
        return []
    return [{"value": ctx["ignore_env"], "source": ctx["env_sources"].get(env.IGNORE_BR_NETFILTER_ENV), "why": why}]


def _cond_ignore_env_deliberate(ctx):
    if ctx["ignore_env"] != "1" or ctx["hatch_mode"] != "always":
        return []
    why = _not_needed_why(ctx)
    if why is None:
        return []
    return [{"source": ctx["env_sources"].get(env.IGNORE_BR_NETFILTER_ENV), "why": why}]


def _cond_docker_27_3_dir_check(ctx):
    """27.3.x stats /proc/sys/net/bridge, not the key: with the directory there it skips modprobe and fails."""
    if not _failing(ctx) or not _dir_branch(ctx["need"]):
        return []
    return [_br_evidence(ctx)]


def _cond_userland_proxy_without_br(ctx):
    need = ctx.get("need")
    if not need:
        return []
    found = [item for item in need["needs"] if item["outcome"] == "degraded"]
    return [{"version": need["docker_version"], "why": item["why"], "br_state": ctx["br"]["state"],
             "behaviour": need["behaviour"]} for item in found]


def _cond_rootless_slirp4netns(ctx):
    return [{"user": item.get("user"), "unit": item.get("unit"), "source": item.get("port_driver_source")}
            for item in ctx["docker"]["rootless"] if item.get("port_driver") == "slirp4netns"]


def _cond_docker_uses_iptables(ctx):
    if not _docker_present(ctx) or ctx["settings"].get("iptables") is False:
        return []
    return [{"iptables_version": ctx["iptables"]["package_version"], "docker_version": ctx["docker"]["version"]}]


def _cond_docker_rules_absent(ctx):
    """Engine up, rules readable, yet no Docker chain: in any IPv4 backend, or in ip6tables where IPv6 is audited."""
    ipts = ctx["iptables"]
    if not ctx["docker"]["engine_running"]:
        return []
    evidence = []
    if _rules_checkable(ctx) == NO_DOCKER_CHAINS and not any(ipts["docker_chains"].values()):
        evidence.append({"backend": ipts["backend"], "family": "ipv4", "tool": "iptables"})
    if _rules6_checkable(ctx) == NO_DOCKER_CHAINS:
        evidence.append({"backend": ipts["backend"], "family": "ipv6", "tool": "ip6tables"})
    return evidence


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


def _since(row, family):
    """The first release with ``row``'s chain or jump in ``family``'s rules (``ipv6_since`` for ip6tables)."""
    if family["family"] == "ipv6" and "ipv6_since" in row:
        return row["ipv6_since"]
    return row["since"]


def _tag(evidence, family):
    """``evidence`` with the family it concerns, which messages name (``{tool}``) and the table filters on."""
    evidence.update(family=family["family"], tool=family["tool"])
    return evidence


def _cond_docker_chain_missing(ctx):
    version = ctx["docker"]["version"]
    evidence = []
    for family in rule_families(ctx):
        for row in EXPECTED_CHAINS:
            since = _since(row, family)
            if not _applies(version, since, None):
                continue
            if not ipt.has_chain(family["parsed"], row["table"], row["chain"]):
                evidence.append(_tag({"table": row["table"], "chain": row["chain"],
                                      "expected_for": _expected_for(since, None),
                                      "backend": ctx["iptables"]["backend"]}, family))
    return evidence


def _jumps(parsed, table, from_chain, to_chain):
    return [rule for rule in ipt.chain_rules(parsed, table, from_chain) if ipt.rule_target(rule) == to_chain]


def _cond_docker_jump_missing(ctx):
    version = ctx["docker"]["version"]
    evidence = []
    for family in rule_families(ctx):
        for row in EXPECTED_JUMPS:
            since = _since(row, family)
            if not _applies(version, since, row["before"]):
                continue
            if not _jumps(family["parsed"], row["table"], row["from"], row["to"]):
                evidence.append(_tag({"table": row["table"], "from_chain": row["from"], "to_chain": row["to"],
                                      "expected_for": _expected_for(since, row["before"]),
                                      "backend": ctx["iptables"]["backend"]}, family))
    return evidence


def _cond_docker_user_not_first(ctx):
    evidence = []
    for family in rule_families(ctx):
        rules = ipt.chain_rules(family["parsed"], "filter", "FORWARD")
        for position, rule in enumerate(rules, 1):
            if ipt.rule_target(rule) == "DOCKER-USER":
                if position > 1:
                    evidence.append(_tag({"position": position, "first_rule": ipt.format_rule(rules[0])}, family))
                break  # a missing jump is DOCKER_JUMP_MISSING
    return evidence


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
    evidence = []
    for family in rule_families(ctx):
        masquerades = _masquerades(family["parsed"])
        for net in family["networks"]:
            bridge = net["bridge"]
            for subnet in net["subnets"] or [None]:
                ok = any(item["not_out"] == bridge and (subnet is None or item["source"] == subnet)
                         for item in masquerades)
                if not ok:
                    evidence.append(_tag({"network": net.get("name") or bridge, "bridge": bridge,
                                          "subnet": subnet or "(subnet unknown: any source)",
                                          "expected_from": family["networks_source"]}, family))
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


def _dnat_target(family, address, port):
    """``--to-destination`` as iptables-save writes it: ``172.17.0.2:80``, ``[fd00::2]:80`` for IPv6."""
    if family == "ipv6":
        return "[%s]:%s" % (address, port)
    return "%s:%s" % (address, port)


def _dnat_missing(ctx):
    evidence = []
    for family in rule_families(ctx):
        dnats = _dnat_rules(family["parsed"])
        for port in family["published"]:
            targets = [_dnat_target(family["family"], ip, port["container_port"]) for ip in port["container_ips"]]
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
                evidence.append(_tag({
                    "port": port["host_port"],
                    "port_text": "host port %s" % port["host_port"] if known else "a published port",
                    "proto": port["proto"],
                    "destination": " or ".join(targets) or "(container address unknown)",
                    "container": "container %s" % port["container"] if port["container"]
                                 else "admitted by filter chain DOCKER",
                    "expected_from": family["published_source"],
                }, family))
    return evidence


def _cond_docker_dnat_missing_unproxied(ctx):
    """With userland-proxy=false only the DNAT rule forwards a published port."""
    if ctx["settings"].get("userland-proxy") is not False:
        return []
    return _dnat_missing(ctx)


def _cond_docker_dnat_missing_proxied(ctx):
    """With userland-proxy on, docker-proxy listens on the host port and still answers without the DNAT rule."""
    if ctx["settings"].get("userland-proxy") is False:
        return []
    return _dnat_missing(ctx)


DOCKER_CONDITIONS = {
    "docker_version_unknown": _cond_docker_version_unknown,
    "docker_engine_not_running": _cond_docker_engine_not_running,
    "docker_rootless": _cond_docker_rootless,
    "docker_iptables_disabled": _cond_docker_iptables_disabled,
    "docker_firewall_backend_nftables": _cond_docker_firewall_backend_nftables,
    "iptables_not_found": _cond_iptables_not_found,
    "daemon_json_invalid": _cond_daemon_json_invalid,
    "dockerd_flag_conflict": _cond_dockerd_flag_conflict,
    "br_netfilter_fails_no_escape": _cond_br_fails_no_escape,
    "br_netfilter_fails_not_ignored": _cond_br_fails_not_ignored,
    "br_netfilter_fails_ignored": _cond_br_fails_ignored,
    "ignore_br_netfilter_env_set_not_needed": _cond_ignore_env_set_not_needed,
    "ignore_br_netfilter_env_deliberate": _cond_ignore_env_deliberate,
    "docker_27_3_bridge_dir_check_fails": _cond_docker_27_3_dir_check,
    "userland_proxy_without_br_netfilter": _cond_userland_proxy_without_br,
    "rootless_slirp4netns_port_driver": _cond_rootless_slirp4netns,
    "docker_uses_iptables": _cond_docker_uses_iptables,
    "docker_rules_absent": _cond_docker_rules_absent,
    "docker_chains_in_inactive_backend": _cond_docker_chains_in_inactive_backend,
    "docker_chain_missing": _cond_docker_chain_missing,
    "docker_jump_missing": _cond_docker_jump_missing,
    "docker_user_not_first": _cond_docker_user_not_first,
    "docker_masquerade_missing": _cond_docker_masquerade_missing,
    "docker_dnat_missing_unproxied": _cond_docker_dnat_missing_unproxied,
    "docker_dnat_missing_proxied": _cond_docker_dnat_missing_proxied,
}
