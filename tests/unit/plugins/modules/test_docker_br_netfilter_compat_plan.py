# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The thin module: a service name or root that points elsewhere fails before anything is read or written."""

from __future__ import annotations

import json
import os

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.nodeprep.netfilter.plugins.modules import docker_br_netfilter_compat_plan


def run_module(capsys, args):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exc:
            docker_br_netfilter_compat_plan.main()
    return exc.value.code, json.loads(capsys.readouterr().out)


@pytest.fixture
def docker_root(tmp_path):
    """A host with Debian's docker.io 28.5.2 installed and no drop-in yet."""
    root = tmp_path / "root"
    (root / "var" / "lib" / "dpkg").mkdir(parents=True)
    (root / "var" / "lib" / "dpkg" / "status").write_text(
        "Package: docker.io\nStatus: install ok installed\nVersion: 28.5.2+dfsg4-5\nArchitecture: amd64\n\n")
    (root / "etc" / "systemd" / "system").mkdir(parents=True)
    return root


def test_module_decides_on_a_fixture_root(capsys, docker_root):
    rc, result = run_module(capsys, {"br_netfilter_state": "blocked", "root": str(docker_root)})
    assert rc == 0 and result["changed"] is False
    # default settings: nothing needs br_netfilter, so no drop-in
    assert result["action"] == "absent" and result["docker_version"] == "28.5.2" and result["needed"] is False
    (docker_root / "etc" / "docker").mkdir()
    (docker_root / "etc" / "docker" / "daemon.json").write_text('{"icc": false}')
    rc, result = run_module(capsys, {"br_netfilter": {"state": "blocked", "bridge_nf_call_iptables_present": False},
                                     "root": str(docker_root)})
    assert (result["action"], result["escape_hatch"], result["needed_by"]) == ("present", "needed", ["icc=false"])


def test_module_mode_always_installs_the_drop_in_deliberately(capsys, docker_root):
    rc, result = run_module(capsys, {"br_netfilter_state": "loadable", "mode": "always", "root": str(docker_root)})
    assert rc == 0 and result["action"] == "present" and result["mode"] == "always"
    assert result["dropin"]["content"].startswith("# Managed by nodeprep.netfilter.docker_br_netfilter_compat (mode=always)")
    assert result["code"] == "DOCKER_IGNORE_BR_NETFILTER_ERROR_DELIBERATE"


def test_module_needs_the_facts_or_the_state(capsys, docker_root):
    rc, result = run_module(capsys, {"root": str(docker_root)})
    assert rc == 1 and "one of the following is required: br_netfilter, br_netfilter_state" in result["msg"]


def test_traversing_service_name_is_refused_before_any_write(capsys, docker_root):
    # What the role computes from docker_br_netfilter_compat_service=../../../tmp/x. The role writes the drop-in
    # only from a plan with an action; a failed plan stops it first.
    service = "../../../tmp/x"
    dropin = "/etc/systemd/system/%s.d/10-br-netfilter.conf" % service
    rc, result = run_module(capsys, {"br_netfilter_state": "blocked", "root": str(docker_root), "service": service,
                                     "dropin_path": dropin})
    assert rc == 1 and result["failed"] is True
    assert result["msg"].startswith("service: '../../../tmp/x' is not a systemd unit name: it must end in .service")
    assert "action" not in result and "dropin" not in result


@pytest.mark.parametrize("service", ["docker.service\n", "docker.service --now", "-H.service", "docker"])
def test_service_names_that_would_be_extra_systemctl_arguments_are_refused(capsys, docker_root, service):
    rc, result = run_module(capsys, {"br_netfilter_state": "loaded", "root": str(docker_root), "service": service})
    assert rc == 1
    assert result["msg"].startswith("service: %r is not a systemd unit name" % service)


def test_drop_in_path_with_dot_dot_is_refused(capsys, docker_root):
    path = "/etc/systemd/system/../../tmp/10-br-netfilter.conf"
    rc, result = run_module(capsys, {"br_netfilter_state": "blocked", "root": str(docker_root), "dropin_path": path})
    assert rc == 1
    assert result["msg"].startswith("dropin_path %r must be an absolute, normalised path" % path)


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_root_that_is_not_a_directory_is_an_error_naming_it(capsys, tmp_path, kind):
    root = os.path.join(str(tmp_path), "root")
    if kind == "file":
        with open(root, "w") as handle:
            handle.write("")
    rc, result = run_module(capsys, {"br_netfilter_state": "blocked", "root": root})
    assert rc == 1
    assert result["msg"] == "root %r does not exist or is not a directory" % root


def test_the_module_runs_its_commands_with_a_deadline_its_docs_state():
    import inspect

    import yaml

    from ansible_collections.nodeprep.netfilter.plugins.module_utils import _docker_api, _subprocess
    source = inspect.getsource(docker_br_netfilter_compat_plan.main)
    assert "module.run_command" not in source.replace("Not module.run_command", "")
    assert "run_bounded(argv, timeout=COMMAND_TIMEOUT" in source
    doc = yaml.safe_load(docker_br_netfilter_compat_plan.DOCUMENTATION)
    note = " ".join(item for item in doc["description"] if item.startswith("Deadlines."))
    assert "after %d seconds" % docker_br_netfilter_compat_plan.COMMAND_TIMEOUT in note
    assert "%d MiB" % (_subprocess.MAX_OUTPUT_BYTES // 2 ** 20) in note
    assert "%g seconds per request and %g seconds" % (_docker_api.REQUEST_DEADLINE, _docker_api.QUERY_DEADLINE) in note
