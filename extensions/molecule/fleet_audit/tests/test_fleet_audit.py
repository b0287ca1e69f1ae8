# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet audit on real kernels: run nodeprep.netfilter.audit from the controller against the scenario's VMs
(plus a second root on the blocked VM and an unreachable host) and check each host's report against the kernel,
read independently over SSH. Runs before and after the side_effect reboot of the healthy VM: the same checks then
confirm what the first report predicted for it (ready_after_reboot)."""

import json
import os
import subprocess

import pytest
import testinfra

PROJECT = os.environ.get("MOLECULE_PROJECT_DIRECTORY", os.getcwd())
INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
BRIDGE_ONLY_ROOT = "/srv/nodeprep-fleet/bridge-only"
BLOCK_FILE = "/etc/modprobe.d/nodeprep-fleet-block.conf"
REBOOT_MARKER = "/var/lib/nodeprep-test/rebooted"
FLEET = ("healthy", "blocked", "bridge-only", "down")


def _vm(name):
    return testinfra.get_host("ansible://%s" % name, ansible_inventory=INVENTORY)


def _bin(name):
    path = os.path.join(PROJECT, ".venv", "bin", name)
    return path if os.path.exists(path) else name


def _env():
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", os.path.join(PROJECT, "build", "collections"))
    return env


def _rebooted(name):
    return _vm(name).file(REBOOT_MARKER).exists


@pytest.fixture(scope="module")
def audit(tmp_path_factory):
    """One audit run over the whole fleet: (exit status, output, report.json)."""
    work = tmp_path_factory.mktemp("fleet")
    blocked_vars = json.loads(subprocess.run(
        [_bin("ansible-inventory"), "-i", INVENTORY, "--host", "blocked"], env=_env(), check=True,
        stdout=subprocess.PIPE, universal_newlines=True).stdout)
    connection = dict((key, value) for key, value in blocked_vars.items() if key.startswith("ansible_"))
    extra = {"all": {"hosts": {
        "bridge-only": dict(connection, nodeprep_audit_root=BRIDGE_ONLY_ROOT),
        "down": {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": 9,
                 "ansible_ssh_common_args": "-o ConnectTimeout=5 -o BatchMode=yes"},
    }}}
    (work / "extra.json").write_text(json.dumps(extra))
    proc = subprocess.run(
        [_bin("ansible-playbook"), "-i", INVENTORY, "-i", str(work / "extra.json"), "nodeprep.netfilter.audit",
         # The VMs are reached as root and have no sudo.
         "-e", json.dumps({"audit_fail_on": "high", "audit_report_dir": str(work / "reports"), "audit_become": False,
                           "audit_show_details": True})],
        env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    report_path = work / "reports" / "report.json"
    assert report_path.exists(), proc.stdout[-4000:]
    report = json.loads(report_path.read_text())
    keep = os.environ.get("NODEPREP_FLEET_VM_REPORT_DIR")
    if keep:  # keep the artifacts of the VM run (report.html etc.) for people and CI logs
        suffix = "after-reboot" if _rebooted("healthy") else "first-boot"
        subprocess.run(["cp", "-r", str(work / "reports"), os.path.join(keep, suffix)], check=False)
    return proc.returncode, proc.stdout, dict((record["host"], record) for record in report["hosts"])


def _codes(record):
    return [finding["code"] for finding in record["findings"]]


def test_audit_lists_every_host_and_fails_on_the_broken_ones(audit):
    returncode, output, hosts = audit
    assert sorted(hosts) == sorted(FLEET)
    assert returncode == 2, output[-3000:]
    assert hosts["healthy"]["fails_threshold"] is False
    assert all(hosts[name]["fails_threshold"] for name in ("blocked", "bridge-only", "down"))
    for name in FLEET:
        assert "\n%s " % name in output  # a row of the terminal table


def test_audit_changes_nothing_on_the_vms(audit):
    _returncode, output, _hosts = audit
    for line in output.splitlines():
        if line.startswith(("healthy ", "blocked ", "bridge-only ")) and " : ok=" in line:
            assert " changed=0 " in line, line


def test_healthy_vm_is_ready_now_and_after_reboot(audit):
    """Before the reboot the report predicts ready_after_reboot; after it, the kernel and the report agree."""
    record = audit[2]["healthy"]
    vm = _vm("healthy")
    assert vm.file("/sys/module/br_netfilter/initstate").content_string.strip() == "live"
    for key in ("net/bridge/bridge-nf-call-iptables", "net/bridge/bridge-nf-call-ip6tables", "net/ipv4/ip_forward"):
        assert vm.file("/proc/sys/" + key).content_string.strip() == "1"
    br_info = record["br_netfilter"]
    assert (record["status"], br_info["state"], br_info["ready"], br_info["ready_after_reboot"]) == \
        ("ok", "loaded", True, True)
    assert br_info["module_persisted"] is True
    rows = dict((row["key"], row) for row in br_info["sysctls"])
    assert rows["net.ipv4.ip_forward"]["persisted"] == 1
    assert vm.file(rows["net.ipv4.ip_forward"]["persisted_file"]).exists
    assert [f for f in record["findings"] if f["severity"] in ("medium", "high")] == []


def test_blocked_vm_names_the_modprobe_file(audit):
    record = audit[2]["blocked"]
    vm = _vm("blocked")
    assert record["br_netfilter"]["state"] == "blocked"
    assert record["worst_finding"] == "BR_NETFILTER_BLOCKED"
    assert "%s:1" % BLOCK_FILE in record["findings"][0]["message"]
    assert record["br_netfilter"]["ready"] is False
    # The kernel agrees: an explicit load fails on the install line.
    attempt = vm.run("modprobe br_netfilter")
    assert attempt.rc != 0
    assert "Error running install command '/bin/false'" in attempt.stderr
    assert not vm.file("/sys/module/br_netfilter").exists
    assert vm.file("/sys/module/bridge").exists


def test_bridge_only_root_is_loadable_not_loaded_and_not_blocked(audit):
    record = audit[2]["bridge-only"]
    vm = _vm("blocked")
    assert vm.file("/sys/module/bridge").exists
    assert not vm.file("/sys/module/br_netfilter").exists
    assert not vm.file(BRIDGE_ONLY_ROOT + BLOCK_FILE).exists
    br_info = record["br_netfilter"]
    assert br_info["state"] == "loadable"
    assert record["worst_finding"] == "BR_NETFILTER_NOT_LOADED"
    assert "BR_NETFILTER_BLOCKED" not in _codes(record)
    # On Debian's 6.12 kernel the bridge module alone creates no /proc/sys/net/bridge: no false positive here.
    assert br_info["bridge_sysctl_dir_present"] is vm.file("/proc/sys/net/bridge").exists
    assert br_info["false_positive_bridge_dir"] is False


def test_unreachable_host_is_listed_not_fatal(audit):
    record = audit[2]["down"]
    assert record["status"] == "unreachable"
    assert _codes(record) == ["HOST_UNREACHABLE"]
    assert "port 9" in record["error"]
