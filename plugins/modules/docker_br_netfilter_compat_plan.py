#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: docker_br_netfilter_compat_plan
short_description: Decide whether docker.service needs DOCKER_IGNORE_BR_NETFILTER_ERROR=1
version_added: 1.0.0
description:
  - Read-only. Makes the decision M(nodeprep.netfilter.docker_iptables_audit) reports from (one pure function,
    C(_br_netfilter_need.br_netfilter_need)) and says what the C(nodeprep.netfilter.docker_br_netfilter_compat) role
    does with its systemd drop-in.
  - Inputs are the br_netfilter facts (see M(nodeprep.netfilter.br_netfilter_facts)), the Docker version, dockerd's
    C(icc), C(userland-proxy) and C(iptables) (ExecStart flags over daemon.json over defaults) and, when the engine
    answers, its networks with C(enable_icc=false).
  - Each Docker release is modelled from moby's bridge driver source. Before 27.3.0 dockerd loads br_netfilter at start and
    only icc=false needs it; 27.3.x loads it only for icc=false and only when C(/proc/sys/net/bridge) is absent; from
    27.4.0 icc=false and userland-proxy=false both load it and fail without it; from 27.5.1
    C(DOCKER_IGNORE_BR_NETFILTER_ERROR=1) lets dockerd start anyway.
  - With O(mode=auto), RV(action=present) only where dockerd (or a network) fails without br_netfilter and honours the
    variable; RV(action=fail) where it fails and is older than 27.5.1; RV(action=absent) everywhere else, including
    Docker 26 with default settings and no br_netfilter. O(mode=always) installs it on every Docker >= 27.5.1 (marked
    in the drop-in, so the audit reports a deliberate choice); O(mode=never) never installs it.
  - Reports whether the drop-in exists and was written by the role (a marker line), whether docker.service runs with the
    variable now (C(/proc/<MainPID>/environ)), and so whether a restart is pending.
  - Warns that inter-container isolation is not enforced when the drop-in is installed.
  - Deadlines. Each command it runs (C(dockerd --version), C(rpm -q), C(systemctl show)) is killed with its process
    group after 30 seconds and its output capped at 16 MiB; the engine API gets 10 seconds per request and 20 seconds
    in all.
author:
  - nodeprep.netfilter developers (!UNKNOWN)
extends_documentation_fragment:
  - nodeprep.netfilter._attributes
  - nodeprep.netfilter._attributes.info_module
  - nodeprep.netfilter._attributes.platform_linux
options:
  br_netfilter:
    description:
      - The facts of M(nodeprep.netfilter.br_netfilter_facts) (C(ansible_facts.br_netfilter)). C(state),
        C(bridge_nf_call_iptables_present) and C(bridge_sysctl_dir_present) are read.
      - One of O(br_netfilter) and O(br_netfilter_state) is required.
    type: dict
  br_netfilter_state:
    description:
      - Only the C(state) fact, for callers without the facts; C(/proc/sys/net/bridge) is then assumed to exist exactly
        when br_netfilter is V(loaded) or V(builtin).
    type: str
    choices: [loaded, builtin, loadable, unavailable, blocked]
  mode:
    description:
      - V(auto) installs the drop-in only where it is needed, V(always) on every Docker >= 27.5.1 (for hosts that will
        create icc=false networks later), V(never) nowhere.
    type: str
    default: auto
    choices: [auto, always, never]
  docker_socket:
    description: The engine's API socket, asked for its networks (only for O(root=/)).
    type: path
    default: /var/run/docker.sock
  docker_version:
    description:
      - Docker engine version, in any spelling (V(28.5.2), V(5:27.5.1-1~debian.13~trixie), V(28.5.2+dfsg4-5)).
      - When omitted it is read from the package database (docker-ce, docker.io, moby-engine), then from C(dockerd --version).
        No version at all means Docker is not installed.
    type: str
  service:
    description:
      - The Docker systemd unit, a C(.service) unit name as systemd.unit(5) defines it (letters, digits, V(:-_.\\) and
        one V(@); at most 255 characters). A V(/), whitespace or a leading V(-) is an error, checked before anything is
        read, because the role joins this name into the drop-in path and passes it to systemctl.
    type: str
    default: docker.service
  dropin_path:
    description: The drop-in the role manages; an absolute path without V(.) or V(..) components.
    type: path
    default: /etc/systemd/system/docker.service.d/10-br-netfilter.conf
  root:
    description:
      - Root of the file system to read (tests, chroots). The service state is only read when it is V(/).
      - Must be an existing directory.
    type: path
    default: /
"""

EXAMPLES = r"""
- name: Gather br_netfilter facts
  nodeprep.netfilter.br_netfilter_facts:

- name: Decide about the escape hatch
  nodeprep.netfilter.docker_br_netfilter_compat_plan:
    br_netfilter: "{{ ansible_facts.br_netfilter }}"
  register: compat

- name: Stop on a Docker without the escape hatch
  ansible.builtin.fail:
    msg: "{{ compat.reason }} Fix: {{ compat.remediation }}"
  when: compat.action == 'fail'
"""

RETURN = r"""
action:
  description: V(present) (install the drop-in), V(absent) (make sure the role's drop-in is gone) or V(fail).
  returned: always
  type: str
  sample: present
reason:
  description: Why, in one or two sentences.
  returned: always
  type: str
remediation:
  description: The fix when RV(action=fail); what to do about lost isolation when RV(action=present).
  returned: always
  type: str
reference:
  description: URLs behind the decision.
  returned: always
  type: list
  elements: str
code:
  description: Known-issue code behind the decision, or V(null).
  returned: always
  type: str
  sample: DOCKER_BR_NETFILTER_REQUIRED_NO_ESCAPE
mode:
  description: The mode decided in.
  returned: always
  type: str
  sample: auto
needed:
  description: Whether this dockerd's settings or networks tie it to br_netfilter.
  returned: always
  type: bool
needed_by:
  description: The settings and networks that do (V(icc=false), V(userland-proxy=false), V(network n1 with enable_icc=false)).
  returned: always
  type: list
  elements: str
needs:
  description: Per setting or network, C({setting, scope, network, checked, outcome, why, branch}).
  returned: always
  type: list
  elements: dict
available:
  description: V(active), V(dockerd loads it), V(loadable, but dockerd will not load it), V(missing) or V(unknown).
  returned: always
  type: str
outcome:
  description: Without the escape hatch, V(ok), V(degraded) (dockerd starts, silently without br_netfilter) or V(fails).
  returned: always
  type: str
failure:
  description: What fails, V(start) (dockerd) or V(network) (networks with enable_icc=false), or V(null).
  returned: always
  type: str
escape_hatch:
  description: V(not_needed), V(needed) (and honoured, Docker >= 27.5.1), V(impossible) (needed, older Docker) or V(unknown).
  returned: always
  type: str
  sample: needed
behaviour:
  description: The Docker release range whose bridge driver code the decision modelled.
  returned: always
  type: str
  sample: 27.4.0 and later
source:
  description: The moby source lines of that behaviour.
  returned: always
  type: list
  elements: str
networks_icc_false:
  description: Names of the engine's networks with enable_icc=false (empty when the engine did not answer).
  returned: always
  type: list
  elements: str
threshold:
  description: First Docker release honouring DOCKER_IGNORE_BR_NETFILTER_ERROR.
  returned: always
  type: str
  sample: 27.5.1
docker_version:
  description: Upstream Docker version, or V(null) when Docker is not installed.
  returned: always
  type: str
  sample: 28.5.2
docker_version_raw:
  description: The version as found or given.
  returned: always
  type: str
  sample: 28.5.2+dfsg4-5
docker_version_source:
  description: Where the version came from.
  returned: always
  type: str
  sample: package docker.io (dpkg)
br_state:
  description: The br_netfilter state decided on.
  returned: always
  type: str
dropin:
  description: C({path, present, managed, content, dir_exists}); C(content) is what the role writes.
  returned: always
  type: dict
daemon:
  description: C(icc), C(userland-proxy) and C(iptables) as dockerd applies them (flags, daemon.json, defaults).
  returned: always
  type: dict
service:
  description: C({name, load_state, active_state, sub_state, main_pid, running_env}) of the Docker unit.
  returned: always
  type: dict
restart_pending:
  description: Whether docker.service must restart (or start, if failed) for the desired state to take effect.
  returned: always
  type: bool
notes:
  description: Cautions for the user (lost isolation, a foreign drop-in, the variable set elsewhere); also raised as warnings.
  returned: always
  type: list
  elements: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nodeprep.netfilter.plugins.module_utils._br_netfilter_need import BR_STATES, MODES
from ansible_collections.nodeprep.netfilter.plugins.module_utils._docker_compat import (
    DOCKER_SOCKET,
    DROPIN_PATH,
    CompatError,
    compat_from_host,
)
from ansible_collections.nodeprep.netfilter.plugins.module_utils._subprocess import run_bounded

COMMAND_TIMEOUT = 30


def _query_engine(socket_path):
    """The engine's info and networks; the client is imported only when the socket exists."""
    if not os.path.exists(socket_path):
        return None
    from ansible_collections.nodeprep.netfilter.plugins.module_utils._docker_api import query_engine
    return query_engine(socket_path, paths={"info": "/info", "networks": "/networks"})


def _read_bytes(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            br_netfilter=dict(type="dict"),
            br_netfilter_state=dict(type="str", choices=list(BR_STATES)),
            mode=dict(type="str", default="auto", choices=list(MODES)),
            docker_version=dict(type="str"),
            service=dict(type="str", default="docker.service"),
            dropin_path=dict(type="path", default=DROPIN_PATH),
            docker_socket=dict(type="path", default=DOCKER_SOCKET),
            root=dict(type="path", default="/"),
        ),
        required_one_of=[("br_netfilter", "br_netfilter_state")],
        mutually_exclusive=[("br_netfilter", "br_netfilter_state")],
        supports_check_mode=True,
    )
    params = module.params
    try:
        result = compat_from_host(
            params["br_netfilter"] if params["br_netfilter"] is not None else params["br_netfilter_state"],
            docker_version=params["docker_version"], mode=params["mode"], service=params["service"],
            dropin_path=params["dropin_path"], root=params["root"],
            # Not module.run_command: it has no deadline, and a hung systemctl or dockerd would hold the task.
            run=lambda argv: run_bounded(argv, timeout=COMMAND_TIMEOUT, environ_update={"LC_ALL": "C"}),
            which=module.get_bin_path, read_bytes=_read_bytes, query_engine=_query_engine,
            docker_socket=params["docker_socket"])
    except CompatError as exc:
        module.fail_json(msg=str(exc))
    for warning in result["notes"]:
        module.warn(warning)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
