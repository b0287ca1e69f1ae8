# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""How Docker is installed and configured on a host, read from files. No Ansible import.

Parsers take text; readers take a ``RootFS`` (``_rootfs.py``) so tests point
them at fixture trees:

* ``parse_daemon_json`` / ``read_daemon_json``: icc, userland-proxy, iptables,
  ip6tables, firewall-backend with dockerd's defaults and type checks.
* ``parse_unit`` / ``read_systemd_unit``: ``docker.service`` and its drop-ins
  with systemd's precedence (first unit found in /etc, /run, /usr/local/lib,
  /usr/lib, /lib; drop-ins sorted by file name across those directories, a
  same-named drop-in in an earlier directory masks the later one; ``Environment=``
  with an empty value resets; ``EnvironmentFile=`` overrides ``Environment=``).
* ``parse_dockerd_flags``: the daemon options given on ``ExecStart=``.
* ``read_rootless``: per-user ``~/.config/systemd/user/docker.service`` with the
  RootlessKit port driver and network driver.
* ``parse_docker_info``: the JSON of ``docker info`` / ``GET /info``.
* ``parse_dpkg_status`` / ``parse_rpm_query``: package versions, read from
  /var/lib/dpkg/status directly rather than by spawning dpkg-query.
* ``parse_proc_net_route``: IPv4 subnets directly attached to each interface.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex

from ansible_collections.nodeprep.netfilter.plugins.module_utils._rootfs import list_conf_files

DAEMON_JSON = "/etc/docker/daemon.json"
DPKG_STATUS = "/var/lib/dpkg/status"
PASSWD = "/etc/passwd"

SYSTEM_UNIT_DIRS = (
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
)
USER_UNIT_DIRS = (  # after ~/.config/systemd/user, which is added per user
    "/etc/systemd/user",
    "/usr/lib/systemd/user",
)

#: Engine packages, most specific first; the CLI alone is not an engine.
DOCKER_ENGINE_PACKAGES = ("docker-ce", "docker.io", "moby-engine", "docker-engine", "docker")
DOCKER_OTHER_PACKAGES = ("docker-ce-cli", "docker-cli", "containerd.io", "docker-ce-rootless-extras")
IPTABLES_PACKAGES = ("iptables", "iptables-nft", "iptables-legacy")

#: daemon.json keys the audit reads, with dockerd's default and JSON type.
DAEMON_SETTINGS = {
    "icc": {"default": True, "type": bool},
    "userland-proxy": {"default": True, "type": bool},
    "iptables": {"default": True, "type": bool},
    "ip6tables": {"default": None, "type": bool},
    "ip-forward": {"default": True, "type": bool},
    "firewall-backend": {"default": None, "type": str},
    "bridge": {"default": None, "type": str},
}
#: dockerd command-line flags for the same settings.
DOCKERD_FLAGS = {
    "--icc": "icc",
    "--userland-proxy": "userland-proxy",
    "--iptables": "iptables",
    "--ip6tables": "ip6tables",
    "--ip-forward": "ip-forward",
    "--firewall-backend": "firewall-backend",
    "--bridge": "bridge",
    "-b": "bridge",
    "--config-file": "config-file",
}
_GO_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_GO_FALSE = ("0", "f", "F", "FALSE", "false", "False")

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

IGNORE_BR_NETFILTER_ENV = "DOCKER_IGNORE_BR_NETFILTER_ERROR"
ROOTLESS_PORT_DRIVER_ENV = "DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER"
ROOTLESS_NET_ENV = "DOCKERD_ROOTLESS_ROOTLESSKIT_NET"
#: dockerd-rootless.sh: ``: "${DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER:=builtin}"``
ROOTLESS_DEFAULT_PORT_DRIVER = "builtin"


class ConfigError(ValueError):
    """A configuration file dockerd itself would refuse."""


# --- daemon.json ------------------------------------------------------------

def parse_daemon_json(text):
    """``{"settings": {...effective...}, "explicit": {...as written...}}``.

    Raises ConfigError for invalid JSON, a non-object, or a wrongly typed value
    of a key listed in DAEMON_SETTINGS (dockerd refuses to start on those).
    """
    try:
        data = json.loads(text) if text and text.strip() else {}
    except ValueError as exc:
        raise ConfigError("invalid JSON: %s" % exc)
    if not isinstance(data, dict):
        raise ConfigError("top level must be a JSON object, got %s" % type(data).__name__)
    explicit = {}
    for key, meta in DAEMON_SETTINGS.items():
        if key not in data:
            continue
        value = data[key]
        if not isinstance(value, meta["type"]):
            raise ConfigError("%r must be a JSON %s, got %r" % (
                key, "boolean" if meta["type"] is bool else "string", value))
        explicit[key] = value
    settings = dict((key, meta["default"]) for key, meta in DAEMON_SETTINGS.items())
    settings.update(explicit)
    return {"settings": settings, "explicit": explicit}


def read_daemon_json(fs, path=DAEMON_JSON):
    """``{"path", "present", "settings", "explicit", "error"}`` (never raises)."""
    text = fs.read_text(path)
    result = {"path": path, "present": text is not None, "error": None}
    try:
        result.update(parse_daemon_json(text or ""))
    except ConfigError as exc:
        result.update(parse_daemon_json(""))
        result["error"] = str(exc)
    return result


# --- systemd units -------------------------------------------------------

def parse_unit(text):
    """``[(section, key, value, line_number), ...]`` of a unit file.

    Comments (``#``, ``;``) are dropped; a trailing backslash continues the
    line (joined with a space, as systemd does).
    """
    entries = []
    section = None
    pending = None
    start = 0
    for number, raw in enumerate((text or "").splitlines(), 1):
        line = raw.strip()
        if pending is None:
            if not line or line[0] in "#;":
                continue
            start = number
        elif line and line[0] in "#;":
            continue  # comment lines inside a continuation are ignored
        if line.endswith("\\"):
            pending = (pending + " " if pending else "") + line[:-1].strip()
            continue
        if pending is not None:
            line = pending + " " + line
            pending = None
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        if "=" not in line:
            continue
        key, value = line.split("=", 1)
        entries.append((section, key.strip(), value.strip(), start))
    if pending is not None:
        if "=" in pending:
            key, value = pending.split("=", 1)
            entries.append((section, key.strip(), value.strip(), start))
    return entries


def _split_words(value):
    try:
        return shlex.split(value)
    except ValueError:
        return value.split()


def parse_env_file(text):
    """KEY=VALUE lines of an EnvironmentFile, as systemd reads them.

    Comments, blanks and lines whose name is not a shell variable name (such
    as ``export X=1``) are skipped.
    """
    env = {}
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line or line[0] in "#;" or "=" not in line:
            continue
        key, value = line.split("=", 1)
        key = key.strip()
        if not _ENV_NAME.match(key):
            continue  # systemd: 'invalid variable name "export X", ignoring'
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        if key:
            env[key] = value
    return env


def _unit_candidates(fs, name, dirs):
    for directory in dirs:
        path = posixpath.join(directory, name)
        if fs.islink(path) or fs.exists(path):
            return path
    return None


def read_systemd_unit(fs, name="docker.service", dirs=SYSTEM_UNIT_DIRS):
    """The effective [Service] environment and ExecStart of a unit.

    Returns ``{"unit", "masked", "dropins", "dropin_first_lines", "environment",
    "environment_sources", "environment_files", "exec_start"}``; ``unit`` is None
    when no unit file exists in ``dirs``. ``dropin_first_lines`` maps each drop-in
    whose first line is a comment to that line (how the audit recognises the drop-in
    of the docker_br_netfilter_compat role and its mode).
    """
    result = {
        "unit": None, "masked": False, "dropins": [], "dropin_first_lines": {}, "environment": {},
        "environment_sources": {}, "environment_files": [], "exec_start": None,
    }
    unit = _unit_candidates(fs, name, dirs)
    if unit is None:
        return result
    result["unit"] = unit
    if fs.resolve(unit) == "/dev/null" or not (fs.read_text(unit) or "").strip():
        result["masked"] = True
        return result
    dropin_dirs = [posixpath.join(directory, name + ".d") for directory in dirs]
    dropins = [item for item in list_conf_files(fs, dropin_dirs) if not item["null"]]
    result["dropins"] = [item["path"] for item in dropins]

    environment = {}
    sources = {}
    env_files = []
    exec_start = None
    for path in [unit] + result["dropins"]:
        text = fs.read_text(path)
        first = (text or "").split("\n", 1)[0]
        if path != unit and first.startswith("#"):
            result["dropin_first_lines"][path] = first
        for section, key, value, number in parse_unit(text):
            if section != "Service":
                continue
            where = "%s:%d" % (path, number)
            if key == "Environment":
                if not value:
                    environment, sources = {}, {}
                    continue
                for word in _split_words(value):
                    if "=" in word:
                        var, val = word.split("=", 1)
                        environment[var] = val
                        sources[var] = where
            elif key == "EnvironmentFile":
                if not value:
                    env_files = []
                    continue
                optional = value.startswith("-")
                env_files.append({"path": value.lstrip("-"), "optional": optional, "declared_in": where})
            elif key == "ExecStart":
                exec_start = value or None
    for item in env_files:
        text = fs.read_text(item["path"])
        item["present"] = text is not None
        for var, val in parse_env_file(text).items():
            environment[var] = val
            sources[var] = item["path"]
    result.update({
        "environment": environment,
        "environment_sources": sources,
        "environment_files": env_files,
        "exec_start": exec_start,
    })
    return result


def parse_dockerd_flags(exec_start):
    """Daemon settings given as flags on ExecStart, e.g. ``{"icc": False}``.

    Booleans follow Go's strconv.ParseBool; a bare ``--icc`` means true.
    Unparsable boolean values are returned as strings for the caller to report.
    """
    flags = {}
    if not exec_start:
        return flags
    words = _split_words(exec_start.lstrip("@-+!:"))
    index = 1  # words[0] is the binary
    while index < len(words):
        word = words[index]
        index += 1
        name, value = word, None
        if word.startswith("-") and "=" in word:
            name, value = word.split("=", 1)
        if name not in DOCKERD_FLAGS:
            continue
        key = DOCKERD_FLAGS[name]
        meta = DAEMON_SETTINGS.get(key)
        if meta is not None and meta["type"] is bool:
            if value is None:
                flags[key] = True
            elif value in _GO_TRUE:
                flags[key] = True
            elif value in _GO_FALSE:
                flags[key] = False
            else:
                flags[key] = value
            continue
        if value is None and index < len(words):
            value = words[index]
            index += 1
        flags[key] = value
    return flags


# --- rootless ------------------------------------------------------------

def effective_settings(daemon_json, flags, unit=None):
    """dockerd's effective settings: ExecStart flags over daemon.json over defaults.

    ``daemon_json`` as ``read_daemon_json`` returns it, ``flags`` as ``parse_dockerd_flags``;
    returns ``(settings, sources)``. The audit and the docker_br_netfilter_compat plan both read it.
    """
    explicit = dict((daemon_json or {}).get("explicit") or {})
    settings = {}
    sources = {}
    for key, meta in DAEMON_SETTINGS.items():
        if key in flags and isinstance(flags[key], (bool, str)):
            settings[key], sources[key] = flags[key], "ExecStart flag in %s" % unit
        elif key in explicit:
            settings[key], sources[key] = explicit[key], (daemon_json or {}).get("path", DAEMON_JSON)
        else:
            settings[key], sources[key] = meta["default"], "default"
    return settings, sources


def parse_passwd(text):
    """``[{"user", "uid", "home"}]`` from /etc/passwd text."""
    users = []
    for line in (text or "").splitlines():
        parts = line.split(":")
        if len(parts) < 7 or not parts[2].isdigit():
            continue
        users.append({"user": parts[0], "uid": int(parts[2]), "home": parts[5]})
    return users


def read_rootless(fs, passwd_path=PASSWD):
    """Rootless Docker set up per user with ``dockerd-rootless-setuptool.sh``.

    Looks for ``~/.config/systemd/user/docker.service`` of every account in
    /etc/passwd. ``port_driver`` is the effective
    DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER (default ``builtin``), ``net`` the
    RootlessKit network driver if set (dockerd-rootless.sh picks one when not).
    """
    found = []
    seen = set()
    for account in parse_passwd(fs.read_text(passwd_path)):
        home = account["home"]
        if not home.startswith("/") or home in seen:
            continue
        seen.add(home)
        user_dir = posixpath.join(home, ".config/systemd/user")
        unit_path = posixpath.join(user_dir, "docker.service")
        if not fs.isfile(unit_path):
            continue
        unit = read_systemd_unit(fs, "docker.service", (user_dir,) + USER_UNIT_DIRS)
        env = unit["environment"]
        exec_start = unit["exec_start"] or ""
        found.append({
            "user": account["user"],
            "uid": account["uid"],
            "unit": unit["unit"],
            "dropins": unit["dropins"],
            "uses_rootless_script": "dockerd-rootless" in exec_start,
            "enabled": fs.islink(posixpath.join(user_dir, "default.target.wants/docker.service")),
            "port_driver": env.get(ROOTLESS_PORT_DRIVER_ENV, ROOTLESS_DEFAULT_PORT_DRIVER),
            "port_driver_source": unit["environment_sources"].get(ROOTLESS_PORT_DRIVER_ENV, "default"),
            "net": env.get(ROOTLESS_NET_ENV),
            "socket": "/run/user/%d/docker.sock" % account["uid"],
            "socket_present": fs.exists("/run/user/%d/docker.sock" % account["uid"]),
            "environment": env,
        })
    return found


# --- docker info -----------------------------------------------------------

def parse_docker_info(data):
    """Normalise ``docker info --format '{{json .}}'`` / ``GET /info``.

    ``data`` is the decoded object or its JSON text. Raises ConfigError when it
    is not a JSON object with a ServerVersion.
    """
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise ConfigError("docker info is not JSON: %s" % exc)
    if not isinstance(data, dict) or not data.get("ServerVersion"):
        raise ConfigError("docker info has no ServerVersion")
    options = data.get("SecurityOptions") or []
    firewall = data.get("FirewallBackend") or {}
    return {
        "server_version": data.get("ServerVersion"),
        "firewall_backend": firewall.get("Driver") if isinstance(firewall, dict) else None,
        "bridge_nf_iptables": data.get("BridgeNfIptables"),
        "bridge_nf_ip6tables": data.get("BridgeNfIp6tables"),
        "ipv4_forwarding": data.get("IPv4Forwarding"),
        "rootless": any("name=rootless" in str(option) for option in options),
        "security_options": list(options),
        "warnings": list(data.get("Warnings") or []),
        "kernel_version": data.get("KernelVersion"),
        "operating_system": data.get("OperatingSystem"),
    }


def network_order(network):
    """Sort key of a parsed network: the engine's own order is its store's (random network IDs)."""
    return (str(network["name"]), str(network["bridge"]))


def published_order(port):
    """Sort key of a published port: container name, host port, protocol, host address."""
    return (port["container"], port["host_port"], port["proto"], port["host_ip"])


def parse_networks(data):
    """Bridge networks from ``GET /networks``: name, bridge, subnets, options; sorted by name.

    The engine lists networks in its store's order (by random network ID), which differs from one daemon to the
    next: reports and findings that follow it would change order between two audits of the same host.
    """
    networks = []
    for item in data or []:
        if not isinstance(item, dict) or item.get("Driver") != "bridge":
            continue
        options = item.get("Options") or {}
        ident = item.get("Id") or ""
        bridge = options.get("com.docker.network.bridge.name") or ("br-" + ident[:12] if ident else None)
        subnets = []
        for config in ((item.get("IPAM") or {}).get("Config") or []):
            subnet = (config or {}).get("Subnet")
            if subnet and ":" not in subnet:
                subnets.append(subnet)
        networks.append({
            "name": item.get("Name"),
            "bridge": bridge,
            "subnets": subnets,
            "internal": bool(item.get("Internal")),
            "masquerade": options.get("com.docker.network.bridge.enable_ip_masquerade", "true") != "false",
            "gateway_mode_ipv4": options.get("com.docker.network.bridge.gateway_mode_ipv4", "nat"),
            "icc": options.get("com.docker.network.bridge.enable_icc", "true") != "false",
            "default_bridge": options.get("com.docker.network.bridge.default_bridge") == "true",
        })
    return sorted(networks, key=network_order)


def parse_containers(data):
    """Published IPv4 ports of running containers from ``GET /containers/json``, by container name and port."""
    published = []
    for item in data or []:
        if not isinstance(item, dict):
            continue
        name = ((item.get("Names") or ["?"])[0] or "?").lstrip("/")
        addresses = []
        for net_name, net in sorted(((item.get("NetworkSettings") or {}).get("Networks") or {}).items()):
            if isinstance(net, dict) and net.get("IPAddress"):
                addresses.append({"network": net_name, "ip": net["IPAddress"]})
        for port in item.get("Ports") or []:
            if not isinstance(port, dict) or not port.get("PublicPort"):
                continue
            host_ip = port.get("IP") or "0.0.0.0"
            if ":" in host_ip:
                continue  # IPv6 bindings live in ip6tables
            published.append({
                "container": name,
                "host_ip": host_ip,
                "host_port": int(port["PublicPort"]),
                "container_port": int(port.get("PrivatePort") or 0),
                "proto": port.get("Type") or "tcp",
                "container_ips": [entry["ip"] for entry in addresses],
            })
    return sorted(published, key=published_order)


# --- packages ----------------------------------------------------------------

_DPKG_STANZA_BREAK = re.compile(r"\n[ \t]*\n")


def parse_dpkg_status(text, wanted=None):
    """``{package: {"version", "architecture", "status"}}`` of installed packages.

    Only stanzas whose Status ends in ``installed`` count; ``wanted`` limits the
    result to those package names. dpkg writes ``Package:`` first in every
    stanza, so with ``wanted`` the other stanzas are skipped on their first line:
    a full line-by-line parse of a 800 KB status file cost ~10 ms per audit.
    """
    packages = {}
    wanted = set(wanted) if wanted is not None else None
    for stanza in _DPKG_STANZA_BREAK.split(text or ""):
        stanza = stanza.strip("\n")
        if not stanza:
            continue
        if wanted is not None and stanza.startswith("Package:"):
            if stanza.partition("\n")[0][len("Package:"):].strip() not in wanted:
                continue
        fields = {}
        for line in stanza.splitlines():
            if not line or line[0] in " \t":
                continue
            key, _sep, value = line.partition(":")
            if key in ("Package", "Status", "Version", "Architecture"):
                fields[key] = value.strip()
        name = fields.get("Package")
        status = fields.get("Status", "")
        if name and (wanted is None or name in wanted) and status.split()[-1:] == ["installed"] \
                and name not in packages:
            packages[name] = {
                "version": fields.get("Version"),
                "architecture": fields.get("Architecture"),
                "status": status,
            }
    return packages


#: ``rpm -q --qf`` format matching parse_rpm_query.
RPM_QUERY_FORMAT = "%{NAME}\\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\\n"


def parse_rpm_query(text):
    """``{name: {"version": "E:V-R"}}`` from ``rpm -q --qf RPM_QUERY_FORMAT``."""
    packages = {}
    for line in (text or "").splitlines():
        if "\t" not in line:
            continue  # "package foo is not installed"
        name, version = line.split("\t", 1)
        if name and version and name not in packages:
            packages[name.strip()] = {"version": version.strip()}
    return packages


# --- routes ------------------------------------------------------------------

def _hex_ipv4(value):
    raw = int(value, 16)
    return ".".join(str((raw >> shift) & 0xFF) for shift in (0, 8, 16, 24))


def parse_proc_net_route(text):
    """Directly attached IPv4 subnets: ``[{"iface", "subnet"}]``.

    /proc/net/route stores addresses as little-endian hex; only routes without
    a gateway (the interface's own subnet) are returned.
    """
    routes = []
    lines = (text or "").splitlines()
    for line in lines[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        iface, dest, gateway, mask = fields[0], fields[1], fields[2], fields[7]
        try:
            if int(gateway, 16) != 0:
                continue
            prefix = bin(int(mask, 16)).count("1")
            routes.append({"iface": iface, "subnet": "%s/%d" % (_hex_ipv4(dest), prefix)})
        except ValueError:
            continue
    return routes
