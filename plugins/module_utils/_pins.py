# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Package pins and forbidden versions, planned from the known-issues table. No Ansible import.

``plan_pins(request, os_release, pkg_mgr, available, installed)`` turns what a
user asked for (presets, ``docker_version``, exact pins, extra forbids) into:

* the text of one apt preferences file: exact pins (priority >= 1000, which
  also allows a downgrade) first, then forbidden versions (``Pin-Priority: -1``).
  apt applies the *first* specific pin that matches a version, so an allowed
  known-bad pin placed first beats the preset stanza that forbids it;
* dnf 4 ``versionlock.list`` lines (``NAME-EVR.*`` locks, ``!NAME-V-*``
  excludes) or ``excludepkgs`` patterns, which ``merge_dnf_excludepkgs``
  merges into the user's dnf.conf line (and takes out again) without
  touching the user's own entries;
* dnf5 ``versionlock.toml`` entries (``_dnf5_lock``: an exact pin is one
  entry, a forbid one entry per allowed interval, both with the epoch read
  from what the repositories offer or what is installed), or the
  ``excludepkgs`` patterns of a drop-in of the pin set's own;
* the exact ``name=version`` strings to install, the packages to hold, and
  notices: what the pins do to what is installed (a held or pinned package
  that would be upgraded or downgraded, an installed forbidden version, a
  pinned version no repository offers);
* with ``replace_forbidden``, the allowed version that replaces each installed
  forbidden one (``plan_replacements``), and whether the changes need one
  Docker restart (``docker_restart``). The role wraps such an apt install in a
  temporary policy-rc.d (``render_policy_rc_d``) so that package scripts do
  not restart dockerd themselves.

Forbidden versions come from ``_known_issues.KNOWN_ISSUES`` (rows of kind
``version``), never retyped here. Docker rows compare the upstream version
(``27.3.1``), so one POSIX regular expression per issue covers Docker CE's
``5:27.3.1-1~debian.13~trixie`` and Debian's ``27.3.1+dfsg1-1`` alike.

``parse_apt_cache_policy`` and ``parse_os_release`` read what the module
collects. (The ``docker_br_netfilter_compat`` role's decision is
``_br_netfilter_need.br_netfilter_need``; its host side is ``_docker_compat``.)

Everything raises ``PinError`` (a ValueError) with a message meant for the
user, before anything is changed.
"""

from __future__ import annotations

import functools
import os
import re

from ansible_collections.nodeprep.netfilter.plugins.module_utils import _dnf5_lock as dnf5
from ansible_collections.nodeprep.netfilter.plugins.module_utils import _docker_env as env
from ansible_collections.nodeprep.netfilter.plugins.module_utils._known_issues import KNOWN_ISSUES, issue
from ansible_collections.nodeprep.netfilter.plugins.module_utils._names import (
    package_name_problem,
    pin_set_name_problem,
    version_problem,
)
from ansible_collections.nodeprep.netfilter.plugins.module_utils._pkg_mgr import parse_os_release, resolve_pkg_mgr
from ansible_collections.nodeprep.netfilter.plugins.module_utils._rootfs import RootFS
from ansible_collections.nodeprep.netfilter.plugins.module_utils._versions import (
    VersionError,
    compare_versions,
    parse_deb_version,
    parse_rpm_evr,
    upstream_version,
    version_matches,
)

PKG_MGRS = ("apt", "dnf", "dnf5")
MIN_PIN_PRIORITY = 1000
DEFAULT_PIN_PRIORITY = 1001
DEFAULT_PIN_SET = "nodeprep-pins"
FORBID_PRIORITY = -1

PREFERENCES_DIR = "/etc/apt/preferences.d"
VERSIONLOCK_LIST = {"dnf": "/etc/dnf/plugins/versionlock.list"}
VERSIONLOCK_CONF = {"dnf": "/etc/dnf/plugins/versionlock.conf"}
DNF_METHODS = ("versionlock", "excludepkgs")

# Names and versions are checked by _names (whole-string rules shared with the
# other modules); an upstream Docker release is three numbers.
_DOCKER_VERSION = re.compile(r"\d+\.\d+\.\d+")

#: Binary packages built by Debian's iptables source package (``Binary:`` of
#: iptables 1.8.11-2 in trixie; libiptc0 is gone since 1.8.10).
IPTABLES_DEB_PACKAGES = (
    "iptables", "libxtables12", "libxtables-dev", "libiptc-dev",
    "libip4tc2", "libip4tc-dev", "libip6tc2", "libip6tc-dev",
)

#: Where a Docker engine comes from, per package manager: the packages pinned
#: together and how the repository spells a release. Docker CE carries an
#: epoch (5 in its apt repositories, 3 in its rpm ones) and a per-distro
#: revision; Debian's and Ubuntu's docker.io add ``+dfsgN-R`` or ``-0ubuntuN``,
#: which no rule predicts, so it is looked up among the available versions.
DOCKER_FLAVOURS = {
    "docker-ce": {
        "apt": {"packages": ("docker-ce", "docker-ce-cli"), "template": "5:{version}-1~{id}.{version_id}~{codename}"},
        "dnf": {"packages": ("docker-ce", "docker-ce-cli"), "template": "3:{version}-1.{dist}"},
    },
    # docker-cli is built from the same Debian source as docker.io (absent on Ubuntu: pinning it is harmless).
    "docker.io": {"apt": {"packages": ("docker.io", "docker-cli"), "template": None}},
    "moby-engine": {"dnf": {"packages": ("moby-engine",), "template": None}},
}
DOCKER_FLAVOUR_ORDER = ("docker-ce", "docker.io", "moby-engine")
DOCKER_APT_DISTROS = ("debian", "ubuntu", "raspbian")
EL_IDS = ("rhel", "centos", "rocky", "almalinux", "ol", "circle")

#: Built-in presets: which known-issue component they forbid, on which packages.
PRESETS = {
    "docker": {
        "component": "docker",
        "packages": {
            "apt": ("docker-ce", "docker-ce-cli", "docker.io", "docker-cli"),
            "dnf": ("docker-ce", "docker-ce-cli", "moby-engine"),
        },
    },
    "iptables": {
        "component": "iptables-deb",
        "packages": {"apt": IPTABLES_DEB_PACKAGES},
    },
}

#: The known-issue component an exactly pinned package is checked against.
COMPONENT_OF_PACKAGE = dict(
    [(name, "docker") for name in ("docker-ce", "docker-ce-cli", "docker.io", "docker-cli", "moby-engine")]
    + [(name, "iptables-deb") for name in IPTABLES_DEB_PACKAGES]
)
#: Components compared on the upstream version rather than the package version.
UPSTREAM_COMPONENTS = ("docker",)

#: Packages that are a Docker engine: a restart is only meaningful where one is installed (or being installed).
DOCKER_ENGINE_PACKAGES = ("docker-ce", "docker.io", "moby-engine")
#: Packages whose change dockerd must be restarted for: the engine itself, and the iptables binary and libraries
#: dockerd writes its rules through at start (moby #48844: the rules 1.8.11-1 lost come back only with a restart).
DOCKER_RESTART_PACKAGES = DOCKER_ENGINE_PACKAGES + ("iptables", "libxtables12", "libip4tc2", "libip6tc2")
#: invoke-rc.d(8) and deb-systemd-invoke ask this script before a maintainer script starts or restarts a service;
#: exit status 101 means "action forbidden". The role writes it for the duration of an install that changes a
#: package above, so the packages' own scripts cannot restart dockerd behind the playbook's back.
POLICY_RC_D = "/usr/sbin/policy-rc.d"
POLICY_RC_D_MARKER = "# nodeprep.netfilter.package_pin: temporary policy, removed when the install is over"
#: What invoke-rc.d (the init script's name) and deb-systemd-invoke (unit names) pass as the first argument.
DOCKER_POLICY_UNITS = ("docker", "docker.service", "docker.socket")

#: Placeholder values used to render a known issue's message without a host.
_MESSAGE_CONTEXT = {
    "needed_by": "icc=false or userland-proxy=false",
    "br_state": "not loaded",
    "user": "any user",
    "port_driver": "slirp4netns",
    "env_note": "",
}


class PinError(ValueError):
    """Bad input: the message says what is wrong and how to fix it."""


class _Context(dict):
    def __missing__(self, key):
        return "<%s>" % key


# --- small readers -------------------------------------------------------------

_POLICY_PACKAGE = re.compile(r"^(\S+):$")
_POLICY_VERSION = re.compile(r"^ (\*\*\*| {3}) (\S+) (-?\d+)$")
_POLICY_SOURCE = re.compile(r"^ {8}(-?\d+) (.+)$")


def parse_apt_cache_policy(text):
    """Per package, what ``LC_ALL=C apt-cache policy PKG...`` says.

    ``{name: {"installed": str|None, "candidate": str|None, "versions":
    [{"version", "priority", "installed", "sources": [{"priority", "source"}]}]}}``.
    Packages apt does not know are simply absent (apt prints ``N: Unable to
    locate package`` on stderr). ``(none)`` becomes None.
    """
    packages = {}
    current = None
    version = None
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        match = _POLICY_PACKAGE.match(line)
        if match and not line.startswith(" "):
            current = {"installed": None, "candidate": None, "versions": []}
            packages[match.group(1)] = current
            version = None
            continue
        if current is None:
            continue
        stripped = line.strip()
        if stripped.startswith("Installed:") or stripped.startswith("Candidate:"):
            key, value = stripped.split(":", 1)
            value = value.strip()
            current[key.lower()] = None if value == "(none)" else value
            continue
        match = _POLICY_VERSION.match(line)
        if match:
            version = {"version": match.group(2), "priority": int(match.group(3)),
                       "installed": match.group(1) == "***", "sources": []}
            current["versions"].append(version)
            continue
        match = _POLICY_SOURCE.match(line)
        if match and version is not None:
            version["sources"].append({"priority": int(match.group(1)), "source": match.group(2).strip()})
    return packages


def available_versions(policy):
    """``{name: [versions a repository offers]}`` (dpkg's own status entry does not count)."""
    result = {}
    for name, info in policy.items():
        result[name] = [v["version"] for v in info["versions"]
                        if any(not s["source"].endswith("/dpkg/status") for s in v["sources"])]
    return result


# --- version patterns ------------------------------------------------------------

def _scheme(pkg_mgr):
    return "deb" if pkg_mgr == "apt" else "rpm"


def ere_escape(text):
    """Escape ``text`` for a POSIX extended regular expression (what apt uses)."""
    return "".join("\\" + c if c in ".^$*+?()[]{}|\\" else c for c in text)


def upstream_regex(versions):
    """POSIX ERE matching package versions whose upstream version is one of ``versions``.

    Same rule as ``_versions.upstream_version``: an optional epoch, an optional
    ``v``, the dotted number, then anything but a further digit or ``.digit``.
    ``27.3.1`` matches ``5:27.3.1-1~debian.13~trixie`` and ``27.3.1+dfsg1-1``,
    not ``27.3.10`` or ``27.3.1.1``.
    """
    for version in versions:
        if not _DOCKER_VERSION.fullmatch(version):
            raise PinError("%r is not a dotted upstream version like 27.3.1" % (version,))
    alternatives = "|".join(ere_escape(v) for v in versions)
    return "^([0-9]+:)?v?(%s)($|[^0-9.]|\\.[^0-9])" % alternatives


def deb_range_regex(minimum, before):
    """POSIX ERE for Debian versions in [``minimum``, ``before``).

    Only the form the table uses is expressible in a regex: ``before`` is
    ``minimum`` with the last number of its revision plus one (``1.8.11-1`` to
    ``1.8.11-2``). The range is then ``minimum`` itself, ``minimum`` followed
    by anything starting with neither a digit, ``~`` nor ``-`` (``1.8.11-1+b1``,
    ``1.8.11-1.1``, ``1.8.11-1+deb13u1``), or ``before`` followed by ``~``
    (``1.8.11-2~bpo12+1`` sorts below ``1.8.11-2``), never with a further
    hyphen (that would make the revision part of the upstream version).
    """
    parse_deb_version(minimum)
    parse_deb_version(before)
    match = re.match(r"^(.*?)(\d+)$", minimum)
    if not match or "-" not in minimum or before != "%s%d" % (match.group(1), int(match.group(2)) + 1):
        raise PinError("cannot express the version range [%s, %s) as an apt pin" % (minimum, before))
    epoch = "" if ":" in minimum else "(0:)?"
    head = ere_escape(match.group(1))
    return "^%s%s(%s([^-0-9~][^-]*)?|%d~[^-]*)$" % (epoch, head, match.group(2), int(match.group(2)) + 1)


def known_bad(package, version, pkg_mgr="apt"):
    """Known issues of kind ``version`` that ``version`` of ``package`` falls in."""
    component = COMPONENT_OF_PACKAGE.get(package)
    if component is None:
        return []
    if component == "iptables-deb" and pkg_mgr != "apt":
        return []
    if component in UPSTREAM_COMPONENTS:
        compared, scheme = upstream_version(version), "deb"
        if compared is None:
            return []
    else:
        compared, scheme = version, _scheme(pkg_mgr)
    rows = []
    for row in KNOWN_ISSUES:
        if row["kind"] == "version" and row["component"] == component and row["versions"]:
            try:
                if version_matches(compared, row["versions"], scheme):
                    rows.append(row)
            except VersionError:
                continue
    return rows


def describe_issue(row, version):
    """One paragraph: what is wrong with ``version``, the fix and the references."""
    context = _Context(_MESSAGE_CONTEXT)
    context.update({"version": version, "iptables_version": version})
    return "%s (%s, severity %s): %s Fix: %s References: %s" % (
        version, row["code"], row["severity"], row["message"].format_map(context),
        row["remediation"], ", ".join(row["reference"]) or "none")


def preset_forbids(name, pkg_mgr):
    """The forbidden-version rules of one preset, straight from the known-issues table."""
    if name not in PRESETS:
        raise PinError("unknown preset %r; known presets: %s" % (name, ", ".join(sorted(PRESETS))))
    preset = PRESETS[name]
    family = "apt" if pkg_mgr == "apt" else "dnf"
    packages = preset["packages"].get(family)
    if not packages:
        return []
    rules = []
    for row in KNOWN_ISSUES:
        if row["kind"] != "version" or row["component"] != preset["component"] or not row["versions"]:
            continue
        spec = row["versions"]
        rule = {"code": row["code"], "preset": name, "packages": list(packages), "reference": list(row["reference"]),
                "severity": row["severity"], "remediation": row["remediation"]}
        if preset["component"] in UPSTREAM_COMPONENTS:
            if set(spec) != {"exact"}:
                raise PinError("known issue %s: only exact Docker versions can be forbidden" % row["code"])
            rule["versions"] = list(spec["exact"])
            rule["apt_pattern"] = "/%s/" % upstream_regex(spec["exact"])
            rule["dnf_patterns"] = ["%s-%s-*" % (pkg, v) for pkg in packages for v in spec["exact"]]
        else:
            if "exact" in spec:
                rule["versions"] = list(spec["exact"])
                rule["apt_pattern"] = "/^(%s)$/" % "|".join(ere_escape(v) for v in spec["exact"])
            else:
                rule["versions"] = [">= %s" % spec["min"], "< %s" % spec["before"]]
                rule["apt_pattern"] = "/%s/" % deb_range_regex(spec["min"], spec["before"])
            rule["dnf_patterns"] = []
        rule["matches"] = _matcher(preset["component"], spec)
        rules.append(rule)
    return rules


def _matcher(component, spec):
    def matches(version, scheme):
        compared = upstream_version(version) if component in UPSTREAM_COMPONENTS else version
        if compared is None:
            return False
        try:
            return version_matches(compared, spec, "deb" if component in UPSTREAM_COMPONENTS else scheme)
        except VersionError:
            return False
    return matches


# --- request validation ------------------------------------------------------------

def _pin_set_name(request):
    name = request.get("name")
    return DEFAULT_PIN_SET if name is None else name


def _check_packages(packages, where, pkg_mgr="apt"):
    if isinstance(packages, str):
        packages = [packages]
    if not isinstance(packages, (list, tuple)) or not packages:
        raise PinError("%s: 'packages' must be a non-empty list of package names" % where)
    for name in packages:
        problem = package_name_problem(name, pkg_mgr)
        if problem:
            raise PinError("%s: %s" % (where, problem))
    return list(packages)


def _check_version(version, pkg_mgr, where):
    if not isinstance(version, str) or not version.strip():
        raise PinError("%s: version must be a non-empty string, got %r" % (where, version))
    if any(c in version for c in "*?[]/"):
        raise PinError("%s: %r: exact versions only, no wildcards or patterns" % (where, version))
    # The whole string, as written: it goes verbatim into a Pin: line, a
    # versionlock entry or an excludepkgs list, where a newline splits the
    # stanza and a ',' adds a pattern of its own.
    problem = version_problem(version, pkg_mgr)
    if problem:
        raise PinError("%s: %s" % (where, problem))
    try:
        if pkg_mgr == "apt":
            parse_deb_version(version)
        else:
            parse_rpm_evr(version)
    except VersionError as exc:
        raise PinError("%s: malformed version %r: %s" % (where, version, exc))
    return version


def _check_versions(versions, pkg_mgr, where):
    if isinstance(versions, str):
        versions = [versions]
    if not isinstance(versions, (list, tuple)) or not versions:
        raise PinError("%s: 'versions' must be a non-empty list of exact versions" % where)
    return [_check_version(v, pkg_mgr, where) for v in versions]


def check_request(request, pkg_mgr):
    """Refuse bad input in ``request`` for ``pkg_mgr``: everything that needs no host to judge.

    The pin-set name, priority, method, presets, the Docker release and every
    package name and version (by _names' rules for apt or RPM). ``plan_pins``
    starts with it; ``validate_from_host`` runs it before the host's package
    database is queried, so no bad name reaches a command line or a file.
    """
    if pkg_mgr not in PKG_MGRS:
        raise PinError("unsupported package manager %r (supported: %s)" % (pkg_mgr, ", ".join(PKG_MGRS)))
    # Only a missing name takes the default: an explicit empty one is an error, not a silent "nodeprep-pins".
    problem = pin_set_name_problem(_pin_set_name(request))
    if problem:
        raise PinError(problem)
    priority = request.get("priority", DEFAULT_PIN_PRIORITY)
    if not isinstance(priority, int) or isinstance(priority, bool) or priority < MIN_PIN_PRIORITY:
        raise PinError("pin priority must be an integer >= %d (below that apt will not downgrade to the "
                       "pinned version); got %r" % (MIN_PIN_PRIORITY, priority))
    dnf_method = request.get("dnf_method") or "versionlock"
    if dnf_method not in DNF_METHODS:
        raise PinError("dnf method %r: use one of %s" % (dnf_method, ", ".join(DNF_METHODS)))
    for preset in request.get("presets") or []:
        if preset not in PRESETS:
            raise PinError("unknown preset %r; known presets: %s" % (preset, ", ".join(sorted(PRESETS))))
    docker_version = request.get("docker_version")
    if docker_version not in (None, ""):
        # Surrounding whitespace is dropped (the release is re-spelled per distro, never written as given).
        if not isinstance(docker_version, str) or not _DOCKER_VERSION.fullmatch(docker_version.strip()):
            raise PinError("docker_version %r is malformed: give the upstream Docker release such as 27.5.1 "
                           "(no epoch, revision or 'v'); the package version is derived per distro" % (docker_version,))
    for index, item in enumerate(request.get("pins") or []):
        where = "pins[%d]" % index
        if not isinstance(item, dict):
            raise PinError("%s must be a mapping with 'packages' and 'version'" % where)
        _check_packages(item.get("packages"), where, pkg_mgr)
        _check_version(item.get("version"), pkg_mgr, where)
    for index, item in enumerate(request.get("forbid") or []):
        where = "forbid[%d]" % index
        if not isinstance(item, dict):
            raise PinError("%s must be a mapping with 'packages' and 'versions'" % where)
        _check_packages(item.get("packages"), where, pkg_mgr)
        _check_versions(item.get("versions"), pkg_mgr, where)


def check_root(root):
    """``root`` must be an existing directory: an explicit root that points at nothing is a mistake, not an empty host."""
    if not isinstance(root, str) or not root or not os.path.isdir(root):
        raise PinError("root %r does not exist or is not a directory" % (root,))


def _allowed(codes, allow):
    if allow is True:
        return True
    return all(code in (allow or ()) for code in codes)


# --- docker version resolution --------------------------------------------------------

def docker_flavour_auto(pkg_mgr, installed, available):
    """docker-ce, docker.io or moby-engine: the installed one, else the one a repository offers."""
    family = "apt" if pkg_mgr == "apt" else "dnf"
    candidates = [f for f in DOCKER_FLAVOUR_ORDER if family in DOCKER_FLAVOURS[f]]
    for flavour in candidates:
        if DOCKER_FLAVOURS[flavour][family]["packages"][0] in (installed or {}):
            return flavour
    if available is None:
        return candidates[0]  # nothing installed, offers unknown (no apt-cache): Docker's own repository
    for flavour in candidates:
        if available.get(DOCKER_FLAVOURS[flavour][family]["packages"][0]):
            return flavour
    raise PinError("cannot tell which Docker packages to pin: none of %s is installed or offered by a "
                   "configured repository; set the Docker package source explicitly (%s)"
                   % (", ".join(DOCKER_FLAVOURS[f][family]["packages"][0] for f in candidates), ", ".join(candidates)))


def docker_package_version(flavour, pkg_mgr, version, os_release):
    """The version string Docker's repository gives ``version`` on this distro, or None if unpredictable.

    ``27.5.1`` on Debian 13 -> ``5:27.5.1-1~debian.13~trixie``; on Ubuntu 24.04
    -> ``5:27.5.1-1~ubuntu.24.04~noble``; on RHEL 9 -> ``3:27.5.1-1.el9``.
    """
    family = "apt" if pkg_mgr == "apt" else "dnf"
    template = DOCKER_FLAVOURS[flavour][family]["template"]
    if template is None:
        return None
    os_id = (os_release.get("ID") or "").lower()
    version_id = os_release.get("VERSION_ID") or ""
    if family == "apt":
        codename = os_release.get("VERSION_CODENAME") or ""
        if os_id not in DOCKER_APT_DISTROS or not version_id or not codename:
            return None
        return template.format(version=version, id=os_id, version_id=version_id, codename=codename)
    like = (os_release.get("ID_LIKE") or "").split()
    if os_id == "fedora":
        dist = "fc%s" % version_id
    elif (os_id in EL_IDS or "rhel" in like) and version_id:
        dist = "el%s" % version_id.split(".")[0]
    else:
        return None
    return template.format(version=version, dist=dist)


def _resolve_docker(flavour, pkg_mgr, version, os_release, available, notices):
    family = "apt" if pkg_mgr == "apt" else "dnf"
    packages = DOCKER_FLAVOURS[flavour][family]["packages"]
    computed = docker_package_version(flavour, pkg_mgr, version, os_release)
    scheme = _scheme(pkg_mgr)
    resolved = []
    for package in packages:
        offered = [v for v in (available or {}).get(package, []) if upstream_version(v) == version]
        exact = None
        if computed and computed in offered:
            exact = computed
        elif offered:
            exact = sorted(offered, key=_sort_key(scheme))[-1]
            if computed:
                notices.append(_notice("DOCKER_VERSION_SPELLED_DIFFERENTLY", "info", package,
                                       "%s: the repository offers %s for Docker %s (expected %s); pinning what it offers."
                                       % (package, exact, version, computed)))
        elif computed:
            exact = computed
        entry = {"package": package, "version": exact, "upstream": version, "flavour": flavour,
                 "pattern": exact if exact else "/%s/" % upstream_regex([version]),
                 "available": bool(offered) if available is not None else None}
        resolved.append(entry)
    return resolved


def _sort_key(scheme):
    return functools.cmp_to_key(lambda a, b: compare_versions(a, b, scheme))


def _notice(code, severity, package, message):
    return {"code": code, "severity": severity, "package": package, "message": message}


# --- the plan ----------------------------------------------------------------------

def plan_pins(request, os_release=None, pkg_mgr="apt", available=None, installed=None, engine_installed=None):
    """Validate ``request`` and compute everything the role writes or reports.

    ``request`` keys: ``name`` (pin set), ``presets``, ``docker_version``,
    ``docker_package`` (``auto``/docker-ce/docker.io/moby-engine), ``pins``
    (``[{packages, version}]``), ``forbid`` (``[{packages, versions}]``),
    ``allow_known_bad`` (list of issue codes, or True), ``priority``, ``hold``,
    ``install``, ``replace_forbidden``, ``dnf_method``.
    ``available``: ``{package: [versions]}`` offered by repositories, or None
    when unknown. ``installed``: ``{package: {"version", "held"}}``.
    ``engine_installed``: whether a Docker engine package is installed (None:
    judged from ``installed``), for ``restart_required``.
    """
    os_release = os_release or {}
    installed = installed or {}
    check_request(request, pkg_mgr)
    scheme = _scheme(pkg_mgr)
    name = _pin_set_name(request)
    priority = request.get("priority", DEFAULT_PIN_PRIORITY)
    allow = request.get("allow_known_bad") or []
    dnf_method = request.get("dnf_method") or "versionlock"
    presets = request.get("presets") or []

    notices = []
    pins = []  # {package, version (exact or None), pattern, source, upstream?}

    docker_version = request.get("docker_version")
    if docker_version not in (None, ""):
        docker_version = docker_version.strip()
        flavour = request.get("docker_package") or "auto"
        family = "apt" if pkg_mgr == "apt" else "dnf"
        if flavour == "auto":
            flavour = docker_flavour_auto(pkg_mgr, installed, available)
        elif flavour not in DOCKER_FLAVOURS:
            raise PinError("unknown Docker package source %r; use auto or one of %s"
                           % (flavour, ", ".join(DOCKER_FLAVOUR_ORDER)))
        elif family not in DOCKER_FLAVOURS[flavour]:
            raise PinError("Docker package source %s does not exist for %s" % (flavour, pkg_mgr))
        bad = known_bad(DOCKER_FLAVOURS[flavour][family]["packages"][0], docker_version, pkg_mgr)
        if bad and not _allowed([r["code"] for r in bad], allow):
            raise PinError("refusing to pin Docker %s; it is known bad: %s To pin it anyway, add %s to the "
                           "allowed known issues." % (docker_version, " ".join(describe_issue(r, docker_version) for r in bad),
                                                      ", ".join(r["code"] for r in bad)))
        for entry in _resolve_docker(flavour, pkg_mgr, docker_version, os_release, available, notices):
            if entry["version"] is None and pkg_mgr != "apt":
                raise PinError("cannot derive the %s package version of Docker %s on this distribution (%s %s)"
                               % (flavour, docker_version, os_release.get("ID"), os_release.get("VERSION_ID")))
            if entry["version"] is None and flavour == "docker-ce":
                raise PinError("cannot derive Docker CE's package version for %s on %s %s (Docker publishes "
                               "releases only for Debian/Ubuntu versions with a VERSION_ID and codename); pin the "
                               "exact package version with 'pins' instead"
                               % (docker_version, os_release.get("ID") or "unknown", os_release.get("VERSION_ID") or "?"))
            entry["source"] = "docker_version"
            entry["known_issues"] = [r["code"] for r in bad]
            pins.append(entry)

    for index, item in enumerate(request.get("pins") or []):
        where = "pins[%d]" % index
        if not isinstance(item, dict):
            raise PinError("%s must be a mapping with 'packages' and 'version'" % where)
        packages = _check_packages(item.get("packages"), where, pkg_mgr)
        version = _check_version(item.get("version"), pkg_mgr, where)
        for package in packages:
            bad = known_bad(package, version, pkg_mgr)
            if bad and not _allowed([r["code"] for r in bad], allow):
                reasons = " ".join(describe_issue(r, version) for r in bad)
                raise PinError("refusing to pin %s %s; it is known bad: %s To pin it anyway, add %s to the allowed "
                               "known issues." % (package, version, reasons, ", ".join(r["code"] for r in bad)))
            pins.append({"package": package, "version": version, "pattern": version, "source": where,
                         "upstream": None, "flavour": None, "known_issues": [r["code"] for r in bad],
                         "available": offered(package, version, available, pkg_mgr)})

    if pkg_mgr == "dnf5":
        for pin in pins:
            pin["version"] = dnf5_full_version(pin["package"], pin["version"], available, installed)

    seen = {}
    for pin in pins:
        other = seen.get(pin["package"])
        if other is not None and other["pattern"] != pin["pattern"]:
            raise PinError("%s is pinned twice, to %s (%s) and to %s (%s)"
                           % (pin["package"], other["pattern"], other["source"], pin["pattern"], pin["source"]))
        seen[pin["package"]] = pin
    pins = list({p["package"]: p for p in pins}.values())

    forbids = []
    for preset in presets:
        if preset == "iptables" and pkg_mgr != "apt":
            notices.append(_notice("PRESET_NOT_APPLICABLE", "info", None,
                                   "preset iptables concerns Debian's iptables 1.8.11-1 package only; nothing to "
                                   "forbid with %s." % pkg_mgr))
        forbids.extend(preset_forbids(preset, pkg_mgr))
    for index, item in enumerate(request.get("forbid") or []):
        where = "forbid[%d]" % index
        if not isinstance(item, dict):
            raise PinError("%s must be a mapping with 'packages' and 'versions'" % where)
        packages = _check_packages(item.get("packages"), where, pkg_mgr)
        versions = _check_versions(item.get("versions"), pkg_mgr, where)
        exact = list(versions)
        forbids.append({
            "code": "USER_FORBIDDEN", "preset": None, "packages": packages, "versions": versions,
            "reference": [], "severity": "info", "remediation": "",
            "apt_pattern": "/^(%s)$/" % "|".join(ere_escape(v) for v in versions),
            "dnf_patterns": ["%s-%s%s" % (p, v, "" if "-" in v else "-*") for p in packages for v in versions],
            "matches": lambda version, scheme, exact=exact: any(compare_versions(version, v, scheme) == 0 for v in exact),
        })

    # A pin inside a forbidden range: fine for an allowed known issue (the pin
    # stanza comes first and wins), a contradiction for a user's own forbid.
    for pin in pins:
        probe = pin["version"]
        for rule in forbids:
            if pin["package"] not in rule["packages"]:
                continue
            if probe is not None and rule["matches"](probe, scheme):
                if rule["code"] == "USER_FORBIDDEN":
                    raise PinError("%s %s is both pinned (%s) and forbidden (forbid list)"
                                   % (pin["package"], probe, pin["source"]))
                notices.append(_notice("KNOWN_BAD_PIN_ALLOWED", "high", pin["package"],
                                       "%s is pinned to %s although %s forbids it (%s allowed explicitly); the pin "
                                       "stanza comes first and wins." % (pin["package"], probe, rule["code"], rule["code"])))

    result = {
        "name": name,
        "pkg_mgr": pkg_mgr,
        "priority": priority,
        "pins": [_public_pin(p, priority) for p in pins],
        "forbidden": [_public_forbid(r) for r in forbids],
    }
    if pkg_mgr == "apt":
        result["preferences_path"] = "%s/%s.pref" % (PREFERENCES_DIR, name)
        result["preferences"] = render_apt_preferences(name, pins, forbids, priority)
        result["versionlock"] = []
        result["excludepkgs"] = []
    else:
        result["preferences_path"] = None
        result["preferences"] = ""
        result["dnf5_versionlock"] = []
        if dnf_method == "versionlock" and pkg_mgr == "dnf5":
            result["versionlock"] = []
            result["excludepkgs"] = []
            try:
                result["dnf5_versionlock"] = dnf5_lock_entries(name, pins, forbids, available, installed, notices)
            except dnf5.Dnf5LockError as exc:
                raise PinError(str(exc))
        elif dnf_method == "versionlock":
            result["versionlock"] = render_versionlock(pins, forbids)
            result["excludepkgs"] = []
            if result["versionlock"] and request.get("versionlock_plugin_present") is False:
                notices.append(_notice("VERSIONLOCK_PLUGIN_MISSING", "high", None,
                                       "%s is written but no versionlock plugin is configured (%s absent): %s ignores "
                                       "it until python3-dnf-plugin-versionlock is installed."
                                       % (VERSIONLOCK_LIST[pkg_mgr], VERSIONLOCK_CONF[pkg_mgr], pkg_mgr)))
        else:
            if pins:
                raise PinError("dnf method excludepkgs can only forbid versions; exact pins need the versionlock "
                               "method (%s)" % ("built into dnf5" if pkg_mgr == "dnf5"
                                                else "python3-dnf-plugin-versionlock"))
            result["versionlock"] = []
            result["excludepkgs"] = [pat for r in forbids for pat in r["dnf_patterns"]]
    result["versionlock_path"] = dnf5.VERSIONLOCK_TOML if pkg_mgr == "dnf5" else VERSIONLOCK_LIST.get(pkg_mgr)
    result.setdefault("dnf5_versionlock", [])

    result["install"] = _install_list(pins, pkg_mgr, request.get("install"))
    # dpkg can only hold what is installed: the pinned packages present now, or installed by this run.
    result["hold"] = sorted(p["package"] for p in pins
                            if request.get("hold") and pkg_mgr == "apt"
                            and (p["package"] in installed or (request.get("install") and p["version"])))
    notices.extend(pin_notices(pins, forbids, installed, available, scheme, bool(request.get("install")),
                               bool(request.get("hold"))))
    replace = plan_replacements(pins, forbids, installed, available, scheme) if request.get("replace_forbidden") else []
    result["replace"] = replace
    result["replace_install"] = [("%s=%s" if pkg_mgr == "apt" else "%s-%s") % (r["package"], r["version"])
                                 for r in replace]
    replaced = dict((r["package"], r) for r in replace)
    notices = [_replaced_notice(n, replaced[n["package"]]) if n["code"] == "FORBIDDEN_VERSION_INSTALLED"
               and n["package"] in replaced else n for n in notices]
    result["notices"] = notices
    changes = [{"package": p["package"], "installed": (installed.get(p["package"]) or {}).get("version"),
                "version": p["version"], "reason": "pinned (%s)" % p["source"]}
               for p in pins if request.get("install") and p["version"]
               and (installed.get(p["package"]) or {}).get("version") != p["version"]]
    changes += [{"package": r["package"], "installed": r["installed"], "version": r["version"],
                 "reason": "forbidden (%s)" % ", ".join(r["codes"])} for r in replace]
    result["changes"] = changes
    if engine_installed is None:
        engine_installed = any(name in installed for name in DOCKER_ENGINE_PACKAGES)
    result.update(docker_restart(changes, engine_installed))
    return result


def offered(package, version, available, pkg_mgr):
    """Whether a repository offers ``version`` of ``package`` (None: offers unknown).

    With dnf5 a pin may leave out the epoch or the release (the lock fills them in from the offers), so the parts
    given are compared; apt and dnf 4 compare the exact string, as before.
    """
    if available is None:
        return None
    versions = (available or {}).get(package, [])
    if pkg_mgr != "dnf5":
        return version in versions
    epoch, upstream, release = dnf5.split_evr(version)
    for evr in versions:
        e, v, r = dnf5.split_evr(evr)
        if v == upstream and (epoch is None or epoch == (e or 0)) and (release is None or release == r):
            return True
    return False


def dnf5_full_version(package, version, available, installed):
    """``version`` with the epoch filled in where a repository or the installed package tells it unambiguously.

    dnf5 compares epochs (``27.5.1-1.fc41`` is epoch 0), so the pin's version is spelled the way dnf5 and rpm will
    report it: what is installed, what the notices and ``changes`` compare, and the ``NAME-E:V-R`` to install. A
    version without a release, or one whose epoch is unknown or ambiguous, stays as written (the lock entries
    decide per epoch, and fail where none is known).
    """
    if version is None:
        return version
    epoch, upstream, release = dnf5.split_evr(version)
    if epoch is not None or release is None:
        return version
    known = list((available or {}).get(package, []))
    current = (installed.get(package) or {}).get("version")
    epochs = dnf5.epochs_of(package, upstream, release, known + ([current] if current else []))
    exact = [e for e in epochs if any(dnf5.split_evr(evr)[1:] == (upstream, release)
                                      and (dnf5.split_evr(evr)[0] or 0) == e for evr in known + [current or ""])]
    return "%d:%s" % (exact[0], version) if len(exact) == 1 else version


def dnf5_lock_entries(name, pins, forbids, available, installed, notices):
    """The versionlock.toml entries of the pin set for dnf5 (``_dnf5_lock``), in a stable order.

    An exactly pinned package gets its pin entry only: dnf5 ORs entries of one name, so a forbid entry beside it
    would let every allowed version through again (the pin already excludes all but itself). Every other forbidden
    package gets one entry per allowed interval. The epochs come from ``available`` and ``installed``; a forbidden
    package that is neither offered nor installed gets no entry and a notice (nothing of it can be installed now),
    and when the offers are unknown that is an error: its epoch cannot be known.
    """
    def known(package):
        found = list((available or {}).get(package, []))
        current = (installed.get(package) or {}).get("version")
        return found + [current] if current else found

    entries = []
    pinned = set()
    for pin in pins:
        entries.extend(dnf5.pin_entries(name, pin["package"], pin["version"], pin["source"], known(pin["package"])))
        pinned.add(pin["package"])
    forbidden = {}
    order = []
    for rule in forbids:
        for package in rule["packages"]:
            if package in pinned:
                continue
            if package not in forbidden:
                forbidden[package] = ([], [])
                order.append(package)
            versions, codes = forbidden[package]
            versions.extend(v for v in rule["versions"] if v not in versions)
            if rule["code"] not in codes:
                codes.append(rule["code"])
    for package in order:
        versions, codes = forbidden[package]
        made = dnf5.forbid_entries(name, package, versions, codes, known(package))
        if made:
            entries.extend(made)
        elif available is None:
            raise PinError("cannot forbid %s %s with dnf5's versionlock: its epoch is unknown (the repositories were "
                           "not queried and it is not installed), and dnf5 compares full epoch:version-release "
                           "values. Let the role query the repositories, give the epoch (3:28.0.0), or use "
                           "dnf_method excludepkgs, which needs none" % (package, ", ".join(versions)))
        else:
            notices.append(_notice(
                "DNF5_FORBID_NOT_LOCKED", "medium", package,
                "%s: no repository offers it and it is not installed, so its epoch is unknown and dnf5's versionlock "
                "cannot name its versions (%s); nothing of it can be installed now. Run the role again after adding "
                "its repository, or use dnf_method excludepkgs, which needs no epoch." % (package, ", ".join(versions))))
    return entries


def plan_replacements(pins, forbids, installed, available, scheme):
    """Each installed version the pin set forbids, and the allowed version that replaces it.

    ``[{package, installed, version, direction, codes}]``, sorted by package. The target is the pin set's exact
    pin of that package when it has one (apt would choose nothing else), otherwise the highest version a
    repository offers that no rule of the pin set forbids (a downgrade when only older ones are allowed). A
    version pinned on purpose (an allowed known-bad pin) is not replaced. Raises PinError, before anything
    changes, when the offers are unknown or none of them is allowed.
    """
    exact = dict((p["package"], p) for p in pins)
    found = {}
    for rule in forbids:
        for package in rule["packages"]:
            current = installed.get(package)
            if not current or not rule["matches"](current["version"], scheme):
                continue
            pin = exact.get(package)
            if pin is not None and pin["version"] == current["version"]:
                continue
            found.setdefault(package, {"package": package, "installed": current["version"], "codes": []})
            if rule["code"] not in found[package]["codes"]:
                found[package]["codes"].append(rule["code"])
    replacements = []
    for package in sorted(found):
        entry = found[package]
        pin = exact.get(package)
        if pin is not None and pin["version"] is not None:
            if pin.get("available") is False:
                raise PinError("cannot replace %s %s (forbidden: %s): the pinned %s is offered by no configured "
                               "repository" % (package, entry["installed"], ", ".join(entry["codes"]), pin["version"]))
            target = pin["version"]
        else:
            if available is None:
                raise PinError("cannot replace %s %s (forbidden: %s): which versions the repositories offer is "
                               "unknown on this host" % (package, entry["installed"], ", ".join(entry["codes"])))
            offered = (available or {}).get(package, [])
            allowed = [v for v in offered
                       if not any(package in r["packages"] and r["matches"](v, scheme) for r in forbids)]
            if not allowed:
                raise PinError("cannot replace %s %s (forbidden: %s): no configured repository offers an allowed "
                               "version (offered: %s). Add a repository with a fixed version, or leave "
                               "replace_forbidden off to keep the notice only."
                               % (package, entry["installed"], ", ".join(entry["codes"]), ", ".join(offered) or "none"))
            target = sorted(allowed, key=_sort_key(scheme))[-1]
        entry["version"] = target
        entry["direction"] = "upgrade" if compare_versions(target, entry["installed"], scheme) > 0 else "downgrade"
        replacements.append(entry)
    return replacements


def _replaced_notice(notice, replacement):
    return _notice("FORBIDDEN_VERSION_REPLACED", "info", notice["package"],
                   "%s %s is installed and forbidden (%s): it is replaced by %s (%s)."
                   % (replacement["package"], replacement["installed"], ", ".join(replacement["codes"]),
                      replacement["version"], replacement["direction"]))


def docker_restart(changes, engine_installed):
    """Whether dockerd needs one restart after ``changes`` (``[{package, installed, version}]``), and why.

    The engine itself, or the iptables dockerd writes its rules with, changed: ``{"restart_required": True,
    "restart_reasons": [...]}``. Nothing to restart without an engine, installed or installed now.
    """
    reasons = ["%s %s -> %s" % (c["package"], c["installed"] or "(not installed)", c["version"])
               for c in changes if c["package"] in DOCKER_RESTART_PACKAGES]
    engine = engine_installed or any(c["package"] in DOCKER_ENGINE_PACKAGES for c in changes)
    if not reasons or not engine:
        return {"restart_required": False, "restart_reasons": []}
    return {"restart_required": True, "restart_reasons": reasons}


def policy_rc_d_state(text, exists):
    """``absent``, ``ours`` (left by an interrupted run: rewritten and removed again) or ``foreign``."""
    if not exists:
        return "absent"
    return "ours" if text is not None and POLICY_RC_D_MARKER in text else "foreign"


def render_policy_rc_d(units=DOCKER_POLICY_UNITS):
    """The temporary policy-rc.d: 101 (action forbidden) for Docker's units, 0 for every other service.

    invoke-rc.d calls ``policy-rc.d [options] <initscript ID> <actions> [<runlevel>]``, deb-systemd-invoke
    ``policy-rc.d <unit> <action>``; any argument naming one of ``units`` forbids the action.
    """
    return ("#!/bin/sh\n%s\n# invoke-rc.d(8): policy-rc.d [options] <initscript ID> <actions>; deb-systemd-invoke: "
            "policy-rc.d <unit> <action>.\n# 101: action forbidden, so the package scripts leave Docker alone.\n"
            "for arg in \"$@\"; do\n    case \"$arg\" in\n        %s) exit 101 ;;\n    esac\ndone\nexit 0\n"
            % (POLICY_RC_D_MARKER, " | ".join(units)))


def _public_pin(pin, priority):
    return {"package": pin["package"], "version": pin["version"], "pattern": pin["pattern"], "priority": priority,
            "source": pin["source"], "upstream": pin.get("upstream"), "flavour": pin.get("flavour"),
            "available": pin.get("available"), "known_issues": pin.get("known_issues", [])}


def _public_forbid(rule):
    return {"code": rule["code"], "preset": rule["preset"], "packages": list(rule["packages"]),
            "versions": list(rule["versions"]), "apt_pattern": rule["apt_pattern"],
            "dnf_patterns": list(rule["dnf_patterns"]), "reference": list(rule["reference"]),
            "priority": FORBID_PRIORITY}


def _install_list(pins, pkg_mgr, install):
    if not install:
        return []
    items = []
    for pin in pins:
        if pin["version"] is None:
            raise PinError("cannot install %s for Docker %s: no configured repository offers that release, so its "
                           "exact package version is unknown (run apt-get update, or add the repository)"
                           % (pin["package"], pin["upstream"]))
        if pin.get("available") is False:
            raise PinError("cannot install %s=%s: no configured repository offers it (apt-cache policy %s lists "
                           "no such version)" % (pin["package"], pin["version"], pin["package"]))
        items.append(("%s=%s" if pkg_mgr == "apt" else "%s-%s") % (pin["package"], pin["version"]))
    return items


# --- notices: what the pins do to this host -------------------------------------------

def pin_notices(pins, forbids, installed, available, scheme, install, hold):
    """What a user must hear about: upgrades, downgrades, holds, forbidden installed versions."""
    notices = []
    for pin in pins:
        package, target = pin["package"], pin["version"]
        current = installed.get(package)
        if pin.get("available") is False:
            notices.append(_notice("PINNED_VERSION_NOT_AVAILABLE", "medium", package,
                                   "%s: no configured repository offers %s; the pin has no effect until one does."
                                   % (package, pin["pattern"])))
        if not current or target is None:
            continue
        order = compare_versions(target, current["version"], scheme)
        held = current.get("held")
        if order != 0:
            direction = "upgraded" if order > 0 else "downgraded"
            if install:
                code, severity = ("HELD_PACKAGE_WILL_CHANGE", "medium") if held else ("PINNED_PACKAGE_WILL_CHANGE", "info")
                message = "%s %sis installed at %s and will be %s to %s%s." % (
                    package, "(held) " if held else "", current["version"], direction, target,
                    "; its hold is overridden for this change" if held else "")
            else:
                code, severity = ("HELD_PACKAGE_PIN_DIFFERS", "medium") if held else ("PINNED_PACKAGE_WOULD_CHANGE", "medium")
                message = ("%s is installed at %s; the pin makes %s the candidate, so the next 'apt-get install %s' "
                           "or upgrade will %s it%s." % (package, current["version"], target, package,
                                                         "upgrade" if order > 0 else "downgrade",
                                                         " once its hold is released" if held else ""))
            notices.append(_notice(code, severity, package, message))
        newer = [v for v in (available or {}).get(package, []) if compare_versions(v, target, scheme) > 0]
        if newer and order >= 0:
            newest = sorted(newer, key=_sort_key(scheme))[-1]
            notices.append(_notice("PIN_HOLDS_BACK_UPGRADE", "info", package,
                                   "%s: %s is available, the pin keeps %s." % (package, newest, target)))
    for rule in forbids:
        for package in rule["packages"]:
            current = installed.get(package)
            if current and rule["matches"](current["version"], scheme):
                if any(p["package"] == package and p["version"] == current["version"] for p in pins):
                    continue
                notices.append(_notice("FORBIDDEN_VERSION_INSTALLED", "high", package,
                                       "%s %s is installed and forbidden (%s): pins do not remove installed versions. %s"
                                       % (package, current["version"], rule["code"], rule["remediation"])))
    return notices


# --- rendering -----------------------------------------------------------------------

def render_apt_preferences(name, pins, forbids, priority):
    """The preferences.d file: exact pins first (first matching pin wins), then forbidden versions."""
    lines = [
        "# Managed by nodeprep.netfilter.package_pin (pin set %s). Do not edit: changes are overwritten." % name,
        "# apt applies the first stanza whose Pin matches a version; exact pins come first.",
    ]
    groups = {}
    order = []
    for pin in pins:
        key = (pin["pattern"], pin["source"])
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(pin["package"])
    for key in order:
        pattern, source = key
        pin = next(p for p in pins if p["pattern"] == pattern and p["source"] == source)
        what = ("Docker %s" % pin["upstream"]) if pin.get("upstream") else pattern
        lines += ["",
                  "Explanation: exact pin (%s): %s; priority %d also allows a downgrade" % (source, what, priority),
                  "Package: %s" % " ".join(groups[key]),
                  "Pin: version %s" % pattern,
                  "Pin-Priority: %d" % priority]
    for rule in forbids:
        label = ("preset %s" % rule["preset"]) if rule["preset"] else "forbid list"
        lines += ["",
                  "Explanation: forbidden (%s, %s): %s" % (label, rule["code"], ", ".join(rule["versions"]))]
        lines += ["Explanation: %s" % ref for ref in rule["reference"]]
        lines += ["Package: %s" % " ".join(rule["packages"]),
                  "Pin: version %s" % rule["apt_pattern"],
                  "Pin-Priority: %d" % FORBID_PRIORITY]
    if not pins and not forbids:
        return ""
    return "\n".join(lines) + "\n"


def render_versionlock(pins, forbids):
    """versionlock.list lines: ``NAME-EVR.*`` locks and ``!NAME-VERSION-*`` excludes."""
    lines = []
    for pin in pins:
        evr = pin["version"]
        lines.append("%s-%s%s" % (pin["package"], evr, ".*" if "-" in evr else "-*"))
    for rule in forbids:
        lines.extend("!" + pattern for pattern in rule["dnf_patterns"])
    return lines


# --- dnf.conf excludepkgs: the user's entries stay, ours are merged in and can be taken out again ------------

DNF_CONF = "/etc/dnf/dnf.conf"
#: dnf 4 reads ``exclude`` as an older name of ``excludepkgs``; either line holds the user's entries.
_EXCLUDE_LINE = re.compile(r"^(?P<head>\s*(?P<key>excludepkgs|exclude)\s*=\s*)(?P<value>.*?)\s*$")
_SECTION = re.compile(r"^\s*\[(?P<name>[^\]]*)\]")
#: The comment after the line that records which of its entries a pin set added (dnf ignores comments). Without
#: it a later run could not tell our entries from the user's, so removal would either leave ours or take theirs.
_CLAIM = re.compile(r"^# nodeprep\.netfilter\.package_pin (?P<name>\S+) added to excludepkgs: (?P<entries>.*)$")
_CLAIM_FORMAT = "# nodeprep.netfilter.package_pin %s added to excludepkgs: %s"


def _exclude_entries(value):
    """dnf splits list options on commas and whitespace."""
    return [entry for entry in re.split(r"[\s,]+", value) if entry]


def parse_dnf_conf_excludes(text):
    """Where ``[main]`` sets excludepkgs in dnf.conf ``text``, and which entries each pin set claims.

    Returns ``{"lines": [...], "main": (start, end) or None, "line": index or None, "head", "value",
    "claims": {name: [entries]}, "claim_lines": {name: index}}`` (indexes into ``lines``). Raises PinError
    where a merge would be a guess: several excludepkgs/exclude lines in [main], or a value continued on
    indented lines.
    """
    lines = (text or "").splitlines()
    result = {"lines": lines, "main": None, "line": None, "head": None, "value": "", "claims": {},
              "claim_lines": {}}
    section = None
    found = []
    for index, line in enumerate(lines):
        match = _SECTION.match(line)
        if match:
            if section == "main":
                result["main"] = (result["main"][0], index)
            section = match.group("name").strip()
            if section == "main" and result["main"] is None:
                result["main"] = (index, len(lines))
            continue
        if section != "main":
            continue
        claim = _CLAIM.match(line)
        if claim:
            result["claims"][claim.group("name")] = _exclude_entries(claim.group("entries"))
            result["claim_lines"][claim.group("name")] = index
            continue
        match = _EXCLUDE_LINE.match(line)
        if match:
            found.append((index, match))
    if len(found) > 1:
        raise PinError("%s sets excludepkgs more than once in [main] (lines %s): merge them into one line first; "
                       "the role edits one line and does not guess which" % (DNF_CONF, ", ".join(str(i + 1) for i, _m in found)))
    if found:
        index, match = found[0]
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if following[:1] in (" ", "\t") and following.strip() and not following.strip().startswith(("#", ";")):
            raise PinError("%s line %d: the excludepkgs value goes on over indented lines; put it on one line first"
                           % (DNF_CONF, index + 2))
        result.update({"line": index, "head": match.group("head"), "value": match.group("value")})
    return result


def merge_dnf_excludepkgs(text, name, ours):
    """dnf.conf ``text`` with pin set ``name``'s excludepkgs entries set to ``ours`` ([] takes them out).

    The user's entries stay where they are; ours are appended and recorded in a comment after the line, so a
    later run removes exactly what this pin set added (an entry the user already had stays theirs). Other pin
    sets' claimed entries are left alone. The line is removed only when nothing but ours was on it. Returns the
    new text, equal to ``text`` when nothing changes (idempotent).
    """
    parsed = parse_dnf_conf_excludes(text)
    lines = list(parsed["lines"])
    current = _exclude_entries(parsed["value"])
    claims = parsed["claims"]
    others = set(entry for other, entries in claims.items() if other != name for entry in entries)
    if not claims and parsed["line"] is not None and parsed["value"] == ",".join(ours) and ours:
        # Release 1.0.0 overwrote the whole line with exactly these entries and wrote no claim: they are ours.
        claims = {name: list(ours)}
    mine_before = set(claims.get(name, []))
    user = [entry for entry in current if entry not in others and entry not in mine_before]
    mine = [entry for entry in _unique(ours) if entry not in user]
    wanted = set(user) | others | set(mine)
    entries = [entry for entry in current if entry in wanted] + [entry for entry in mine if entry not in current]
    if entries == current and mine == claims.get(name, []) and claims == parsed["claims"]:
        return text
    if name in parsed["claim_lines"]:
        del lines[parsed["claim_lines"][name]]
    if parsed["line"] is not None:
        index = parsed["line"] - (1 if name in parsed["claim_lines"] and parsed["claim_lines"][name] < parsed["line"]
                                  else 0)
        if entries:
            lines[index] = parsed["head"] + _edit_value(parsed["value"], wanted, [e for e in mine if e not in current])
        else:
            del lines[index]
            index -= 1
    else:
        if not entries:
            return text
        if parsed["main"] is None:
            lines[:0] = ["[main]"]
            index = 0
        else:
            index = parsed["main"][0]
        index += 1
        lines.insert(index, "excludepkgs=" + ",".join(entries))
    if mine:
        lines.insert(index + 1, _CLAIM_FORMAT % (name, ",".join(mine)))
    return "\n".join(lines) + "\n"


def _edit_value(value, keep, append):
    """``value`` with the entries not in ``keep`` taken out and ``append`` added, the user's text otherwise as it was.

    Editing the text rather than re-rendering it keeps the user's separators and spacing, so taking our entries out
    again gives back the line the user wrote.
    """
    parts = re.split(r"([\s,]+)", value)  # entry, separator, entry, ...
    out = []
    for index in range(0, len(parts), 2):
        entry = parts[index]
        if entry and entry not in keep:
            continue
        if out or entry:
            if out and index > 0:
                out.append(parts[index - 1])
            out.append(entry)
    text = "".join(out).strip(", \t")
    # Blank-separated values stay blank-separated.
    separator = " " if re.search(r"\s", text) and "," not in text else ","
    return separator.join([text] + list(append)) if text else ",".join(append)


def _unique(items):
    seen = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def dnf_conf_variants(text, name, excludepkgs):
    """What ``/etc/dnf/dnf.conf`` becomes with the pin set present and absent: ``{"present", "absent"}``.

    Each is the new text, or None where the file stays as it is. ``text`` None means no file: nothing to remove.
    """
    variants = {}
    for state, entries in (("present", excludepkgs), ("absent", [])):
        if text is None and not entries:
            variants[state] = None
            continue
        merged = merge_dnf_excludepkgs(text or "", name, entries)
        variants[state] = None if merged == text else merged
    return variants


# --- gathering on the host (runner and file reads injected) ----------------------------

def involved_packages(request, pkg_mgr):
    """Every package whose installed or available versions matter to ``request``."""
    family = "apt" if pkg_mgr == "apt" else "dnf"
    names = []
    for preset in request.get("presets") or []:
        names.extend(PRESETS.get(preset, {}).get("packages", {}).get(family, ()))
    if request.get("docker_version"):
        for flavour in DOCKER_FLAVOUR_ORDER:
            names.extend(DOCKER_FLAVOURS[flavour].get(family, {}).get("packages", ()))
    for key in ("pins", "forbid"):
        for item in request.get(key) or []:
            packages = item.get("packages") if isinstance(item, dict) else None
            names.extend(packages if isinstance(packages, (list, tuple)) else [])
    return sorted(set(n for n in names if package_name_problem(n, pkg_mgr) is None))


DNF_REPOQUERY_FORMAT = "%{name}\\t%{epoch}:%{version}-%{release}\\n"
#: dnf5's --queryformat expands \n but not \t (measured, 5.4.6): a blank separates the fields (neither has one).
DNF5_REPOQUERY_FORMAT = "%{name} %{epoch}:%{version}-%{release}\\n"


def dnf5_repoquery_argv(dnf5_bin, names):
    """What the repositories offer, as dnf5 sees it before any lock: every version (dnf5 repoquery has no
    --showduplicates; it lists them all), excludes and versionlock disabled (``disable_excludes=*`` turns off both,
    so the pin set's own earlier lock or drop-in cannot hide a version from its next plan)."""
    return [dnf5_bin, "-q", "--setopt=disable_excludes=*", "repoquery", "--available", "--queryformat",
            DNF5_REPOQUERY_FORMAT] + list(names)


def parse_dnf_repoquery(text):
    """``{name: [E:V-R, ...]}`` from ``dnf -q repoquery --showduplicates --qf DNF_REPOQUERY_FORMAT`` (a tab
    between the fields) or dnf5's ``DNF5_REPOQUERY_FORMAT`` (a blank). A version is listed once, whichever
    repositories offer it (Debian's libdnf5 ``local`` plugin repeats installed ones in ``_dnf_local_nogpgcheck``)."""
    offered = {}
    for line in (text or "").splitlines():
        parts = line.split("\t", 1) if "\t" in line else line.split()
        if len(parts) != 2:
            continue
        name, version = (part.strip() for part in parts)
        if name and version and version not in offered.setdefault(name, []):
            offered[name].append(version)
    return offered


def pin_mismatches(plan, policy, pkg_mgr="apt"):
    """Where apt's current choice contradicts the plan (meaningful once the preferences file is in place).

    A pinned package whose candidate is not the pinned version (while a
    repository offers it), or a package whose candidate is a forbidden version.
    """
    scheme = _scheme(pkg_mgr)
    problems = []
    for pin in plan["pins"]:
        info = policy.get(pin["package"])
        if not info or not pin["available"] or pin["version"] is None:
            continue
        if info["candidate"] != pin["version"]:
            problems.append("%s: apt's candidate is %s, not the pinned %s" % (pin["package"], info["candidate"], pin["version"]))
    for rule in plan["forbidden"]:
        matches = _forbid_matcher(rule)
        for package in rule["packages"]:
            info = policy.get(package)
            if info and info["candidate"] and matches(info["candidate"], scheme) and info["candidate"] != info["installed"]:
                problems.append("%s: apt's candidate %s is forbidden (%s)" % (package, info["candidate"], rule["code"]))
    return problems


def _forbid_matcher(rule):
    """Rebuild the match function of a public forbid rule (preset rows by code, user rows by exact version)."""
    if rule["code"] != "USER_FORBIDDEN":
        row = issue(rule["code"])
        return _matcher(row["component"], row["versions"])
    exact = list(rule["versions"])
    return lambda version, scheme: any(compare_versions(version, v, scheme) == 0 for v in exact)


def allowable_codes():
    """Issue codes ``allow_known_bad`` accepts: the ``version`` rows of the table."""
    return [row["code"] for row in KNOWN_ISSUES if row["kind"] == "version"]


def detect_pkg_mgr(fs, requested="auto", which=None):
    """The package manager to plan for (apt, dnf 4 or dnf5), or PinError naming why not (yum: ``_pkg_mgr``)."""
    pkg_mgr, problem = resolve_pkg_mgr(fs, requested or "auto", which)
    if problem:
        raise PinError(problem)
    return pkg_mgr


def validate_from_host(params, root="/", which=None):
    """Check every input of ``plan_from_host`` and return the package manager; runs no command.

    The ``package_pin`` role calls this (the module's ``validate_only``) as its
    first task, before it refreshes the apt cache.
    """
    check_root(root)
    unknown = [c for c in params.get("allow_known_bad") or [] if c not in allowable_codes()]
    if unknown:
        raise PinError("allow_known_bad: unknown issue code(s) %s; codes that can be allowed: %s"
                       % (", ".join(unknown), ", ".join(allowable_codes())))
    pkg_mgr = detect_pkg_mgr(RootFS(root), params.get("pkg_mgr") or "auto", which)
    check_request(params, pkg_mgr)
    return pkg_mgr


def plan_from_host(params, root="/", run=None, which=None):
    """``plan_pins`` fed from a host: os-release, dpkg status or rpm, apt-cache policy.

    ``run(argv) -> (rc, out, err)`` and ``which(name) -> path or None`` are
    injected; file reads go through ``RootFS(root)``.
    """
    which = which or (lambda name: None)
    pkg_mgr = validate_from_host(params, root, which)
    fs = RootFS(root)
    os_text = fs.read_text("/etc/os-release")
    if os_text is None:
        os_text = fs.read_text("/usr/lib/os-release")
    os_release = parse_os_release(os_text)
    dpkg_status = fs.read_text(env.DPKG_STATUS)
    wanted = involved_packages(params, pkg_mgr)

    installed = {}
    engines = []
    if pkg_mgr == "apt":
        for name, info in env.parse_dpkg_status(dpkg_status or "", wanted).items():
            installed[name] = {"version": info["version"], "held": info["status"].split()[:1] == ["hold"]}
        engines = sorted(env.parse_dpkg_status(dpkg_status or "", list(DOCKER_ENGINE_PACKAGES)))
    elif wanted and which("rpm") and run is not None:  # dnf 4 and dnf5
        queried = sorted(set(wanted) | set(DOCKER_ENGINE_PACKAGES))
        rc, out, err = run([which("rpm"), "-q", "--qf", env.RPM_QUERY_FORMAT] + queried)
        for name, info in env.parse_rpm_query(out).items():
            if name in wanted:
                installed[name] = {"version": info["version"], "held": False}
            if name in DOCKER_ENGINE_PACKAGES:
                engines.append(name)

    available = None
    policy = None
    apt_cache = which("apt-cache")
    if pkg_mgr == "apt" and params.get("query_repositories", True) and apt_cache and run is not None and wanted:
        rc, out, err = run([apt_cache, "policy"] + wanted)
        if rc != 0:
            raise PinError("apt-cache policy failed (rc %d): %s" % (rc, (err or out).strip()[:500]))
        policy = parse_apt_cache_policy(out)
        available = available_versions(policy)

    dnf = which("dnf")
    if (pkg_mgr == "dnf" and params.get("replace_forbidden") and params.get("query_repositories", True) and dnf
            and run is not None and installed):
        # Only what a replacement needs: the offers of the installed packages (dnf applies the user's excludes).
        rc, out, err = run([dnf, "-q", "repoquery", "--showduplicates", "--qf", DNF_REPOQUERY_FORMAT]
                           + sorted(installed))
        if rc != 0:
            raise PinError("dnf repoquery failed (rc %d): %s" % (rc, (err or out).strip()[:500]))
        available = parse_dnf_repoquery(out)

    dnf5_bin = which("dnf5")
    if (pkg_mgr == "dnf5" and params.get("query_repositories", True) and dnf5_bin and run is not None and wanted
            and ((params.get("dnf_method") or "versionlock") == "versionlock" or params.get("replace_forbidden"))):
        # The lock needs every involved package's offers: the epochs its values must carry, the full EVR of a pin.
        rc, out, err = run(dnf5_repoquery_argv(dnf5_bin, wanted))
        if rc != 0:
            raise PinError("dnf5 repoquery failed (rc %d): %s" % (rc, (err or out).strip()[:500]))
        available = parse_dnf_repoquery(out)

    request = dict(params)
    if pkg_mgr in VERSIONLOCK_CONF:
        request["versionlock_plugin_present"] = fs.isfile(VERSIONLOCK_CONF[pkg_mgr])
    plan = plan_pins(request, os_release=os_release, pkg_mgr=pkg_mgr, available=available, installed=installed,
                     engine_installed=bool(engines))
    plan["installed"] = installed
    policy_text = fs.read_text(POLICY_RC_D)
    plan["policy_rc_d"] = {"path": POLICY_RC_D, "state": policy_rc_d_state(policy_text, fs.exists(POLICY_RC_D)),
                           "content": render_policy_rc_d()}
    plan["candidates"] = {name: info["candidate"] for name, info in sorted(policy.items())} if policy else {}
    plan["mismatches"] = pin_mismatches(plan, policy, pkg_mgr) if policy is not None else []
    plan["os"] = {k: os_release.get(k) for k in ("ID", "VERSION_ID", "VERSION_CODENAME")}
    plan["dnf_conf_path"], plan["dnf_conf"] = None, {"present": None, "absent": None}
    if pkg_mgr == "dnf":
        # Read for every method: with versionlock, "present" takes out what an earlier excludepkgs run added.
        conf_text = fs.read_text(DNF_CONF)
        if conf_text is None and fs.exists(DNF_CONF):
            errors = [e["error"] for e in fs.unreadable if e["path"] == DNF_CONF] or ["unreadable"]
            raise PinError("cannot read %s (%s): the user's excludepkgs entries must be kept, so it is not rewritten "
                           "blind" % (DNF_CONF, errors[0]))
        plan["dnf_conf_path"] = DNF_CONF
        plan["dnf_conf"] = dnf_conf_variants(conf_text, plan["name"], plan["excludepkgs"])
    plan.update(dnf5_files(fs, plan) if pkg_mgr == "dnf5" else {
        "versionlock_toml": {"present": None, "absent": None},
        "dnf5_dropin_path": None, "dnf5_dropin": {"present": None, "absent": None}})
    return plan


def dnf5_files(fs, plan):
    """What dnf5's ``versionlock.toml`` and the pin set's excludepkgs drop-in become, present and absent.

    ``versionlock_toml``: new text or None (unchanged), as ``dnf_conf``; with method excludepkgs "present" takes
    out what an earlier versionlock run wrote. ``dnf5_dropin``: the file's text, or None where it must not exist.
    The lock file is read even when nothing is written to it (our entries may have to come out), and one that
    cannot be read or parsed fails the plan: it is never rewritten blind. Entries of other owners for a name the
    pin set locks become the notice ``DNF5_VERSIONLOCK_ENTRY_WIDENS``.
    """
    path = dnf5.VERSIONLOCK_TOML
    text = fs.read_text(path)
    if text is None and fs.exists(path):
        errors = [e["error"] for e in fs.unreadable if e["path"] == path] or ["unreadable"]
        raise PinError("cannot read %s (%s): the entries in it that are not this pin set's must be kept, so it is "
                       "not rewritten blind" % (path, errors[0]))
    try:
        variants = (dnf5.versionlock_variants(text, plan["name"], plan["dnf5_versionlock"])
                    if text is not None or plan["dnf5_versionlock"] else {"present": None, "absent": None, "others": []})
    except dnf5.Dnf5LockError as exc:
        raise PinError(str(exc))
    for other in variants.pop("others"):
        plan["notices"].append(_notice(
            "DNF5_VERSIONLOCK_ENTRY_WIDENS", "medium", other["locks"],
            "%s also has an entry for %s that this pin set did not write (comment: %s). dnf5 allows a version that "
            "meets any one entry of a name, so that entry widens or cancels this pin set's lock; remove it with "
            "'dnf5 versionlock delete %s' and run the role again if the pin set alone should decide."
            % (path, other["name"], other["comment"] or "none", other["name"])))
    return {"versionlock_toml": variants, "dnf5_dropin_path": dnf5.dropin_path(plan["name"]),
            "dnf5_dropin": {"present": dnf5.render_dropin(plan["name"], plan["excludepkgs"]), "absent": None}}
