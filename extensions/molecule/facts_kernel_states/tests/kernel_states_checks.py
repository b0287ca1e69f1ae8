"""Kernel states at run time, one phase after another on each VM.

Every phase arranges a state with plain commands, runs nodeprep.netfilter.br_netfilter_facts
and checks its report against what the kernel shows (/sys/module, /proc/modules,
/proc/sys/net/bridge), read independently over SSH. Phases run in file order.
"""

import pytest

from nodeprep_testinfra import assert_facts_match_kernel, br_netfilter_facts, codes, kernel

BLOCK_CONF = "/etc/modprobe.d/nodeprep-test-block.conf"
TEST_BRIDGE = "nptest0"


def test_fresh_boot_is_loadable_and_not_ready(host):
    view = kernel(host)
    assert not view.sysfs and not view.in_proc_modules and not view.bridge_dir
    assert view.ko_path and view.ko_path.endswith((".ko", ".ko.xz", ".ko.zst"))
    facts = br_netfilter_facts(host)
    assert_facts_match_kernel(facts, view)
    assert facts["state"] == "loadable"
    assert facts["ready"] is False
    assert "BR_NETFILTER_NOT_LOADED" in codes(facts)
    assert "MODULE_NOT_PERSISTED" in codes(facts)
    assert facts["live"]["net.bridge.bridge-nf-call-iptables"] is None


def test_bridge_module_alone_creates_no_bridge_sysctl_dir(host):
    host.run_expect([0], "modprobe bridge")
    view = kernel(host)
    assert view.bridge_module and not view.in_proc_modules
    # Measured on Debian 6.1 and 6.12 kernels: bridge alone registers no /proc/sys/net/bridge.
    assert not view.bridge_dir
    facts = br_netfilter_facts(host)
    assert_facts_match_kernel(facts, view)
    assert facts["state"] == "loadable"
    assert facts["false_positive_bridge_dir"] is False
    assert "BRIDGE_DIR_FALSE_POSITIVE" not in codes(facts)


def test_bridge_device_with_a_port_still_creates_no_bridge_sysctl_dir(host):
    host.run_expect([0], f"ip link add {TEST_BRIDGE} type bridge && ip link set {TEST_BRIDGE} up"
                         f" && ip link add nptest1 type veth peer name nptest2 && ip link set nptest1 master {TEST_BRIDGE}")
    view = kernel(host)
    assert host.file(f"/sys/class/net/{TEST_BRIDGE}/bridge").is_directory
    assert not view.bridge_dir
    facts = br_netfilter_facts(host)
    assert_facts_match_kernel(facts, view)
    assert facts["false_positive_bridge_dir"] is False


def test_br_netfilter_loaded_shows_six_keys_all_one(host):
    host.run_expect([0], "modprobe br_netfilter")
    view = kernel(host)
    assert view.loaded and view.sysfs
    assert view.bridge_files == sorted([
        "bridge-nf-call-arptables", "bridge-nf-call-ip6tables", "bridge-nf-call-iptables",
        "bridge-nf-filter-pppoe-tagged", "bridge-nf-filter-vlan-tagged", "bridge-nf-pass-vlan-input-dev"])
    facts = br_netfilter_facts(host)
    assert_facts_match_kernel(facts, view)
    assert facts["state"] == "loaded"
    assert facts["live"]["net.bridge.bridge-nf-call-iptables"] == 1
    assert facts["live"]["net.bridge.bridge-nf-call-ip6tables"] == 1
    assert "BR_NETFILTER_NOT_LOADED" not in codes(facts)
    # Loaded now, but nothing persists it: the report must say so.
    assert "MODULE_NOT_PERSISTED" in codes(facts)
    assert facts["ready_after_reboot"] is False


def test_unloading_br_netfilter_removes_the_whole_bridge_dir(host):
    # rmmod, not modprobe -r: that would also unload bridge (deleting the bridge device with it).
    host.run_expect([0], "rmmod br_netfilter")
    view = kernel(host)
    assert not view.sysfs and not view.in_proc_modules
    # The bridge device and the bridge module are still there, yet the directory goes with br_netfilter:
    # no state reachable here shows /proc/sys/net/bridge without bridge-nf-call-iptables.
    assert view.bridge_module and not view.bridge_dir
    facts = br_netfilter_facts(host)
    assert_facts_match_kernel(facts, view)
    assert facts["state"] == "loadable"


def test_install_bin_false_blocks_modprobe_and_reports_blocked(host):
    host.run_expect([0], f"printf 'install br_netfilter /bin/false\\n' > {BLOCK_CONF}")
    res = host.run("modprobe br_netfilter")
    assert res.rc != 0
    assert "Error running install command '/bin/false' for module br_netfilter" in res.stderr
    view = kernel(host)
    assert not view.loaded and not view.bridge_dir
    facts = br_netfilter_facts(host)
    assert_facts_match_kernel(facts, view)
    assert facts["state"] == "blocked"
    assert facts["blocked_by"]["file"] == BLOCK_CONF
    assert facts["blocked_by"]["line"] == 1
    assert facts["blocked_by"]["command"] == "/bin/false"
    assert "BR_NETFILTER_BLOCKED" in codes(facts)


def test_bare_blacklist_does_not_stop_an_explicit_modprobe(host):
    host.run_expect([0], f"printf 'blacklist br_netfilter\\n' > {BLOCK_CONF}")
    facts = br_netfilter_facts(host)
    assert facts["state"] == "loadable"
    assert facts["blacklisted"] is True
    assert "BR_NETFILTER_BLACKLISTED" in codes(facts)
    host.run_expect([0], "modprobe br_netfilter")
    view = kernel(host)
    assert view.loaded
    facts = br_netfilter_facts(host)
    assert_facts_match_kernel(facts, view)
    assert facts["state"] == "loaded"
    assert "BR_NETFILTER_BLACKLISTED" in codes(facts)


@pytest.fixture(autouse=True, scope="module")
def _clean_up_after_the_phases(host):
    yield
    host.run(f"rm -f {BLOCK_CONF}; ip link del nptest1; ip link del {TEST_BRIDGE}; modprobe -r br_netfilter bridge")
