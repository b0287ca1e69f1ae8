"""Helpers for the testinfra verifiers of the VM scenarios.

``kernel(host)`` reads what the kernel shows with plain shell over SSH, independently
of the collection; ``br_netfilter_facts(host)`` runs the module through Ansible. Tests
compare the two.
"""

from __future__ import annotations

import shlex

MODULE = "br_netfilter"
BRIDGE_DIR = "/proc/sys/net/bridge"
BRIDGE_NF_FILES = (
    "bridge-nf-call-arptables", "bridge-nf-call-ip6tables", "bridge-nf-call-iptables",
    "bridge-nf-filter-pppoe-tagged", "bridge-nf-filter-vlan-tagged", "bridge-nf-pass-vlan-input-dev",
)
KEYS = {
    "net.bridge.bridge-nf-call-iptables": "/proc/sys/net/bridge/bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables": "/proc/sys/net/bridge/bridge-nf-call-ip6tables",
    "net.bridge.bridge-nf-call-arptables": "/proc/sys/net/bridge/bridge-nf-call-arptables",
    "net.ipv4.ip_forward": "/proc/sys/net/ipv4/ip_forward",
    "net.ipv6.conf.all.forwarding": "/proc/sys/net/ipv6/conf/all/forwarding",
    "net.ipv6.conf.default.forwarding": "/proc/sys/net/ipv6/conf/default/forwarding",
}
REBOOT_MARKER = "/var/lib/nodeprep-test/rebooted"

_PROBE = r"""
m=br_netfilter
echo "sysfs=$(test -d /sys/module/$m && echo yes || echo no)"
echo "initstate=$(cat /sys/module/$m/initstate 2>/dev/null)"
echo "proc_modules=$(awk -v m=$m '$1 == m {print $1}' /proc/modules)"
echo "bridge_module=$(awk '$1 == "bridge" {print $1}' /proc/modules)"
echo "bridge_dir=$(test -d /proc/sys/net/bridge && echo yes || echo no)"
echo "bridge_files=$(ls /proc/sys/net/bridge 2>/dev/null | tr '\n' ' ')"
p=$(grep -o "^[^ :]*/$m\.ko[^ :]*" /lib/modules/$(uname -r)/modules.dep | head -n1)
echo "modules_dep=${p:+/lib/modules/$(uname -r)/$p}"
"""


class KernelView:
    """What the kernel shows about br_netfilter, read without the collection's code."""

    def __init__(self, fields: dict, values: dict):
        self.sysfs = fields["sysfs"] == "yes"
        self.initstate = fields["initstate"] or None
        self.in_proc_modules = fields["proc_modules"] == MODULE
        self.bridge_module = fields["bridge_module"] == "bridge"
        self.bridge_dir = fields["bridge_dir"] == "yes"
        self.bridge_files = sorted(fields["bridge_files"].split())
        self.ko_path = fields["modules_dep"] or None
        self.values = values

    @property
    def loaded(self) -> bool:
        return self.initstate == "live" and self.in_proc_modules

    def __repr__(self) -> str:
        return f"KernelView({self.__dict__!r})"


def kernel(host) -> KernelView:
    out = host.check_output(_PROBE)
    fields = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    values = {}
    for key, path in KEYS.items():
        res = host.run(f"cat {shlex.quote(path)}")
        values[key] = int(res.stdout.strip()) if res.rc == 0 else None
    return KernelView(fields, values)


def br_netfilter_facts(host) -> dict:
    """Run nodeprep.netfilter.br_netfilter_facts in check mode; return ansible_facts.br_netfilter."""
    result = host.ansible("nodeprep.netfilter.br_netfilter_facts", check=True)
    assert result.get("changed") is False, result
    return result["ansible_facts"]["br_netfilter"]


def codes(facts: dict) -> list:
    return [problem["code"] for problem in facts["problems"]]


def rebooted(host) -> bool:
    return host.file(REBOOT_MARKER).exists


def assert_facts_match_kernel(facts: dict, view: KernelView) -> None:
    """The invariants every report must satisfy against the kernel it describes."""
    assert facts["bridge_sysctl_dir_present"] is view.bridge_dir
    assert facts["bridge_nf_call_iptables_present"] is ("bridge-nf-call-iptables" in view.bridge_files)
    assert facts["false_positive_bridge_dir"] is (view.bridge_dir and "bridge-nf-call-iptables" not in view.bridge_files)
    assert facts["live"] == view.values
    if view.loaded:
        assert facts["state"] == "loaded"
    else:
        assert facts["state"] != "loaded"
    if view.ko_path:
        assert facts["module_files"] == [view.ko_path]
