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
  - Read-only. Decides from the br_netfilter state (see M(nodeprep.netfilter.br_netfilter_facts)) and the Docker version
    what the C(nodeprep.netfilter.docker_br_netfilter_compat) role does with its systemd drop-in.
  - br_netfilter V(unavailable) or V(blocked) and Docker >= 27.5.1 gives RV(action=present); an older Docker gives
    RV(action=fail) with the version and the fix; any other state gives RV(action=absent). The 27.5.1 threshold comes from
    the collection's known-issues table.
  - Reports whether the drop-in exists and was written by the role (a marker line), whether docker.service runs with the
    variable now (C(/proc/<MainPID>/environ)), and so whether a restart is pending.
  - Warns that inter-container isolation is not enforced when the drop-in is needed.
author:
  - nodeprep.netfilter developers (!UNKNOWN)
extends_documentation_fragment:
  - nodeprep.netfilter._attributes
  - nodeprep.netfilter._attributes.info_module
  - nodeprep.netfilter._attributes.platform_linux
options:
  br_netfilter_state:
    description: The C(state) fact of M(nodeprep.netfilter.br_netfilter_facts).
    type: str
    required: true
    choices: [loaded, builtin, loadable, unavailable, blocked]
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
    br_netfilter_state: "{{ ansible_facts.br_netfilter.state }}"
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
  description: Why, in one sentence.
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
  description: C(icc) and C(userland-proxy) from daemon.json (with dockerd's defaults).
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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nodeprep.netfilter.plugins.module_utils._pins import BR_STATES, PinError, compat_from_host


def _read_bytes(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            br_netfilter_state=dict(type="str", required=True, choices=list(BR_STATES)),
            docker_version=dict(type="str"),
            service=dict(type="str", default="docker.service"),
            dropin_path=dict(type="path", default="/etc/systemd/system/docker.service.d/10-br-netfilter.conf"),
            root=dict(type="path", default="/"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        result = compat_from_host(
            params["br_netfilter_state"], docker_version=params["docker_version"], service=params["service"],
            dropin_path=params["dropin_path"], root=params["root"],
            run=lambda argv: module.run_command(argv, environ_update={"LC_ALL": "C"}),
            which=module.get_bin_path, read_bytes=_read_bytes)
    except PinError as exc:
        module.fail_json(msg=str(exc))
    for warning in result["notes"]:
        module.warn(warning)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
