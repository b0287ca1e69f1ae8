# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Container, WSL and capability detection."""

from __future__ import annotations

import gzip
import os

import pytest

from ansible_collections.nodeprep.netfilter.plugins.module_utils._br_netfilter import gather_br_netfilter_facts
from ansible_collections.nodeprep.netfilter.plugins.module_utils._kernel_env import (
    cgroup_hint,
    detect_environment,
    find_in_modules_dep,
    parse_cap_eff,
    parse_kernel_config,
    parse_proc_modules,
)
from ansible_collections.nodeprep.netfilter.plugins.module_utils._rootfs import RootFS

FIXTURES = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "br_netfilter"))


def env_of(root):
    return gather_br_netfilter_facts(root)["environment"]


def test_dockerenv_alone_on_the_dev_vm_is_not_a_container(tree):
    env = env_of(tree("host-6.18-builtin-nomodules"))
    assert env["container"] is None
    assert env["initial_pid_namespace"] is True
    assert {"source": "/.dockerenv", "detail": "present", "weight": "weak"} in env["container_evidence"]
    assert env["container_rule"].startswith("initial PID namespace")


def test_visible_kthreadd_also_proves_the_host(tree):
    env = env_of(tree("derived-host-6.18-dockerenv-kthreadd"))
    assert env["container"] is None
    assert env["initial_pid_namespace"] is True


def test_without_namespace_evidence_dockerenv_decides_as_weak_hint(tree):
    env = env_of(tree("derived-host-6.18-dockerenv-no-ns-evidence"))
    assert env["container"] == "docker"
    assert env["container_rule"] == "weak hints only (PID namespace unknown)"


@pytest.mark.parametrize("name, container, can_load", [
    ("derived-trixie-6.12-docker-container", "docker", False),
    ("derived-trixie-6.12-lxc-container", "lxc", False),
    ("derived-trixie-6.12-podman-container", "podman", True),
])
def test_container_type_and_module_rights(tree, name, container, can_load):
    env = env_of(tree(name))
    assert env["container"] == container
    assert env["can_load_modules"] is can_load


def test_lxc_is_known_from_pid1_environ_and_user_namespace(tree):
    env = env_of(tree("derived-trixie-6.12-lxc-container"))
    assert {"source": "/proc/1/environ", "detail": "container=lxc", "weight": "strong"} in env["container_evidence"]
    assert env["initial_user_namespace"] is False


def test_strong_evidence_beats_initial_pid_namespace(make_tree):
    root = make_tree("trixie-6.12-state-a-nothing-loaded", {"run/systemd/container": "systemd-nspawn\n"})
    env = detect_environment(RootFS(root), "6.12")
    assert env["container"] == "systemd-nspawn"


def test_non_initial_pid_namespace_without_hints_is_unknown_container(make_tree):
    root = make_tree("trixie-6.12-state-a-nothing-loaded", {"proc/self/ns/pid": ("->", "pid:[4026532999]")})
    assert detect_environment(RootFS(root), "6.12")["container"] == "unknown"


@pytest.mark.parametrize("line, kind", [
    ("12:memory:/docker/3f9c1d2e4b5a6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2", "docker"),
    ("0::/system.slice/docker-3f9c1d2e4b5a6c7d8e9f.scope", "docker"),
    ("0::/lxc.payload.web01/init.scope", "lxc"),
    ("0::/kubepods.slice/kubepods-besteffort.slice/cri-containerd-abc.scope", "kubernetes"),
    ("0::/system.slice/docker.service", None),
    ("0::/", None),
    ("4:memory:/process_api/b17f294401e0c83925a6fb206aeb1cc6", None),
])
def test_cgroup_hints(line, kind):
    hint = cgroup_hint(line)
    assert (hint[0] if hint else None) == kind


@pytest.mark.parametrize("name, wsl", [
    ("derived-wsl2-5.15", True),
    ("host-6.18-builtin-nomodules", False),
])
def test_wsl_from_kernel_release(tree, name, wsl):
    assert env_of(tree(name))["wsl"] is wsl


def test_wsl_from_interop_binfmt(make_tree):
    root = make_tree("trixie-6.12-state-a-nothing-loaded", {"proc/sys/fs/binfmt_misc/WSLInterop": "enabled\n"})
    assert env_of(root)["wsl"] is True


def test_cap_sys_module_bit_is_read_from_capeff():
    assert parse_cap_eff("CapEff:\t000001fffeffffff\n") & (1 << 16)
    assert parse_cap_eff("CapEff:\t00000000a80425fb\n") & (1 << 16) == 0
    assert parse_cap_eff("Name: x\n") is None


def test_modules_disabled_values(tree):
    assert env_of(tree("derived-trixie-6.12-modules-disabled"))["modules_disabled"] is True
    assert env_of(tree("trixie-6.12-state-a-nothing-loaded"))["modules_disabled"] is False
    assert env_of(tree("host-6.18-builtin-nomodules"))["modules_disabled"] is None


def test_parsers_on_captured_text():
    mods = parse_proc_modules("br_netfilter 36864 0 - Live 0xffffffffc0ae5000\nbridge 393216 1 br_netfilter, Live 0x0\n")
    assert mods == {"br_netfilter": "Live", "bridge": "Live"}
    dep = ("kernel/net/bridge/bridge.ko.xz: kernel/net/802/stp.ko.xz\n"
           "kernel/net/bridge/br_netfilter.ko.xz: kernel/net/bridge/bridge.ko.xz\n")
    assert find_in_modules_dep(dep, "br_netfilter") == ["kernel/net/bridge/br_netfilter.ko.xz"]
    assert find_in_modules_dep(dep, "bridge") == ["kernel/net/bridge/bridge.ko.xz"]
    with gzip.open(os.path.join(FIXTURES, "host-6.18-builtin-nomodules", "proc", "config.gz"), "rt") as handle:
        config = parse_kernel_config(handle.read())
    assert (config["CONFIG_MODULES"], config["CONFIG_BRIDGE_NETFILTER"]) == ("n", "y")


def test_only_the_wanted_names_are_parsed_with_the_values_a_full_parse_gives():
    with gzip.open(os.path.join(FIXTURES, "host-6.18-builtin-nomodules", "proc", "config.gz"), "rt") as handle:
        text = handle.read()
    full = parse_kernel_config(text)
    wanted = ("CONFIG_MODULES", "CONFIG_BRIDGE", "CONFIG_BRIDGE_NETFILTER", "CONFIG_OVERLAY_FS")
    assert parse_kernel_config(text, wanted) == dict((name, full[name]) for name in wanted if name in full)
    # A name is matched whole: CONFIG_BRIDGE is not read from CONFIG_BRIDGE_NETFILTER's or CONFIG_BRIDGE_CFM's line.
    text = "CONFIG_BRIDGE_NETFILTER=m\n# CONFIG_BRIDGE_CFM is not set\nCONFIG_BRIDGE_X=y\n"
    assert parse_kernel_config(text, ("CONFIG_BRIDGE", "CONFIG_BRIDGE_NETFILTER")) == {"CONFIG_BRIDGE_NETFILTER": "m"}
    assert parse_kernel_config("# CONFIG_BRIDGE is not set\n", ("CONFIG_BRIDGE",)) == {"CONFIG_BRIDGE": "n"}


def test_a_gzip_bomb_at_proc_config_gz_is_not_unpacked(tmp_path):
    import zlib
    from ansible_collections.nodeprep.netfilter.plugins.module_utils._kernel_env import read_kernel_config
    from ansible_collections.nodeprep.netfilter.plugins.module_utils._rootfs import RootFS
    (tmp_path / "proc").mkdir()
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = packer.compress(b"CONFIG_BRIDGE_NETFILTER=y\n" + b"\x00" * (64 * 1024 * 1024)) + packer.flush()
    assert len(bomb) < 200 * 1024
    (tmp_path / "proc" / "config.gz").write_bytes(bomb)
    fs = RootFS(str(tmp_path))
    assert read_kernel_config(fs, None) == (None, None)
    assert fs.unreadable[0]["path"] == "/proc/config.gz"
    assert "more than 8388608 bytes unpacked" in fs.unreadable[0]["error"]


def test_a_real_size_proc_config_gz_is_read(tmp_path):
    import gzip as gzip_module
    from ansible_collections.nodeprep.netfilter.plugins.module_utils._kernel_env import read_kernel_config
    from ansible_collections.nodeprep.netfilter.plugins.module_utils._rootfs import RootFS
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "config.gz").write_bytes(gzip_module.compress(b"CONFIG_BRIDGE_NETFILTER=m\n" * 10000))
    assert read_kernel_config(RootFS(str(tmp_path)), None) == ({"CONFIG_BRIDGE_NETFILTER": "m"}, "/proc/config.gz")
