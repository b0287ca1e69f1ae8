# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Generated hostile strings into the string options of the modules, through each module's main().

For every input: no traceback (the module exits through exit_json or fail_json); an input the module refuses
changes nothing (the tree it was pointed at is byte-for-byte the same) and its message names the value; an input
it accepts round-trips into what it writes or renders (read back, it is the same value). Each property has a
fixed example budget and no deadline per example, so the file adds seconds, not minutes, on a loaded machine.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import shutil
import tempfile

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.nodeprep.netfilter.plugins.module_utils._names import sysctl_key_problem
from ansible_collections.nodeprep.netfilter.plugins.module_utils._netns import NetnsError, netns_path
from ansible_collections.nodeprep.netfilter.plugins.module_utils._pins import merge_dnf_excludepkgs, parse_dnf_conf_excludes
from ansible_collections.nodeprep.netfilter.plugins.module_utils._sysctl_d import canonical_key, normalize_key
from ansible_collections.nodeprep.netfilter.plugins.modules import br_netfilter_facts, package_pin_plan, sysctl_live

# Hypothesis keeps caches in ./.hypothesis by default: inside the checkout, where ansible-test would copy it into the
# sanity tree as an untracked file. Keep them in the temporary directory instead.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", os.path.join(tempfile.gettempdir(), "nodeprep-netfilter-hypothesis"))
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, event, given, settings, strategies as st  # noqa: E402  (after importorskip, on purpose)

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures")
SETTINGS = settings(max_examples=60, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])

# Pieces real attacks and real typos are made of: YAML block scalars' newline, traversal, globs, list separators,
# option-looking dashes, NUL, non-ASCII look-alikes, apt stanza syntax.
HOSTILE = ["\n", "\r\n", "\x00", " ", "\t", "..", "/", "../../../tmp/x", "*", "?", "[", ",", ";", "=", "-", "--now",
           ":", "Package: *", "\nPin: version *", "\u0131", "\u200b", "%", "$HOME", "`id`", "'", '"', "\\"]


def hostile_variants(valid):
    """Valid values, hostile pieces, and valid values with a hostile piece before, inside or after them."""
    pieces = st.sampled_from(HOSTILE)
    base = st.sampled_from(valid)
    return st.one_of(
        base,
        pieces,
        st.builds(lambda b, p: b + p, base, pieces),
        st.builds(lambda b, p: p + b, base, pieces),
        st.builds(lambda b, p, i: b[:i % (len(b) + 1)] + p + b[i % (len(b) + 1):], base, pieces, st.integers(0, 64)),
        st.text(max_size=24),
    )


@st.composite
def at_most_one_hostile(draw, *valid_lists):
    """A tuple of valid values where, half of the time, one of them is replaced by a hostile variant.

    Independent hostile draws for several options would almost never be all valid together, and the accepted
    branch (the round trip) would go untested.
    """
    values = [draw(st.sampled_from(valid)) for valid in valid_lists]
    if draw(st.booleans()):
        index = draw(st.integers(0, len(valid_lists) - 1))
        values[index] = draw(hostile_variants(valid_lists[index]))
    return tuple(values)


def run_main(module, args):
    """(rc, result) of a module's main(); anything but SystemExit from exit_json/fail_json fails the test."""
    import io
    import sys
    out = io.StringIO()
    saved = sys.stdout
    sys.stdout = out
    try:
        with patch_module_args(args):
            with pytest.raises(SystemExit) as exc:
                module.main()
    finally:
        sys.stdout = saved
    return exc.value.code, json.loads(out.getvalue())


def tree_digest(root):
    """Every path, type, mode and content under ``root``: equal digests mean nothing changed."""
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            stat = os.lstat(path)
            digest.update(("%s %o\n" % (os.path.relpath(path, root), stat.st_mode)).encode("utf-8", "surrogateescape"))
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as handle:
                    digest.update(handle.read())
    return digest.hexdigest()


# --- sysctl_live: values ----------------------------------------------------------------------------------

SYSCTL_KEYS = ["net.ipv4.ip_forward", "net/ipv4/ip_forward", "net.bridge.bridge-nf-call-iptables",
               "net.ipv4.conf.all.forwarding", "kernel.osrelease"]
PROC_FILES = {"net/ipv4/ip_forward": "0\n", "net/bridge/bridge-nf-call-iptables": "0\n",
              "net/ipv4/conf/all/forwarding": "0\n", "kernel/osrelease": "6.12.0\n"}


def proc_tree(parent):
    root = os.path.join(parent, "root")
    for rel, text in PROC_FILES.items():
        path = os.path.join(root, "proc", "sys", rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(text)
    # A canary outside /proc/sys: a traversing key must never reach it.
    os.makedirs(os.path.join(root, "etc"))
    with open(os.path.join(root, "etc", "passwd"), "w") as handle:
        handle.write("root:x:0:0::/root:/bin/sh\n")
    return root


@SETTINGS
@given(values=at_most_one_hostile(SYSCTL_KEYS, ["1", "0", "4096 87380", "1\n"]))
def test_sysctl_live_sets_exactly_what_it_accepts_and_nothing_else(values):
    key, value = values
    with tempfile.TemporaryDirectory() as parent:
        root = proc_tree(parent)
        before = tree_digest(root)
        rc, result = run_main(sysctl_live, {"values": {key: value}, "root": root})
        event("refused" if rc else "accepted")
        if rc != 0:
            assert result["failed"] is True
            assert tree_digest(root) == before, "a refused input changed the tree"
            if sysctl_key_problem(key):
                assert repr(key) in result["msg"]
            return
        assert sysctl_key_problem(key) is None
        words = " ".join(value.split())
        path = os.path.join(root, "proc", "sys", normalize_key(key))
        with open(path) as handle:
            assert handle.read() == (words + "\n" if result["changed"] else PROC_FILES[normalize_key(key)])
        assert result["sysctls"][key]["after"] == words
        with open(os.path.join(root, "etc", "passwd")) as handle:
            assert handle.read() == "root:x:0:0::/root:/bin/sh\n"


@SETTINGS
@given(key=hostile_variants(SYSCTL_KEYS), value=st.sampled_from(["1", "0"]))
def test_sysctl_live_check_mode_never_writes(key, value):
    with tempfile.TemporaryDirectory() as parent:
        root = proc_tree(parent)
        before = tree_digest(root)
        rc, _result = run_main(sysctl_live, {"values": {key: value}, "root": root, "_ansible_check_mode": True})
        assert rc in (0, 1)
        assert tree_digest(root) == before


# --- br_netfilter_facts: sysctl_keys and managed_sysctl_file ---------------------------------------------------

@pytest.fixture(scope="module")
def facts_root():
    from ansible_collections.nodeprep.netfilter.tests.unit.conftest import materialize
    parent = tempfile.mkdtemp()
    try:
        yield materialize("trixie-6.12-state-c-bridge-br_netfilter", parent)
    finally:
        shutil.rmtree(parent)


@SETTINGS
@given(values=at_most_one_hostile(SYSCTL_KEYS + ["net.ipv4.conf.eth0/100.rp_filter"], SYSCTL_KEYS,
                                  ["/etc/sysctl.d/99-k8s.conf", "/etc/sysctl.d/k8s.conf"]))
def test_br_netfilter_facts_reports_each_accepted_key_under_its_canonical_name(facts_root, values):
    keys, managed = list(values[:2]), values[2]
    before = tree_digest(facts_root)
    rc, result = run_main(br_netfilter_facts, {"root": facts_root, "sysctl_keys": keys,
                                               "managed_sysctl_file": managed})
    assert tree_digest(facts_root) == before  # a facts module never writes, whatever it is given
    bad_keys = [key for key in keys if sysctl_key_problem(key)]
    event("refused" if rc else "accepted")
    if rc != 0:
        assert bad_keys or not managed.startswith("/") or "\x00" in managed, result["msg"]
        return
    assert not bad_keys
    facts = result["ansible_facts"]["br_netfilter"]
    for key in keys:
        assert canonical_key(key) in facts["live"]
        assert canonical_key(key) in facts["persisted"]


# --- package_pin_plan: name, packages and versions --------------------------------------------------------------

@pytest.fixture(scope="module")
def pin_root():
    parent = tempfile.mkdtemp()
    root = os.path.join(parent, "root")
    os.makedirs(os.path.join(root, "etc"))
    os.makedirs(os.path.join(root, "var", "lib", "dpkg"))
    shutil.copy(os.path.join(FIXTURES, "pins", "trixie.os-release"), os.path.join(root, "etc", "os-release"))
    shutil.copy(os.path.join(FIXTURES, "pins", "trixie-apt-3.0.3-local-repo-held.dpkg-status"),
                os.path.join(root, "var", "lib", "dpkg", "status"))
    try:
        yield root
    finally:
        shutil.rmtree(parent)


_PREF_LINE = re.compile(r"\A(?:#.*|Explanation: .*|Package: \S+(?: \S+)*|Pin: version \S+|Pin-Priority: -?\d+)\Z")


def parse_preferences(text):
    """apt_preferences(5) stanzas as dicts, asserting every line is one apt reads as intended."""
    stanzas = []
    for block in text.strip("\n").split("\n\n"):
        fields = {}
        for line in block.split("\n"):
            assert _PREF_LINE.match(line), "line apt would misread: %r" % line
            if not line.startswith(("#", "Explanation:")):
                name, _sep, value = line.partition(": ")
                assert name not in fields, "field %s twice in one stanza" % name
                fields[name] = value
        if fields:
            stanzas.append(fields)
    return stanzas


def apt_version_matches(pattern, version):
    if len(pattern) > 1 and pattern.startswith("/") and pattern.endswith("/"):
        return re.search(pattern[1:-1], version) is not None
    if any(char in pattern for char in "*?["):
        return fnmatch.fnmatchcase(version, pattern)
    return pattern == version


@SETTINGS
@given(values=at_most_one_hostile(["nodeprep-pins", "k8s_pins", "a1"],
                                  ["iptables", "libxtables12", "docker-ce", "g++", "xz"],
                                  ["1.8.10-3", "5:27.5.1-1~debian.13~trixie", "1.0", "2:1.8.11-2+b1"]))
def test_package_pin_plan_renders_accepted_pins_that_apt_reads_back(pin_root, values):
    name, package, version = values
    before = tree_digest(pin_root)
    rc, result = run_main(package_pin_plan, {"root": pin_root, "name": name, "pkg_mgr": "apt",
                                             "query_repositories": False,
                                             "pins": [{"packages": [package], "version": version}]})
    assert tree_digest(pin_root) == before
    event("refused" if rc else "accepted")
    if rc != 0:
        assert result["failed"] is True
        assert "preferences" not in result
        assert any(repr(value) in result["msg"] for value in (name, package, version)), result["msg"]
        return
    assert result["preferences_path"] == "/etc/apt/preferences.d/%s.pref" % name
    stanzas = parse_preferences(result["preferences"])
    mine = [s for s in stanzas if package in s["Package"].split(" ") and s.get("Pin-Priority") == "1001"]
    assert len(mine) == 1
    assert mine[0]["Pin"].startswith("version ")
    assert apt_version_matches(mine[0]["Pin"][len("version "):], version)
    assert {"package": package, "version": version} in [{"package": p["package"], "version": p["version"]}
                                                        for p in result["pins"]]


@SETTINGS
@given(values=at_most_one_hostile(["docker-ce", "kernel", "containerd.io"], ["27.3.1", "3:27.5.1-1.el9", "1.0"]))
def test_package_pin_plan_dnf_patterns_exclude_only_what_was_forbidden(pin_root, values):
    package, version = values
    rc, result = run_main(package_pin_plan, {"root": pin_root, "pkg_mgr": "dnf", "dnf_method": "excludepkgs",
                                             "forbid": [{"packages": [package], "versions": [version]}]})
    event("refused" if rc else "accepted")
    if rc != 0:
        assert "excludepkgs" not in result
        assert repr(package) in result["msg"] or repr(version) in result["msg"], result["msg"]
        return
    assert result["excludepkgs"], result
    for pattern in result["excludepkgs"]:
        # one whole pattern each: a comma or a space would make dnf read two, the second matching anything
        assert "," not in pattern and not any(char.isspace() for char in pattern)
        assert pattern.startswith(package + "-")


USER_DNF_CONF = "[main]\ngpgcheck=1\nexcludepkgs=kernel*, java-11-openjdk\nskip_if_unavailable=False\n"


@pytest.fixture(scope="module")
def dnf_root():
    parent = tempfile.mkdtemp()
    root = os.path.join(parent, "root")
    os.makedirs(os.path.join(root, "etc", "dnf"))
    shutil.copy(os.path.join(FIXTURES, "pkg_mgr", "rocky-9.os-release"), os.path.join(root, "etc", "os-release"))
    with open(os.path.join(root, "etc", "dnf", "dnf.conf"), "w") as handle:
        handle.write(USER_DNF_CONF)
    try:
        yield root
    finally:
        shutil.rmtree(parent)


@SETTINGS
@given(values=at_most_one_hostile(["nodeprep-pins", "k8s_pins", "a1"], ["docker-ce", "kernel", "containerd.io"],
                                  ["27.3.1", "3:27.5.1-1.el9", "1.0"]))
def test_package_pin_plan_merges_excludepkgs_into_the_users_line_and_takes_out_only_its_own(dnf_root, values):
    name, package, version = values
    before = tree_digest(dnf_root)
    rc, result = run_main(package_pin_plan, {"root": dnf_root, "name": name, "pkg_mgr": "dnf",
                                             "dnf_method": "excludepkgs",
                                             "forbid": [{"packages": [package], "versions": [version]}]})
    assert tree_digest(dnf_root) == before  # the plan only renders; the role writes
    event("refused" if rc else "accepted")
    if rc != 0:
        assert "dnf_conf" not in result
        assert any(repr(value) in result["msg"] for value in values), result["msg"]
        return
    present, ours = result["dnf_conf"]["present"], result["excludepkgs"]
    parsed = parse_dnf_conf_excludes(present)
    assert re.split(r"[\s,]+", parsed["value"]) == ["kernel*", "java-11-openjdk"] + ours
    assert parsed["claims"] == {name: ours}  # the record reads back with the name and entries it was written with
    assert merge_dnf_excludepkgs(present, name, ours) == present
    assert merge_dnf_excludepkgs(present, name, []) == USER_DNF_CONF


@SETTINGS
@given(pkg_mgr=hostile_variants(["auto", "apt", "dnf", "dnf5", "yum"]))
def test_package_pin_plan_plans_only_for_apt_dnf_and_dnf5(pin_root, pkg_mgr):
    rc, result = run_main(package_pin_plan, {"root": pin_root, "pkg_mgr": pkg_mgr, "validate_only": True})
    event("refused" if rc else "accepted")
    if pkg_mgr in ("auto", "apt", "dnf"):
        assert rc == 0 and result["pkg_mgr"] == ("apt" if pkg_mgr == "auto" else pkg_mgr)
    elif pkg_mgr == "dnf5":
        # A valid choice, refused on this tree: it has no dnf5 command.
        assert rc == 1 and "dnf5 was asked for, but no dnf5 command was found" in result["msg"], result
    else:
        assert rc == 1 and "value of pkg_mgr must be one of: auto, apt, dnf, dnf5" in result["msg"], result


# --- docker_iptables_audit: netns name ---------------------------------------------------------------------------

@SETTINGS
@given(name=hostile_variants(["ci-netns", "ns1", "a.b"]))
def test_a_netns_name_stays_inside_the_netns_directory(name):
    try:
        path = netns_path(name, "/run/netns")
    except NetnsError as exc:
        event("refused")
        assert repr(name) in str(exc)
        return
    assert os.path.dirname(os.path.normpath(path)) == "/run/netns"
    assert os.path.basename(path) == name


# --- external input parsers: command output and API replies ----------------------------------------------------

IPTABLES_PIECES = ["*nat", "*filter", ":PREROUTING ACCEPT [0:0]", ":DOCKER - [0:0]", "-A PREROUTING -j DOCKER",
                   "-A DOCKER -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80", "COMMIT",
                   "# Generated by iptables-nft-save v1.8.11 (nf_tables)", "-A DOCKER \"unterminated", "[1:2] -A X",
                   "-A", ":", "*", "# Warning: iptables-legacy tables present, use iptables-legacy-save to see them"]


@SETTINGS
@given(lines=st.lists(st.one_of(st.sampled_from(IPTABLES_PIECES), st.text(max_size=30)), max_size=12))
def test_iptables_save_output_parses_or_names_the_line(lines):
    from ansible_collections.nodeprep.netfilter.plugins.module_utils._iptables import (
        IptablesParseError,
        parse_iptables_save,
        parse_iptables_version,
    )
    text = "\n".join(lines)
    try:
        parsed = parse_iptables_save(text)
    except IptablesParseError as exc:
        event("refused")
        assert str(exc)
    else:
        event("accepted")
        for table in parsed["tables"].values():
            for rule in table["rules"]:
                assert rule["chain"] in table["chains"]
    try:
        parse_iptables_version(text)
    except IptablesParseError:
        pass


JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12)),
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.sampled_from(["Name", "Driver", "Options", "IPAM", "Config",
                                                                "Subnet", "Ports", "PublicPort", "PrivatePort", "IP",
                                                                "Names", "NetworkSettings", "Networks", "IPAddress",
                                                                "ServerVersion", "SecurityOptions", "Warnings",
                                                                "FirewallBackend", "Id", "Type"]),
                                               children, max_size=5)),
    max_leaves=20)


@SETTINGS
@given(info=JSON_VALUES, networks=JSON_VALUES, containers=JSON_VALUES)
def test_any_engine_json_is_audited_without_a_traceback(info, networks, containers):
    from ansible_collections.nodeprep.netfilter.plugins.module_utils._docker_audit import audit
    from ansible_collections.nodeprep.netfilter.plugins.module_utils._docker_collect import sanitize_engine
    engine = sanitize_engine({"socket": "/var/run/docker.sock", "socket_present": True, "reachable": True,
                              "error": None, "info": info, "networks": networks, "containers": containers})
    collected = {"root": "/", "privileges": None, "packages": {"manager": None, "installed": {}, "error": None},
                 "docker": {"dockerd_path": "/usr/bin/dockerd", "cli_path": None, "dockerd_version_output": None,
                            "daemon_json": {"present": False, "explicit": {}, "error": None}, "systemd": {},
                            "rootless": [], "engine": engine},
                 "iptables": {"binary": None, "version_output": None, "version_error": None, "saves": {},
                              "legacy_table_names": None},
                 "routes": [], "br_netfilter": None, "br_netfilter_error": None, "commands": [], "unreadable": []}
    result = audit(collected)
    assert isinstance(result["findings"], list)


@SETTINGS
@given(body=st.binary(max_size=64))
def test_any_chunked_body_decodes_or_is_an_engine_error(body):
    from ansible_collections.nodeprep.netfilter.plugins.module_utils._docker_api import EngineError, _dechunk
    try:
        decoded = _dechunk(body)
    except EngineError as exc:
        assert "malformed chunked" in str(exc)
    else:
        assert len(decoded) <= len(body)


@SETTINGS
@given(docker=hostile_variants(["28.5.2+dfsg4-5", "5:27.3.1-1~debian.12~bookworm", "27.5.1"]),
       iptables=hostile_variants(["1.8.11-1", "1.8.11-2", "1.8.9-2"]),
       engine_version=hostile_variants(["28.5.2+dfsg4", "27.3.1", "28.0.0-rc.1"]))
def test_any_package_or_engine_version_is_audited_without_a_traceback(docker, iptables, engine_version):
    from ansible_collections.nodeprep.netfilter.plugins.module_utils._docker_audit import audit
    collected = {"root": "/", "privileges": None,
                 "packages": {"manager": "dpkg", "error": None,
                              "installed": {"docker.io": {"version": docker}, "iptables": {"version": iptables}}},
                 "docker": {"dockerd_path": "/usr/bin/dockerd", "cli_path": None, "dockerd_version_output": None,
                            "daemon_json": {"present": False, "explicit": {}, "error": None}, "systemd": {},
                            "rootless": [],
                            "engine": {"socket": "/var/run/docker.sock", "socket_present": True, "reachable": True,
                                       "error": None, "info": {"ServerVersion": engine_version},
                                       "networks": [], "containers": []}},
                 "iptables": {"binary": "/usr/sbin/iptables", "version_output": "iptables v%s (nf_tables)" % iptables,
                              "version_error": None, "saves": {}, "legacy_table_names": None},
                 "routes": [], "br_netfilter": None, "br_netfilter_error": None, "commands": [], "unreadable": []}
    result = audit(collected)
    assert isinstance(result["summary"], dict)


# --- docker_br_netfilter_compat_plan and docker_iptables_audit: every string option ---------------------------

def docker_tree(parent):
    """Debian's docker.io 28.5.2 installed, icc=false in daemon.json, no drop-in yet, no engine socket."""
    root = os.path.join(parent, "root")
    files = {"var/lib/dpkg/status": "Package: docker.io\nStatus: install ok installed\nVersion: 28.5.2+dfsg4-5\n"
                                    "Architecture: amd64\n\n",
             "etc/docker/daemon.json": '{"icc": false}\n', "etc/systemd/system/.keep": "",
             "etc/passwd": "root:x:0:0::/root:/bin/sh\n"}
    for rel, text in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(text)
    return root


COMPAT_STRINGS = {"service": ["docker.service", "docker", "snap.docker.dockerd.service"],
                  "docker_version": ["28.5.2", "27.5.1", "26.1.5+dfsg1-9"],
                  "br_netfilter_state": ["blocked", "loadable", "loaded"],
                  "mode": ["auto", "always", "never"]}


@SETTINGS
@given(values=at_most_one_hostile(*COMPAT_STRINGS.values()))
def test_docker_compat_plan_string_options_end_in_a_result_or_a_named_refusal(values):
    from ansible_collections.nodeprep.netfilter.plugins.modules import docker_br_netfilter_compat_plan
    options = dict(zip(COMPAT_STRINGS, values))
    with tempfile.TemporaryDirectory() as parent:
        root = docker_tree(parent)
        before = tree_digest(root)
        # An absent socket: the engine is not asked (the property is about the options, not the engine).
        rc, result = run_main(docker_br_netfilter_compat_plan, dict(
            options, root=root, dropin_path=os.path.join(root, "etc/systemd/system/docker.service.d/x.conf"),
            docker_socket=os.path.join(root, "run/docker.sock")))
        assert tree_digest(root) == before
    assert result.get("changed", False) is False
    if rc == 0:
        event("accepted")
        # An accepted service name is a unit name: the drop-in directory stays under the systemd directory.
        assert result["dropin"]["path"].startswith(root + "/etc/systemd/system/")
        assert "/../" not in result["dropin"]["path"] and "\n" not in result["dropin"]["path"]
    else:
        event("refused")
        assert result["failed"] is True and result["msg"]


AUDIT_STRINGS = {"iptables_binary": ["iptables", "/usr/sbin/iptables"],
                 "netns": ["", "nodeprep-missing-netns"],
                 "fail_on": ["none", "high", "medium"]}


@SETTINGS
@given(values=at_most_one_hostile(*AUDIT_STRINGS.values()))
def test_docker_iptables_audit_string_options_end_in_a_result_or_a_named_refusal(values):
    from ansible_collections.nodeprep.netfilter.plugins.modules import docker_iptables_audit
    options = {key: value for key, value in zip(AUDIT_STRINGS, values) if value != ""}
    with tempfile.TemporaryDirectory() as parent:
        root = docker_tree(parent)
        before = tree_digest(root)
        rc, result = run_main(docker_iptables_audit, dict(options, root=root, query_engine=False, br_netfilter=False))
        assert tree_digest(root) == before
    assert result.get("changed", False) is False
    if rc == 0:
        event("audited")
        assert isinstance(result["findings"], list)
    else:
        event("refused")
        assert result["failed"] is True and result["msg"]
