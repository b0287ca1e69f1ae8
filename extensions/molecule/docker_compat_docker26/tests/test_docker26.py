# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""dockerd 26.1.5 with br_netfilter blocked: the role refuses and changes nothing."""

from pin_compat_checks import playbook, service_state, unwrap

DROPIN_DIR = "/etc/systemd/system/docker.service.d"


def test_br_netfilter_is_blocked_and_not_loaded(host):
    assert not host.file("/sys/module/br_netfilter").exists
    assert host.run("modprobe br_netfilter").rc != 0


def test_no_drop_in_was_written(host):
    assert not host.file(DROPIN_DIR + "/10-br-netfilter.conf").exists
    assert host.run("systemctl show -p Environment docker.service").stdout.strip() == "Environment="


def test_dockerd_was_not_touched(host):
    state = service_state(host)
    assert state["ActiveState"] == "active"
    assert state["MainPID"] == host.file("/var/lib/nodeprep-test/dockerd-pid-before-role").content_string.strip()
    assert host.run("systemctl show -p NeedDaemonReload --value docker.service").stdout.strip() == "no"


def test_the_user_sees_the_version_and_the_fix(host):
    rc, recap, output = playbook("plain.yml")
    assert rc != 0 and recap.get("changed") == 0, output
    text = unwrap(output)
    assert "Docker 26.1.5 predates DOCKER_IGNORE_BR_NETFILTER_ERROR=1 (honoured from 27.5.1): with br_netfilter " \
           "blocked it fails to start when icc=false or userland-proxy=false is set" in text
    assert "Fix: Upgrade Docker to >= 27.5.1 (the nodeprep.netfilter.package_pin role pins it" in text
