# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Collect the raw material for ``_docker_audit.audit`` from one host. No Ansible import.

The outside world is injected: ``run(argv) -> (rc, stdout, stderr)`` runs a
command from an argument list (by default ``_subprocess.run_bounded``: each
command is killed after COMMAND_TIMEOUT seconds and its output capped; a
caller passing ``module.run_command`` loses that deadline),
``which(name) -> path or None`` finds a binary, ``query_engine(socket)`` asks
the Docker API, ``gather_br(root)`` returns the br_netfilter facts.

Files (packages, units, daemon.json, rootless units) are read under ``root``.
Commands, the Docker socket, /proc/net/route and /proc/net/ip_tables_names
belong to the running host (or the network namespace the process is in).

Subprocesses, in the order they may run, and when:

1. ``iptables --version``: always when iptables exists (~2 ms, a small C binary).
2. ``iptables-nft-save``: when the binary exists (one call dumps every table).
3. ``iptables-legacy-save``: only when /proc/net/ip_tables_names lists a table.
   It is never run with ``-t``: ``iptables-legacy-save -t nat`` instantiates
   the legacy nat table as a side effect (measured), which a read-only audit
   must not do. Without ``-t`` it dumps only the tables that exist.
3b. ``ip6tables-nft-save`` or ``ip6tables-legacy-save``: the backend ``iptables
   --version`` names, once (Docker writes its IPv6 rules with the same backend);
   legacy only when /proc/net/ip6_tables_names lists a table.
4. ``dockerd --version``: only when neither the engine nor a package DB gives
   Docker's version, and only with root "/" (a Go binary, ~30-80 ms).
5. ``rpm -q``: only on hosts without /var/lib/dpkg/status.
"""

from __future__ import annotations

import os
import posixpath
import time

from ansible_collections.nodeprep.netfilter.plugins.module_utils import _docker_env as env
from ansible_collections.nodeprep.netfilter.plugins.module_utils._iptables import parse_iptables_version, parse_table_names, IptablesParseError
from ansible_collections.nodeprep.netfilter.plugins.module_utils._dpkg_status import dpkg_status_problem
from ansible_collections.nodeprep.netfilter.plugins.module_utils._rootfs import RootFS
from ansible_collections.nodeprep.netfilter.plugins.module_utils._subprocess import run_bounded

DOCKER_SOCKET = "/var/run/docker.sock"
SAVE_BINARIES = {"nf_tables": "iptables-nft-save", "legacy": "iptables-legacy-save"}
SAVE6_BINARIES = {"nf_tables": "ip6tables-nft-save", "legacy": "ip6tables-legacy-save"}
DOCKERD_PATHS = ("/usr/bin/dockerd", "/usr/sbin/dockerd", "/usr/local/bin/dockerd", "/usr/local/sbin/dockerd")
DOCKER_CLI_PATHS = ("/usr/bin/docker", "/usr/local/bin/docker")
PROC_ROUTE = "/proc/net/route"
PROC_IPTABLES_NAMES = "/proc/net/ip_tables_names"
PROC_IP6TABLES_NAMES = "/proc/net/ip6_tables_names"
PROC_SELF_STATUS = "/proc/self/status"
# linux/capability.h: reading rules (iptables-save) needs CAP_NET_ADMIN, root-only files CAP_DAC_READ_SEARCH.
CAP_DAC_READ_SEARCH = 2
CAP_NET_ADMIN = 12
#: Overall deadline of each command (iptables --version, iptables-*-save, rpm -q, dockerd --version), in seconds.
COMMAND_TIMEOUT = 30


def _read_host(path):
    """A host file (/proc/net/route...) through RootFS: regular files only, size-capped, None when unreadable."""
    return RootFS("/").read_text(path)


def parse_privileges(status_text):
    """uid and the capabilities the audit needs, from /proc/self/status; None when it says nothing usable."""
    fields = {}
    for line in (status_text or "").splitlines():
        name, _sep, value = line.partition(":")
        fields[name] = value.split()
    try:
        effective = int(fields["CapEff"][0], 16)
        uid = int(fields["Uid"][1])
    except (KeyError, IndexError, ValueError):
        return None
    return {
        "uid": uid,
        "cap_net_admin": bool(effective >> CAP_NET_ADMIN & 1),
        "cap_dac_read_search": bool(effective >> CAP_DAC_READ_SEARCH & 1),
    }


class _Recorder(object):
    """Runs commands through ``run`` and remembers each one's cost."""

    def __init__(self, run):
        self._run = run
        self.commands = []

    def __call__(self, argv):
        started = time.time()
        try:
            rc, out, err = self._run(list(argv))
        except (OSError, IOError) as exc:
            rc, out, err = 127, "", str(exc)
        self.commands.append({"argv": list(argv), "rc": rc, "seconds": round(time.time() - started, 4)})
        return rc, out or "", err or ""


def bounded_runner(timeout=COMMAND_TIMEOUT):
    """The default runner: each command killed after ``timeout`` seconds, output capped (``_subprocess``)."""
    def run(argv):
        return run_bounded(argv, timeout=timeout, environ_update={"LC_ALL": "C"})
    return run


def query_engine_if_socket(socket_path):
    """``_docker_api.query_engine``, imported only when ``socket_path`` exists.

    Without a socket there is no engine to ask, and most hosts have none: the
    client is not compiled (modules run from an AnsiballZ zip, where every import
    is compiled from source). The result is what ``query_engine`` returns for a
    missing socket, key for key.
    """
    if not os.path.exists(socket_path):
        return {"socket": socket_path, "socket_present": False, "reachable": False,
                "error": "no socket at %s" % socket_path, "info": None, "networks": None, "containers": None,
                "seconds": 0.0}
    from ansible_collections.nodeprep.netfilter.plugins.module_utils._docker_api import query_engine
    return query_engine(socket_path)


# --- engine replies: only the fields the audit reads, each of the type its parsers expect -------------------
#
# The engine's JSON is input like a file: a proxy, a fake daemon or a future API version can hand back a list where
# an object belongs, or "80/tcp" where a port number belongs. The parsers in _docker_env trust the shape, so the
# replies are reduced here, at the boundary, to known fields of known types. What does not fit is dropped and named
# in the engine's ``error``, so the audit reports it instead of ending in a traceback.

_INFO_TEXT_FIELDS = ("ServerVersion", "KernelVersion", "OperatingSystem")
_INFO_BOOL_FIELDS = ("BridgeNfIptables", "BridgeNfIp6tables", "IPv4Forwarding")
_MAX_ENGINE_NOTES = 5


def _text_list(value):
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _text_dict(value):
    if not isinstance(value, dict):
        return {}
    return dict((key, item) for key, item in value.items() if isinstance(key, str) and isinstance(item, str))


def _port_number(value):
    """A TCP/UDP port from JSON (a number, or digits as text), or None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isdigit() and len(value) <= 5:
        value = int(value)
    if isinstance(value, int) and 0 <= value <= 65535:
        return value
    return None


def _wrong(notes, what, value):
    notes.append("%s is %s, not what the Engine API returns" % (what, type(value).__name__))


def sanitize_info(data, notes):
    """``GET /info`` reduced to what ``parse_docker_info`` reads; None when it is not an object."""
    if not isinstance(data, dict):
        _wrong(notes, "GET /info", data)
        return None
    clean = {}
    for field in _INFO_TEXT_FIELDS:
        value = data.get(field)
        if isinstance(value, str):
            clean[field] = value
        elif value is not None:
            _wrong(notes, "info.%s" % field, value)
    for field in _INFO_BOOL_FIELDS:
        value = data.get(field)
        if isinstance(value, bool):
            clean[field] = value
        elif value is not None:
            _wrong(notes, "info.%s" % field, value)
    for field in ("SecurityOptions", "Warnings"):
        value = data.get(field)
        if value is not None and not isinstance(value, list):
            _wrong(notes, "info.%s" % field, value)
        clean[field] = _text_list(value)
    firewall = data.get("FirewallBackend")
    if isinstance(firewall, dict) and isinstance(firewall.get("Driver"), str):
        clean["FirewallBackend"] = {"Driver": firewall["Driver"]}
    elif firewall is not None and not isinstance(firewall, dict):
        _wrong(notes, "info.FirewallBackend", firewall)
    return clean


def sanitize_networks(data, notes):
    """``GET /networks`` reduced to what ``parse_networks`` reads; None when it is not a list."""
    if not isinstance(data, list):
        _wrong(notes, "GET /networks", data)
        return None
    clean = []
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            _wrong(notes, "networks[%d]" % index, item)
            continue
        network = {}
        for field in ("Name", "Id", "Driver"):
            if isinstance(item.get(field), str):
                network[field] = item[field]
        network["Internal"] = item.get("Internal") is True
        network["EnableIPv6"] = item.get("EnableIPv6") is True
        if item.get("Options") is not None and not isinstance(item.get("Options"), dict):
            _wrong(notes, "networks[%d].Options" % index, item.get("Options"))
        network["Options"] = _text_dict(item.get("Options"))
        ipam = item.get("IPAM")
        configs = ipam.get("Config") if isinstance(ipam, dict) else None
        if configs is not None and not isinstance(configs, list):
            _wrong(notes, "networks[%d].IPAM.Config" % index, configs)
            configs = None
        subnets = [{"Subnet": config["Subnet"]} for config in configs or []
                   if isinstance(config, dict) and isinstance(config.get("Subnet"), str)]
        network["IPAM"] = {"Config": subnets}
        clean.append(network)
    return clean


def sanitize_containers(data, notes):
    """``GET /containers/json`` reduced to what ``parse_containers`` reads; None when it is not a list."""
    if not isinstance(data, list):
        _wrong(notes, "GET /containers/json", data)
        return None
    clean = []
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            _wrong(notes, "containers[%d]" % index, item)
            continue
        names = _text_list(item.get("Names"))
        settings = item.get("NetworkSettings")
        networks = settings.get("Networks") if isinstance(settings, dict) else None
        addresses = {}
        if isinstance(networks, dict):
            for name, network in networks.items():
                if isinstance(name, str) and isinstance(network, dict):
                    addresses[name] = dict((field, network[field]) for field in ("IPAddress", "GlobalIPv6Address")
                                           if isinstance(network.get(field), str))
        ports = []
        raw_ports = item.get("Ports")
        if raw_ports is not None and not isinstance(raw_ports, list):
            _wrong(notes, "containers[%d].Ports" % index, raw_ports)
            raw_ports = None
        for port in raw_ports or []:
            if not isinstance(port, dict):
                _wrong(notes, "containers[%d].Ports[]" % index, port)
                continue
            public = _port_number(port.get("PublicPort"))
            if port.get("PublicPort") is not None and public is None:
                notes.append("containers[%d] publishes port %r, which is not a port number"
                             % (index, str(port.get("PublicPort"))[:40]))
                continue
            clean_port = {"PublicPort": public, "PrivatePort": _port_number(port.get("PrivatePort"))}
            for field in ("IP", "Type"):
                if isinstance(port.get(field), str):
                    clean_port[field] = port[field]
            ports.append(clean_port)
        clean.append({"Names": names[:1], "NetworkSettings": {"Networks": addresses}, "Ports": ports})
    return clean


_SANITIZERS = (("info", sanitize_info), ("networks", sanitize_networks), ("containers", sanitize_containers))


def sanitize_engine(engine):
    """The result of ``query_engine`` with every reply reduced to known fields of known types.

    A reply of the wrong shape becomes None (as if its request had failed); fields of the wrong type are
    dropped. Each is named in ``error`` (the first few, then a count), so nothing is dropped silently.
    """
    engine = dict(engine or {})
    notes = []
    for key, sanitize in _SANITIZERS:
        if engine.get(key) is not None:
            engine[key] = sanitize(engine[key], notes)
    if engine.get("reachable") and engine.get("info") is None:
        engine["reachable"] = False
    if notes:
        shown = "; ".join(notes[:_MAX_ENGINE_NOTES])
        if len(notes) > _MAX_ENGINE_NOTES:
            shown += "; and %d more" % (len(notes) - _MAX_ENGINE_NOTES)
        engine["error"] = "; ".join(part for part in (engine.get("error"), "unexpected engine reply: " + shown) if part)
    return engine


def _first_existing(fs, paths):
    for path in paths:
        if fs.isfile(path):
            return path
    return None


def collect_packages(fs, run, which, allow_rpm=True):
    wanted = env.DOCKER_ENGINE_PACKAGES + env.DOCKER_OTHER_PACKAGES + env.IPTABLES_PACKAGES
    problem = dpkg_status_problem(fs, env.DPKG_STATUS)
    if problem:
        # Not "nothing installed": the database exists and cannot be trusted, so what is installed is unknown.
        return {"manager": "dpkg", "installed": {}, "error": problem, "unknown": True}
    status = fs.read_text(env.DPKG_STATUS)
    if status is not None:
        return {"manager": "dpkg", "installed": env.parse_dpkg_status(status, wanted), "error": None}
    rpm = which("rpm") if allow_rpm else None
    if rpm:
        rc, out, err = run([rpm, "-q", "--qf", env.RPM_QUERY_FORMAT] + list(wanted))
        # rpm -q exits non-zero when any listed package is missing; the rest is still printed
        return {"manager": "rpm", "installed": env.parse_rpm_query(out),
                "error": None if out.strip() or rc == 0 else (err.strip() or "rpm -q failed")}
    return {"manager": None, "installed": {}, "error": None}


def collect_docker(fs, run, query_engine, socket_path):
    systemd = env.read_systemd_unit(fs)
    flags = env.parse_dockerd_flags(systemd.get("exec_start"))
    config_file = flags.get("config-file") or env.DAEMON_JSON
    engine_socket = socket_path if fs.root == "/" else posixpath.join(fs.root, socket_path.lstrip("/"))
    docker = {
        "dockerd_path": _first_existing(fs, DOCKERD_PATHS),
        "cli_path": _first_existing(fs, DOCKER_CLI_PATHS),
        "dockerd_version_output": None,
        "daemon_json": env.read_daemon_json(fs, config_file),
        "systemd": systemd,
        "rootless": env.read_rootless(fs),
        "engine": sanitize_engine(query_engine(engine_socket)),
    }
    docker["engine"]["socket"] = socket_path
    return docker


def _save_binary(which, search_dir, save_name, fallback=None):
    """``save_name`` next to the iptables binary first (an explicit iptables_binary picks its siblings), else in PATH."""
    # Through ``which`` (an absolute path is checked for being executable), so the finder alone decides what exists.
    found = which(os.path.join(search_dir, save_name)) if search_dir else None
    if found is None:
        found = which(save_name)
    if found is None and fallback:
        found = which(fallback)  # old single-backend installs only ship ip(6)tables-save
    return found


def _run_save(run, save_binary, save_name):
    rc, out, err = run([save_binary])
    if rc != 0:
        return {"binary": save_binary, "text": None,
                "error": "%s exited %d: %s" % (save_name, rc, (err or out).strip()[:300])}
    return {"binary": save_binary, "text": out, "error": None, "stderr": err.strip() or None}


def collect_ip6tables(run, which, backend, search_dir, names6_path=PROC_IP6TABLES_NAMES):
    """``{backend: save}`` of ``ip6tables-<backend>-save``, the same backend dockerd's iptables uses; {} without one.

    Legacy is read only when /proc/net/ip6_tables_names lists a table, for the reason iptables-legacy-save is.
    """
    if backend not in SAVE6_BINARIES:
        return {}
    save_name = SAVE6_BINARIES[backend]
    save_binary = _save_binary(which, search_dir, save_name, "ip6tables-save")
    if save_binary is None:
        return {}  # the audit then says the IPv6 rules could not be read, where it needs them
    if backend == "legacy":
        names_text = _read_host(names6_path)
        if names_text is not None and not parse_table_names(names_text):
            return {backend: {"binary": save_binary, "text": "", "error": None,
                              "skipped": "no table in %s" % names6_path}}
    return {backend: _run_save(run, save_binary, save_name)}


def collect_iptables(run, which, iptables_binary="iptables", names_path=PROC_IPTABLES_NAMES,
                     names6_path=PROC_IP6TABLES_NAMES):
    binary = which(iptables_binary)
    result = {"binary": binary, "version_output": None, "version_error": None, "saves": {},
              "legacy_table_names": None}
    backend = None
    if binary:
        rc, out, err = run([binary, "--version"])
        if rc == 0:
            result["version_output"] = out.strip()
            try:
                backend = parse_iptables_version(out)["backend"]
            except IptablesParseError:
                backend = None
        else:
            result["version_error"] = (err or out).strip() or "exit code %d" % rc
    search_dir = os.path.dirname(binary) if binary else None
    names_text = _read_host(names_path)
    legacy_names = parse_table_names(names_text) if names_text is not None else None
    result["legacy_table_names"] = legacy_names
    for name, save_name in SAVE_BINARIES.items():
        save_binary = _save_binary(which, search_dir, save_name, "iptables-save" if name == backend else None)
        if save_binary is None:
            continue
        if name == "legacy" and legacy_names is not None and not legacy_names:
            # no legacy table exists: nothing to read, and reading would not create one
            result["saves"][name] = {"binary": save_binary, "text": "", "error": None,
                                     "skipped": "no table in %s" % names_path}
            continue
        result["saves"][name] = _run_save(run, save_binary, save_name)
    result["saves6"] = collect_ip6tables(run, which, backend, search_dir, names6_path)
    return result


def collect(root="/", run=None, which=None, query_engine=None, gather_br=None,
            socket_path=DOCKER_SOCKET, iptables_binary="iptables", run_dockerd_version=None,
            route_path=PROC_ROUTE, names_path=PROC_IPTABLES_NAMES, status_path=PROC_SELF_STATUS,
            names6_path=PROC_IP6TABLES_NAMES):
    """Everything ``audit`` needs, plus ``commands`` (argv, rc, seconds).

    Host-only commands (``rpm -q``, ``dockerd --version``) run only when ``root``
    is "/" unless ``run_dockerd_version`` says otherwise: a binary found under a
    fixture root is not the host's.
    """
    if which is None:
        raise ValueError("collect() needs a binary finder")
    if run is None:
        run = bounded_runner()
    fs = RootFS(root)
    recorder = _Recorder(run)
    query = query_engine or query_engine_if_socket
    collected = {"root": fs.root, "privileges": parse_privileges(_read_host(status_path))}
    host_root = fs.root == "/"
    collected["packages"] = collect_packages(fs, recorder, which, allow_rpm=host_root)
    collected["docker"] = collect_docker(fs, recorder, query, socket_path)
    collected["iptables"] = collect_iptables(recorder, which, iptables_binary, names_path, names6_path)
    route_text = _read_host(route_path)
    collected["routes"] = env.parse_proc_net_route(route_text) if route_text else []

    docker = collected["docker"]
    installed = collected["packages"]["installed"]
    has_package_version = any(name in installed for name in env.DOCKER_ENGINE_PACKAGES)
    if run_dockerd_version is None:
        run_dockerd_version = host_root
    if (run_dockerd_version and docker["dockerd_path"] and not docker["engine"]["reachable"]
            and not has_package_version):
        rc, out, err = recorder([docker["dockerd_path"], "--version"])
        if rc == 0:
            docker["dockerd_version_output"] = out.strip()

    collected["br_netfilter"] = None
    collected["br_netfilter_error"] = None
    if gather_br is not None:
        try:
            collected["br_netfilter"] = gather_br(fs.root)
        except Exception as exc:  # the verdict is optional input to the audit; report, do not crash
            collected["br_netfilter_error"] = "%s: %s" % (type(exc).__name__, exc)
    collected["commands"] = recorder.commands
    collected["unreadable"] = list(fs.unreadable)
    return collected
