#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: br_netfilter_facts
short_description: Report the state of br_netfilter, bridge sysctls and ip_forward, now and after reboot
version_added: 1.0.0
description:
  - Reads files only (C(/proc), C(/sys), C(/etc), C(/lib/modules), C(/usr/lib)); runs no command and changes nothing.
  - Opens regular files only, and reads configuration directories (sysctl.d, modules-load.d, modprobe.d) line by line
    keeping only what bears on the watched keys and modules, so memory stays bounded whatever they hold (a 50 MB
    sysctl.d file costs about 25 MB of resident memory in all). There is no network or subprocess to time out.
  - Tells apart the br_netfilter states C(loaded), C(builtin), C(loadable), C(blocked) and C(unavailable) (with a reason).
    A kernel built without module support has no C(/proc/modules); if bridge netfilter works there it is C(builtin).
  - Detects the C(/proc/sys/net/bridge) false positive (directory present, C(bridge-nf-call-iptables) absent) that
    fooled Docker 27.3.0 and 27.3.1.
  - Classifies C(overlay) the same way, under C(modules.overlay) (next to C(modules.br_netfilter)); overlay is reported
    only and never changes C(problems), C(ready) or C(ready_after_reboot).
  - Reports live values of C(net.bridge.bridge-nf-call-iptables), C(-ip6tables), C(-arptables), C(net.ipv4.ip_forward),
    C(net.ipv6.conf.all.forwarding) and C(net.ipv6.conf.default.forwarding) (the file kubeadm's IPv6 preflight reads),
    and of every key in O(sysctl_keys).
  - Reports what C(systemd-sysctl) will apply at boot, with the winning file and line. Files are sorted by name across
    C(/etc/sysctl.d), C(/run/sysctl.d), C(/usr/local/lib/sysctl.d) and C(/usr/lib/sysctl.d); a same-named file in an
    earlier directory masks later ones; later assignments win; explicit keys beat glob keys.
    C(/etc/sysctl.conf) counts only when a sysctl.d entry links to it (Debian's C(99-sysctl.conf)), because that is
    how C(systemd-sysctl) reads it.
  - Reports whether br_netfilter and overlay are listed for C(systemd-modules-load) (modules-load.d, and Debian's
    C(/etc/modules) when linked from C(/etc/modules-load.d/modules.conf)), and kmod C(blacklist) and C(install) lines.
  - Detects containers by weighing evidence. C(container=) in PID 1's environment, C(/run/systemd/container) and
    C(/run/.containerenv) are decisive. Otherwise a process in the initial PID namespace is on the host, even when
    C(/.dockerenv) exists (a VM whose root file system came from an image has one). Only then do C(/.dockerenv) and
    cgroup paths name the container type. WSL is detected from C(microsoft) in the kernel release.
  - Returns C(problems), each C({code, severity, message, remediation, reference}) with a stable code, and C(ready)
    and C(ready_after_reboot).
author:
  - nodeprep.netfilter developers (!UNKNOWN)
extends_documentation_fragment:
  - nodeprep.netfilter._attributes
  - nodeprep.netfilter._attributes.facts
  - nodeprep.netfilter._attributes.platform_linux
options:
  root:
    description:
      - Root directory of the Linux file system to inspect.
      - Meant for tests and for inspecting a chroot or an image with C(/proc) and C(/sys) mounted or captured; the
        kernel facts then describe whatever that tree contains. Absolute symlinks inside the tree are resolved inside it.
      - Must be an existing directory containing C(proc/sys/kernel/osrelease).
    type: path
    default: /
  managed_sysctl_file:
    description:
      - Path (as seen on the target, for example V(/etc/sysctl.d/99-br-netfilter.conf)) of the sysctl file your play
        manages.
      - When set, a C(SYSCTL_OVERRIDDEN) problem names this file if a later file overrides its value.
    type: path
  sysctl_keys:
    description:
      - Further sysctl keys to watch. Each is reported in RV(ansible_facts.br_netfilter.live),
        RV(ansible_facts.br_netfilter.persisted), RV(ansible_facts.br_netfilter.persisted_all) and
        RV(ansible_facts.br_netfilter.after_reboot), under its dotted name as C(sysctl) prints it (a slashed
        C(net/ipv4/conf/eth0.100/rp_filter) is reported as C(net.ipv4.conf.eth0/100.rp_filter)).
      - They never raise a problem and do not change C(ready).
      - Their kernel default is not known, so when no sysctl.d file sets such a key its C(after_reboot) value is
        V(null) and the key is listed in RV(ansible_facts.br_netfilter.after_reboot_unknown). The live value is not
        used as a prediction, because it may have been set by hand since boot. A C(net.bridge.*) key is V(null) after
        reboot, and not unknown, when br_netfilter will not be loaded at boot.
      - Each key is dotted (V(net.ipv4.conf.all.rp_filter)) or slashed; glob patterns, whitespace, C(=), a leading
        C(-) and empty, C(.) or C(..) components are rejected with an error naming the key.
    type: list
    elements: str
    default: []
notes:
  - The problem codes are
    C(BR_NETFILTER_UNAVAILABLE), C(BR_NETFILTER_BLOCKED), C(BR_NETFILTER_BLOCK_CONFIGURED), C(BR_NETFILTER_NOT_LOADED),
    C(BR_NETFILTER_BLACKLISTED), C(BRIDGE_DIR_FALSE_POSITIVE), C(SYSCTL_LIVE_NOT_1), C(SYSCTL_NOT_PERSISTED),
    C(SYSCTL_KERNEL_DEFAULT_ONLY), C(SYSCTL_OVERRIDDEN), C(SYSCTL_PERSISTENCE_UNKNOWN), C(MODULE_NOT_PERSISTED),
    C(MODULE_PERSISTENCE_UNKNOWN), C(MODPROBE_POLICY_UNKNOWN), C(SYSCTL_PERSISTED_WITHOUT_MODULE), C(SYSCTL_CONF_NOT_READ), C(ETC_MODULES_NOT_READ)
    and C(CANNOT_LOAD_MODULES_HERE).
  - Where an input that could hold the persistence could not be read (permission, symlink loop, FIFO or device, over
    the size limit), the facts say unknown rather than "not persisted". C(SYSCTL_PERSISTENCE_UNKNOWN) or
    C(MODULE_PERSISTENCE_UNKNOWN) (medium) replaces C(SYSCTL_NOT_PERSISTED), C(SYSCTL_OVERRIDDEN) or
    C(MODULE_NOT_PERSISTED); an unreadable modprobe.d file, which may blacklist or block br_netfilter, gives
    C(MODPROBE_POLICY_UNKNOWN). The affected C(after_reboot) values are V(null) and listed in C(after_reboot_unknown),
    and C(ready_after_reboot) is V(null) unless a readable input already makes it V(false).
  - C(SYSCTL_NOT_PERSISTED) (medium) means the value after a reboot will be wrong; C(SYSCTL_KERNEL_DEFAULT_ONLY) (low)
    means no file sets the key but the kernel's default (1 for the bridge keys) gives the right value.
  - C(ready_after_reboot) judges the configuration alone. Docker may still load br_netfilter itself later. Docker 26
    always does; Docker 28 does with C(icc=false) or C(userland-proxy=false).
  - A bare C(blacklist br_netfilter) does not stop an explicit C(modprobe), but C(systemd-modules-load) skips
    blacklisted modules, so it is reported as C(BR_NETFILTER_BLACKLISTED), not as C(blocked).
seealso:
  - name: sysctl.d(5)
    description: Precedence rules of systemd-sysctl.
    link: https://www.freedesktop.org/software/systemd/man/latest/sysctl.d.html
  - name: moby issue 48948
    description: Docker 27.3 checked /proc/sys/net/bridge instead of bridge-nf-call-iptables.
    link: https://github.com/moby/moby/issues/48948
"""

EXAMPLES = r"""
- name: Gather br_netfilter facts
  nodeprep.netfilter.br_netfilter_facts:

- name: Stop when this node is not ready for bridged container traffic
  ansible.builtin.assert:
    that: ansible_facts.br_netfilter.ready
    fail_msg: "{{ ansible_facts.br_netfilter.problems | map(attribute='message') | list }}"

- name: Show which file wins for bridge-nf-call-iptables after reboot
  ansible.builtin.debug:
    var: ansible_facts.br_netfilter.persisted['net.bridge.bridge-nf-call-iptables']

- name: Name our own file in override reports
  nodeprep.netfilter.br_netfilter_facts:
    managed_sysctl_file: /etc/sysctl.d/99-br-netfilter.conf

- name: Also watch rp_filter, to see which sysctl.d file wins for it at boot
  nodeprep.netfilter.br_netfilter_facts:
    sysctl_keys:
      - net.ipv4.conf.all.rp_filter

- name: Load overlay only where it is a loadable module
  community.general.modprobe:
    name: overlay
    state: present
  when: ansible_facts.br_netfilter.modules.overlay.state == 'loadable'
"""

RETURN = r"""
ansible_facts:
  description: Facts added to the host.
  returned: always
  type: dict
  contains:
    br_netfilter:
      description: Everything known about br_netfilter and the bridge and forwarding sysctls.
      returned: always
      type: dict
      contains:
        state:
          description: One of V(loaded), V(builtin), V(loadable), V(blocked), V(unavailable).
          type: str
          sample: builtin
        state_reason:
          description: Human readable explanation of the state.
          type: str
          sample: bridge netfilter is built into the kernel (CONFIG_BRIDGE_NETFILTER=y)
        state_evidence:
          description: The observations that decided the state.
          type: list
          elements: str
        unavailable_reason:
          description:
            - Set when the state is V(unavailable). One of V(no_module_support), V(modules_disabled),
              V(not_in_kernel), V(container), V(no_modules_dir); otherwise V(null).
          type: str
          sample: container
        blacklisted:
          description: Whether modprobe.d (or C(modprobe.blacklist=) on the kernel command line) blacklists br_netfilter.
          type: bool
        blacklist_files:
          description: Files holding the blacklist lines.
          type: list
          elements: str
        blacklisted_by:
          description: Every blacklist line, as C({file, line}).
          type: list
          elements: dict
        blocked_by:
          description: The install line that stops br_netfilter from loading, as C({file, line, command}), or V(null).
          type: dict
          sample: {"file": "/etc/modprobe.d/disable.conf", "line": 3, "command": "/bin/false"}
        install_command:
          description: The first matching install line (blocking or not), as C({file, line, command}), or V(null).
          type: dict
        modprobe_unreadable_files:
          description:
            - modprobe.d entries that could not be read (permission, symlink loop, FIFO or device). A blacklist or
              install line there is unknown, so C(blocked_by) and C(blacklisted) describe the readable files only.
          type: list
          elements: str
        module_files:
          description: Paths of br_netfilter.ko* taken from modules.dep.
          type: list
          elements: str
          sample: ["/lib/modules/6.12.107+deb13-amd64/kernel/net/bridge/br_netfilter.ko.xz"]
        modules_dir:
          description: The modules directory of the running kernel, or V(null).
          type: str
        module_support:
          description: Whether the kernel supports loadable modules (C(/proc/modules) exists); V(null) if unknown.
          type: bool
        kernel_release:
          description: Content of C(/proc/sys/kernel/osrelease).
          type: str
          sample: 6.12.107+deb13-amd64
        kernel_config:
          description: The relevant C(CONFIG_*) values and their source, when the kernel config had to be read.
          type: dict
        bridge_sysctl_dir_present:
          description: Whether C(/proc/sys/net/bridge) exists.
          type: bool
        bridge_nf_call_iptables_present:
          description: Whether C(/proc/sys/net/bridge/bridge-nf-call-iptables) exists.
          type: bool
        false_positive_bridge_dir:
          description: The bridge directory exists but the key does not (what fooled Docker 27.3).
          type: bool
        modules:
          description:
            - Per watched module (V(br_netfilter) and V(overlay)), the same classification as the top-level keys
              C(state), C(state_reason), C(state_evidence), C(unavailable_reason), C(blacklisted),
              C(blacklist_files), C(blacklisted_by), C(blocked_by), C(install_command), C(modprobe_unreadable_files)
              and C(module_files) (which describe br_netfilter), plus C(persisted) (listed for systemd-modules-load)
              and C(active_at_boot) (built in, or persisted and neither blocked nor blacklisted; V(null) when unknown).
            - For overlay, V(builtin) is also inferred from C(overlay) in C(/proc/filesystems) when no overlay module
              is loaded, and the kernel config symbol is C(CONFIG_OVERLAY_FS).
          type: dict
          sample:
            overlay:
              state: loadable
              state_reason: overlay is available as a module but not loaded
              state_evidence: ["modules.dep lists /lib/modules/6.12.107+deb13-amd64/kernel/fs/overlayfs/overlay.ko.xz"]
              unavailable_reason: null
              blacklisted: false
              blacklist_files: []
              blacklisted_by: []
              blocked_by: null
              install_command: null
              modprobe_unreadable_files: []
              module_files: ["/lib/modules/6.12.107+deb13-amd64/kernel/fs/overlayfs/overlay.ko.xz"]
              persisted: true
              active_at_boot: true
        live:
          description:
            - Current value of each watched key (the built-in ones and O(sysctl_keys)); an integer when numeric,
              V(null) when the key is absent.
          type: dict
          sample: {"net.bridge.bridge-nf-call-iptables": 1, "net.ipv4.ip_forward": 0}
        persisted:
          description:
            - Per key, the assignment C(systemd-sysctl) will apply at boot, as
              C({value, file, line, ignore_failure, via, resolved_file, pattern}), or V(null) if none.
            - C(via) is V(explicit) or V(glob); C(resolved_file) is set when the file is a symlink
              (for example to C(/etc/sysctl.conf)).
          type: dict
        persisted_all:
          description: Per key, every assignment in the order applied, with C(effective) on the winner.
          type: dict
        persisted_unknown:
          description:
            - Keys whose boot value an unreadable sysctl.d entry (see RV(ansible_facts.br_netfilter.sysctl_unreadable_files))
              could change; RV(ansible_facts.br_netfilter.persisted) then shows only what the readable files say.
            - A key is unknown when no readable file sets it, when a glob sets it, or when an unreadable file sorts at or
              after the one that sets it (a later explicit assignment wins, so earlier files cannot change it).
          type: list
          elements: str
        sysctl_unreadable_files:
          description:
            - sysctl.d entries whose content is unknown, in the order they would apply. Unreadable files, symlink
              loops and special files (a FIFO or device is never opened) are listed; their errors are in
              RV(ansible_facts.br_netfilter.unreadable).
          type: list
          elements: str
        sysctl_files:
          description: The sysctl.d files read, in order, with what they mask.
          type: list
          elements: dict
        sysctl_invalid_lines:
          description:
            - Lines systemd-sysctl would skip as not being assignments, as C({file, line, text}); the first 20 only,
              each text cut at 200 characters, so a huge file of junk cannot make the facts huge.
          type: list
          elements: dict
        sysctl_conf:
          description: Whether C(/etc/sysctl.conf) is read by systemd-sysctl and which watched keys it sets.
          type: dict
        modules_load:
          description:
            - For V(br_netfilter) and V(overlay), whether systemd-modules-load loads them at boot, as
              C({persisted, file, line, resolved_file}).
            - When no readable file lists the module but some modules-load.d entry could not be read (permission,
              symlink loop, FIFO), the entry adds C(unknown=true) and C(unreadable_files), since the module may be listed there.
          type: dict
        modules_load_files:
          description: The modules-load.d files read, in order.
          type: list
          elements: dict
        etc_modules:
          description: Whether C(/etc/modules) exists, is read by systemd, and what it lists.
          type: dict
        environment:
          description:
            - C(container) (V(null) or a type such as V(docker), V(lxc), V(podman), V(unknown)), C(container_rule),
              C(container_evidence), C(initial_pid_namespace), C(initial_user_namespace), C(wsl),
              C(cap_sys_module), C(modules_disabled) and C(can_load_modules).
          type: dict
        unreadable:
          description:
            - Files that exist but could not be read, as C({path, error}). Only regular files are opened; a FIFO,
              a device, a socket or a directory where a file belongs is listed here (for example
              V(a FIFO, not read)) and never opened, so it cannot block or have side effects. Symlink loops
              (also in sysctl.d and modules-load.d) and files over 32 MiB read whole are listed too.
          type: list
          elements: dict
        problems:
          description: Findings as C({code, severity, message, remediation, reference}); severity is low, medium or high.
          type: list
          elements: dict
        ready:
          description: br_netfilter active and bridge-nf-call-iptables, bridge-nf-call-ip6tables and ip_forward all 1 now.
          type: bool
        ready_after_reboot:
          description:
            - The configuration alone will give the same after a reboot.
            - V(null) (unknown) when no readable input says V(false) but one that could not be read decides it
              (C(SYSCTL_PERSISTENCE_UNKNOWN), C(MODULE_PERSISTENCE_UNKNOWN)).
          type: bool
        module_active_at_boot:
          description:
            - br_netfilter will be present after boot (built in, or persisted and neither blocked nor blacklisted).
            - V(null) when no readable modules-load.d file lists it but an unreadable one might, or when it is listed but
              a modprobe.d file that could blacklist or block it could not be read (C(modprobe_unreadable_files)).
          type: bool
        after_reboot:
          description:
            - Expected value of each watched key right after boot, typed like C(live) (an integer when numeric,
              V(null) when the key will be absent, or for a key listed in C(after_reboot_unknown)).
            - C(net.ipv6.conf.default.forwarding) follows C(net.ipv6.conf.all.forwarding) when that is applied later
              (the kernel copies a write to C(conf/all/forwarding) into C(conf/default/forwarding)).
          type: dict
        after_reboot_unknown:
          description:
            - Keys from O(sysctl_keys) that no sysctl.d file sets; after boot they hold the kernel's default, which
              this module does not know.
            - Any key in RV(ansible_facts.br_netfilter.persisted_unknown), and the C(net.bridge.*) keys while
              RV(ansible_facts.br_netfilter.module_active_at_boot) is V(null); their C(after_reboot) value is V(null).
          type: list
          elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nodeprep.netfilter.plugins.module_utils._br_netfilter import (
    BrNetfilterFactsError,
    gather_br_netfilter_facts,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type="path", default="/"),
            managed_sysctl_file=dict(type="path"),
            sysctl_keys=dict(type="list", elements="str", default=[], no_log=False),
        ),
        supports_check_mode=True,
    )
    managed = module.params["managed_sysctl_file"]
    if managed is not None and not managed.startswith("/"):
        module.fail_json(msg="managed_sysctl_file must be an absolute path as seen on the target, got %r" % managed)
    try:
        facts = gather_br_netfilter_facts(module.params["root"], managed_sysctl_file=managed,
                                          sysctl_keys=module.params["sysctl_keys"])
    except BrNetfilterFactsError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, ansible_facts={"br_netfilter": facts})


if __name__ == "__main__":
    main()
