#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: sysctl_live
short_description: Set live kernel parameters without editing any configuration file
version_added: 1.0.0
description:
  - Sets each given key under C(/proc/sys) to its value when it differs, like C(sysctl -w), in one round trip.
  - Unlike M(ansible.posix.sysctl) it never writes a configuration file. Persist values separately, for example with a
    template in C(/etc/sysctl.d); the M(nodeprep.netfilter.br_netfilter_facts) module tells which file wins at boot.
  - Reads every value back after writing and fails when the kernel did not take it.
  - Values compare as whitespace-separated words, so V(1) equals C("1") and C("4096 87380") equals C("4096  87380").
author:
  - nodeprep.netfilter developers (!UNKNOWN)
extends_documentation_fragment:
  - nodeprep.netfilter._attributes
  - nodeprep.netfilter._attributes.platform_linux
attributes:
  check_mode:
    support: full
    details: Reports which values would change and writes nothing.
  diff_mode:
    support: full
    details: The diff lists C(key = value) for every key that changes, before and after.
options:
  values:
    description:
      - Keys (dotted like C(net.ipv4.ip_forward) or slashed like C(net/ipv4/ip_forward)) and the values to set.
    type: dict
    required: true
  missing:
    description:
      - What to do with a key that does not exist under C(/proc/sys) (for example C(net.bridge.*) before
        br_netfilter is loaded).
      - V(fail) stops with an error. V(ignore) reports it with C(present=false) and leaves it alone; use it to read
        values in check mode.
    type: str
    choices: [fail, ignore]
    default: fail
  root:
    description:
      - Root directory under which C(proc/sys) is found. For tests and for prepared trees; keep the default on hosts.
    type: path
    default: /
notes:
  - Inside a container C(/proc/sys) is usually read-only; the module then fails with a message that says so.
  - Only regular files under C(proc/sys) are read or written; anything else where a key belongs (a FIFO, a device
    under a prepared O(root)) fails the task naming the key, without opening it. No command is run.
seealso:
  - module: ansible.posix.sysctl
  - module: nodeprep.netfilter.br_netfilter_facts
"""

EXAMPLES = r"""
- name: Forward IPv4 and let iptables see bridged traffic, now
  nodeprep.netfilter.sysctl_live:
    values:
      net.ipv4.ip_forward: 1
      net.bridge.bridge-nf-call-iptables: 1

- name: Read values without changing them (absent keys are reported, not fatal)
  nodeprep.netfilter.sysctl_live:
    values:
      net.ipv6.conf.default.forwarding: 1
    missing: ignore
  check_mode: true
  register: forwarding
"""

RETURN = r"""
sysctls:
  description: Per key, the value before and after, whether the key exists and whether it changed.
  returned: always
  type: dict
  sample:
    net.ipv4.ip_forward: {"before": "0", "after": "1", "present": true, "changed": true}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nodeprep.netfilter.plugins.module_utils._sysctl_live import (
    MISSING_ACTIONS,
    SysctlLiveError,
    apply_live,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            values=dict(type="dict", required=True),
            missing=dict(type="str", default="fail", choices=list(MISSING_ACTIONS)),
            root=dict(type="path", default="/"),
        ),
        supports_check_mode=True,
    )
    try:
        result = apply_live(module.params["values"], root=module.params["root"],
                            check_mode=module.check_mode, missing=module.params["missing"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    except SysctlLiveError as exc:
        module.fail_json(msg=str(exc), sysctls=exc.results,
                         changed=any(item.get("changed") for item in exc.results.values()))
    diff = result.pop("diff")
    if module._diff and result["changed"]:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
