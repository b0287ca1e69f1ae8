# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.nodeprep.netfilter.plugins.module_utils import _docker_env as env
from ansible_collections.nodeprep.netfilter.plugins.module_utils._rootfs import RootFS

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "docker")

# Debian's docker.io unit (trixie), shortened to the lines that matter here.
DEBIAN_UNIT = """[Unit]
Description=Docker Application Container Engine
After=network-online.target docker.socket firewalld.service containerd.service time-set.target

[Service]
Type=notify
# the default is not to use systemd for cgroups
EnvironmentFile=-/etc/default/docker
ExecStart=/usr/sbin/dockerd -H fd:// $DOCKER_OPTS
ExecReload=/bin/kill -s HUP $MAINPID

[Install]
WantedBy=multi-user.target
"""


def make_tree(base, files):
    """files: {path: text | ("link", target)}; returns the root path."""
    for path, content in files.items():
        full = os.path.join(str(base), path.lstrip("/"))
        parent = os.path.dirname(full)
        if not os.path.isdir(parent):
            os.makedirs(parent)
        if isinstance(content, tuple):
            os.symlink(content[1], full)
        else:
            with open(full, "w") as handle:
                handle.write(content)
    return str(base)


# --- daemon.json -------------------------------------------------------------

def test_daemon_json_defaults_when_absent():
    parsed = env.parse_daemon_json("")
    assert parsed["explicit"] == {}
    assert parsed["settings"]["icc"] is True
    assert parsed["settings"]["userland-proxy"] is True
    assert parsed["settings"]["iptables"] is True


def test_daemon_json_explicit_values_override_defaults():
    parsed = env.parse_daemon_json('{"icc": false, "userland-proxy": false, "log-driver": "journald"}')
    assert parsed["explicit"] == {"icc": False, "userland-proxy": False}
    assert parsed["settings"]["icc"] is False


@pytest.mark.parametrize("text,message", [
    ('{"icc": false,}', "invalid JSON"),
    ('["icc"]', "top level must be a JSON object"),
    ('{"icc": "false"}', "'icc' must be a JSON boolean"),
    ('{"firewall-backend": 1}', "'firewall-backend' must be a JSON string"),
])
def test_daemon_json_that_dockerd_refuses_is_an_error(text, message):
    with pytest.raises(env.ConfigError, match=message):
        env.parse_daemon_json(text)


def test_read_daemon_json_reports_errors_without_raising(tmp_path):
    root = make_tree(tmp_path, {"/etc/docker/daemon.json": "{oops"})
    result = env.read_daemon_json(RootFS(root))
    assert result["present"] is True
    assert result["error"].startswith("invalid JSON")
    assert result["settings"]["icc"] is True


# --- systemd units -------------------------------------------------------------

def test_unit_parser_joins_continuations_and_skips_comments():
    entries = env.parse_unit("[Service]\n# c\nExecStart=/usr/bin/dockerd \\\n  --icc=false \\\n  -H fd://\n; x\nType=notify\n")
    assert entries == [("Service", "ExecStart", "/usr/bin/dockerd --icc=false -H fd://", 3),
                       ("Service", "Type", "notify", 7)]


def test_debian_unit_reads_its_environment_file_like_systemd(tmp_path):
    root = make_tree(tmp_path, {
        "/usr/lib/systemd/system/docker.service": DEBIAN_UNIT,
        "/etc/default/docker": '# Docker Upstart and SysVinit configuration file\n'
                               'export http_proxy="http://127.0.0.1:3128/"\nDOCKER_OPTS="--dns 8.8.8.8"\n',
    })
    unit = env.read_systemd_unit(RootFS(root))
    assert unit["unit"] == "/usr/lib/systemd/system/docker.service"
    assert unit["exec_start"] == "/usr/sbin/dockerd -H fd:// $DOCKER_OPTS"
    # systemd ignores "export NAME=..." lines (not a valid variable name)
    assert unit["environment"] == {"DOCKER_OPTS": "--dns 8.8.8.8"}
    assert unit["environment_sources"]["DOCKER_OPTS"] == "/etc/default/docker"
    assert unit["environment_files"][0]["optional"] is True


def test_dropins_sort_by_name_across_dirs_and_etc_masks_same_name(tmp_path):
    root = make_tree(tmp_path, {
        "/usr/lib/systemd/system/docker.service": DEBIAN_UNIT,
        "/usr/lib/systemd/system/docker.service.d/50-env.conf": "[Service]\nEnvironment=A=usr B=usr\n",
        "/etc/systemd/system/docker.service.d/50-env.conf": "[Service]\nEnvironment=A=etc\n",
        "/run/systemd/system/docker.service.d/20-early.conf": "[Service]\nEnvironment=\"C=run with space\"\n",
        "/etc/systemd/system/docker.service.d/90-late.conf": "[Service]\nEnvironment=C=late\n",
        "/usr/lib/systemd/system/docker.service.d/60-masked.conf": "[Service]\nEnvironment=D=should-not-apply\n",
        "/etc/systemd/system/docker.service.d/60-masked.conf": ("link", "/dev/null"),
    })
    unit = env.read_systemd_unit(RootFS(root))
    assert unit["dropins"] == ["/run/systemd/system/docker.service.d/20-early.conf",
                               "/etc/systemd/system/docker.service.d/50-env.conf",
                               "/etc/systemd/system/docker.service.d/90-late.conf"]
    assert unit["environment"] == {"A": "etc", "C": "late"}
    assert unit["environment_sources"]["C"] == "/etc/systemd/system/docker.service.d/90-late.conf:2"


def test_empty_environment_line_resets_earlier_assignments(tmp_path):
    root = make_tree(tmp_path, {
        "/lib/systemd/system/docker.service": "[Service]\nEnvironment=A=1 B=2\nExecStart=/usr/bin/dockerd\n",
        "/etc/systemd/system/docker.service.d/override.conf": "[Service]\nEnvironment=\nEnvironment=C=3\n",
    })
    unit = env.read_systemd_unit(RootFS(root))
    assert unit["environment"] == {"C": "3"}


def test_environment_file_overrides_environment_lines(tmp_path):
    root = make_tree(tmp_path, {
        "/lib/systemd/system/docker.service": "[Service]\nEnvironmentFile=-/etc/default/docker\n"
                                              "Environment=DOCKER_IGNORE_BR_NETFILTER_ERROR=0\n",
        "/etc/default/docker": "DOCKER_IGNORE_BR_NETFILTER_ERROR=1\n",
    })
    unit = env.read_systemd_unit(RootFS(root))
    assert unit["environment"]["DOCKER_IGNORE_BR_NETFILTER_ERROR"] == "1"
    assert unit["environment_sources"]["DOCKER_IGNORE_BR_NETFILTER_ERROR"] == "/etc/default/docker"


def test_exec_start_reset_and_replacement_in_a_dropin(tmp_path):
    root = make_tree(tmp_path, {
        "/lib/systemd/system/docker.service": DEBIAN_UNIT,
        "/etc/systemd/system/docker.service.d/flags.conf": "[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd --icc=false\n",
    })
    unit = env.read_systemd_unit(RootFS(root))
    assert unit["exec_start"] == "/usr/sbin/dockerd --icc=false"


def test_unit_in_etc_wins_and_a_dev_null_unit_is_masked(tmp_path):
    root = make_tree(tmp_path, {
        "/lib/systemd/system/docker.service": DEBIAN_UNIT,
        "/etc/systemd/system/docker.service": ("link", "/dev/null"),
    })
    unit = env.read_systemd_unit(RootFS(root))
    assert unit["unit"] == "/etc/systemd/system/docker.service"
    assert unit["masked"] is True
    assert unit["environment"] == {}


def test_no_unit_at_all(tmp_path):
    unit = env.read_systemd_unit(RootFS(str(tmp_path)))
    assert unit["unit"] is None and unit["exec_start"] is None


@pytest.mark.parametrize("exec_start,expected", [
    ("/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock", {}),
    ("/usr/bin/dockerd --icc=false --userland-proxy=0", {"icc": False, "userland-proxy": False}),
    ("/usr/bin/dockerd --iptables", {"iptables": True}),
    ("/usr/bin/dockerd --config-file /srv/docker.json -b none", {"config-file": "/srv/docker.json", "bridge": "none"}),
    ("/usr/bin/dockerd --firewall-backend=nftables", {"firewall-backend": "nftables"}),
    ("/usr/bin/dockerd --icc=maybe", {"icc": "maybe"}),
    (None, {}),
])
def test_dockerd_flags_on_exec_start(exec_start, expected):
    assert env.parse_dockerd_flags(exec_start) == expected


# --- rootless ------------------------------------------------------------------

ROOTLESS_UNIT = """[Unit]
Description=Docker Application Container Engine (Rootless)

[Service]
Environment=PATH=/usr/bin:/sbin:/usr/sbin:/home/alice/bin
ExecStart=/usr/bin/dockerd-rootless.sh
Type=notify

[Install]
WantedBy=default.target
"""


def test_rootless_docker_with_slirp4netns_port_driver_in_an_override(tmp_path):
    root = make_tree(tmp_path, {
        "/etc/passwd": "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:,,,:/home/alice:/bin/bash\n"
                       "bob:x:1001:1001::/home/bob:/bin/bash\n",
        "/home/alice/.config/systemd/user/docker.service": ROOTLESS_UNIT,
        "/home/alice/.config/systemd/user/docker.service.d/override.conf":
            "[Service]\nEnvironment=\"DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER=slirp4netns\"\n",
        "/home/alice/.config/systemd/user/default.target.wants/docker.service":
            ("link", "/home/alice/.config/systemd/user/docker.service"),
        "/home/bob/.bashrc": "",
    })
    found = env.read_rootless(RootFS(root))
    assert len(found) == 1
    alice = found[0]
    assert (alice["user"], alice["uid"]) == ("alice", 1000)
    assert alice["port_driver"] == "slirp4netns"
    assert alice["port_driver_source"] == "/home/alice/.config/systemd/user/docker.service.d/override.conf:2"
    assert alice["uses_rootless_script"] is True
    assert alice["enabled"] is True
    assert alice["socket"] == "/run/user/1000/docker.sock"


def test_rootless_default_port_driver_is_builtin(tmp_path):
    root = make_tree(tmp_path, {
        "/etc/passwd": "carol:x:1002:1002::/home/carol:/bin/sh\n",
        "/home/carol/.config/systemd/user/docker.service": ROOTLESS_UNIT,
    })
    found = env.read_rootless(RootFS(root))
    assert found[0]["port_driver"] == "builtin"
    assert found[0]["port_driver_source"] == "default"
    assert found[0]["enabled"] is False


# --- docker info, networks, containers -------------------------------------------

def test_docker_info_28_reports_firewall_backend():
    with open(os.path.join(FIXTURES, "docker-28.5.2-trixie.info.json")) as handle:
        parsed = env.parse_docker_info(handle.read())
    assert parsed["server_version"] == "28.5.2+dfsg4"
    assert parsed["firewall_backend"] == "iptables"
    assert parsed["bridge_nf_iptables"] is None
    assert parsed["rootless"] is False
    assert parsed["warnings"] == []


def test_docker_info_26_reports_bridge_nf_warnings():
    with open(os.path.join(FIXTURES, "docker-26.1.5-trixie.info.json")) as handle:
        parsed = env.parse_docker_info(json.load(handle))
    assert parsed["server_version"] == "26.1.5+dfsg1"
    assert parsed["firewall_backend"] is None
    assert parsed["bridge_nf_iptables"] is False
    assert parsed["warnings"] == ["WARNING: bridge-nf-call-iptables is disabled",
                                  "WARNING: bridge-nf-call-ip6tables is disabled"]


def test_rootless_engine_is_recognised_from_security_options():
    parsed = env.parse_docker_info({"ServerVersion": "28.5.2", "SecurityOptions": ["name=seccomp,profile=builtin",
                                                                                   "name=rootless", "name=cgroupns"]})
    assert parsed["rootless"] is True


@pytest.mark.parametrize("data", ["not json", "{}", '{"ServerVersion": ""}', "[]"])
def test_docker_info_without_server_version_is_an_error(data):
    with pytest.raises(env.ConfigError):
        env.parse_docker_info(data)


def test_networks_default_bridge_name_is_br_and_the_id_prefix():
    networks = env.parse_networks([
        {"Name": "n1", "Id": "6d8e2700cbce1234", "Driver": "bridge", "IPAM": {"Config": [{"Subnet": "172.18.0.0/16"}]},
         "Options": {"com.docker.network.bridge.enable_ip_masquerade": "false"}},
        {"Name": "none", "Id": "x", "Driver": "null"},
    ])
    assert networks == [{"name": "n1", "bridge": "br-6d8e2700cbce", "subnets": ["172.18.0.0/16"], "internal": False,
                         "masquerade": False, "gateway_mode_ipv4": "nat", "icc": True, "default_bridge": False}]


def test_networks_name_the_default_bridge_and_a_network_without_icc():
    networks = env.parse_networks([
        {"Name": "bridge", "Id": "f" * 64, "Driver": "bridge",
         "Options": {"com.docker.network.bridge.default_bridge": "true", "com.docker.network.bridge.enable_icc": "false",
                     "com.docker.network.bridge.name": "docker0"}},
        {"Name": "n1", "Id": "a" * 64, "Driver": "bridge", "Options": {"com.docker.network.bridge.enable_icc": "false"}},
    ])
    found = [(net["name"], net["default_bridge"], net["icc"]) for net in networks]
    assert found == [("bridge", True, False), ("n1", False, False)]


def test_networks_and_published_ports_come_out_in_one_order_whatever_order_the_engine_lists_them():
    # dockerd lists networks in its store's order (random network IDs): two daemons with the same networks differ.
    listed = [
        {"Name": "n1", "Id": "1" * 64, "Driver": "bridge"},
        {"Name": "bridge", "Id": "f" * 64, "Driver": "bridge", "Options": {"com.docker.network.bridge.name": "docker0"}},
        {"Name": "app", "Id": "7" * 64, "Driver": "bridge"},
    ]
    containers = [
        {"Names": ["/web2"], "Ports": [{"PublicPort": 8082, "PrivatePort": 80, "Type": "tcp", "IP": "0.0.0.0"},
                                       {"PublicPort": 8081, "PrivatePort": 80, "Type": "tcp", "IP": "0.0.0.0"}]},
        {"Names": ["/web"], "Ports": [{"PublicPort": 8080, "PrivatePort": 80, "Type": "udp", "IP": "0.0.0.0"},
                                      {"PublicPort": 8080, "PrivatePort": 80, "Type": "tcp", "IP": "0.0.0.0"}]},
    ]
    assert [net["name"] for net in env.parse_networks(listed)] == ["app", "bridge", "n1"]
    assert env.parse_networks(listed) == env.parse_networks(list(reversed(listed)))
    ports = [(port["container"], port["host_port"], port["proto"]) for port in env.parse_containers(containers)]
    assert ports == [("web", 8080, "tcp"), ("web", 8080, "udp"), ("web2", 8081, "tcp"), ("web2", 8082, "tcp")]
    assert env.parse_containers(containers) == env.parse_containers(list(reversed(containers)))


def test_effective_settings_flags_over_daemon_json_over_defaults():
    daemon_json = {"path": "/etc/docker/daemon.json", "explicit": {"icc": False, "userland-proxy": False}}
    unit = "/usr/lib/systemd/system/docker.service"
    settings, sources = env.effective_settings(daemon_json, {"userland-proxy": True}, unit)
    assert (settings["icc"], settings["userland-proxy"], settings["iptables"]) == (False, True, True)
    assert (sources["icc"], sources["iptables"], sources["userland-proxy"]) == (
        "/etc/docker/daemon.json", "default", "ExecStart flag in " + unit)


def test_the_first_comment_line_of_each_drop_in_is_kept(tmp_path):
    unit_dir = tmp_path / "usr" / "lib" / "systemd" / "system"
    unit_dir.mkdir(parents=True)
    (unit_dir / "docker.service").write_text("# vendor\n[Service]\nExecStart=/usr/sbin/dockerd\n")
    dropins = tmp_path / "etc" / "systemd" / "system" / "docker.service.d"
    dropins.mkdir(parents=True)
    (dropins / "10-br-netfilter.conf").write_text("# Managed by x (mode=always): y\n[Service]\nEnvironment=A=1\n")
    (dropins / "20-plain.conf").write_text("[Service]\nEnvironment=B=1\n")
    unit = env.read_systemd_unit(RootFS(str(tmp_path)))
    assert unit["dropin_first_lines"] == {
        "/etc/systemd/system/docker.service.d/10-br-netfilter.conf": "# Managed by x (mode=always): y"}
    assert unit["environment_sources"]["A"] == "/etc/systemd/system/docker.service.d/10-br-netfilter.conf:3"


# --- packages ------------------------------------------------------------------

DPKG_STATUS = """Package: containerd
Status: install ok installed
Version: 2.1.9~ds1-1

Package: docker.io
Status: install ok installed
Priority: optional
Architecture: amd64
Version: 28.5.2+dfsg4-5
Description: Linux container runtime
 with a continuation line
 Version: 0.0 (not a field)

Package: docker-ce
Status: deinstall ok config-files
Version: 5:27.3.1-1~debian.12~bookworm

Package: iptables
Status: hold ok installed
Architecture: amd64
Version: 1.8.11-1
"""


def test_dpkg_status_lists_installed_packages_only():
    packages = env.parse_dpkg_status(DPKG_STATUS, wanted=("docker.io", "docker-ce", "iptables", "runc"))
    assert packages == {
        "docker.io": {"version": "28.5.2+dfsg4-5", "architecture": "amd64", "status": "install ok installed"},
        "iptables": {"version": "1.8.11-1", "architecture": "amd64", "status": "hold ok installed"},
    }


def test_dpkg_status_without_filter_keeps_everything_installed():
    assert sorted(env.parse_dpkg_status(DPKG_STATUS)) == ["containerd", "docker.io", "iptables"]


def test_dpkg_status_filter_matches_whole_names_and_any_field_order():
    # The wanted filter skips stanzas on their Package line: a name that only starts like a wanted one stays out,
    # a stanza that does not start with Package is still parsed, and whitespace-only lines still separate stanzas.
    text = ("Package: iptables-persistent\nStatus: install ok installed\nVersion: 1.0.20\n \n"
            "Status: install ok installed\nVersion: 1.8.11-2\nPackage: iptables\n\n\n"
            "Package: docker.io\r\nStatus: install ok installed\nVersion: 26.1.5+dfsg1-9+b9\n")
    packages = env.parse_dpkg_status(text, wanted=("iptables", "docker.io"))
    assert {name: info["version"] for name, info in packages.items()} == {
        "iptables": "1.8.11-2", "docker.io": "26.1.5+dfsg1-9+b9"}
    assert sorted(env.parse_dpkg_status(text)) == ["docker.io", "iptables", "iptables-persistent"]


def test_rpm_query_output():
    text = "docker-ce\t3:27.3.1-1.el9\npackage moby-engine is not installed\niptables-nft\t0:1.8.10-11.el9\n"
    assert env.parse_rpm_query(text) == {"docker-ce": {"version": "3:27.3.1-1.el9"},
                                         "iptables-nft": {"version": "0:1.8.10-11.el9"}}


# --- routes --------------------------------------------------------------------

def test_proc_net_route_gives_directly_attached_subnets():
    text = ("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
            "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
            "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
            "docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n")
    assert env.parse_proc_net_route(text) == [{"iface": "eth0", "subnet": "192.0.2.0/24"},
                                              {"iface": "docker0", "subnet": "172.17.0.0/16"}]
