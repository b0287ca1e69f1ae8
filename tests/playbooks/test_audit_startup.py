# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every way an operator starts nodeprep.netfilter.audit gives a true verdict (real ansible-playbook runs).

The audited host is this machine through the local connection, with ``nodeprep_audit_root`` pointing at a healthy
fixture tree captured from a real trixie host (tests/unit/fixtures/br_netfilter), so the kernel side passes and the
verdict turns on the start-up case alone. iptables is this machine's (read with become, as root).
"""

import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "unit"))

from conftest import materialize  # noqa: E402  (the unit tests' fixture-tree builder)

HEALTHY = "derived-trixie-6.12-persisted-k8s"
PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the audit reads iptables as root (CI runs as root)")


@pytest.fixture(scope="module")
def healthy_root(tmp_path_factory):
    return materialize(HEALTHY, tmp_path_factory.mktemp("trees"))


def run_audit(tmp_path, *args, inventory=None, prefix=()):
    """ansible-playbook nodeprep.netfilter.audit in an empty directory (no ansible.cfg, no ./inventory)."""
    env = dict(os.environ, ANSIBLE_NOCOWS="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_COLLECTIONS_PATH=os.environ.get("ANSIBLE_COLLECTIONS_PATH",
                                                       os.path.join(ROOT, "build", "collections")))
    env.pop("ANSIBLE_INVENTORY", None)
    command = list(prefix) + [PLAYBOOK, "nodeprep.netfilter.audit", "-e", "audit_report_dir=%s" % (tmp_path / "reports")]
    if inventory is not None:
        path = tmp_path / "inventory.json"
        path.write_text(json.dumps(inventory))
        command += ["-i", str(path)]
    command += list(args)
    completed = subprocess.run(command, cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, check=False, timeout=300)
    report_path = tmp_path / "reports" / "report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else None
    return completed, report


def host_entry(report, name):
    return next(host for host in report["hosts"] if host["host"] == name)


def codes(host):
    return sorted(finding["code"] for finding in host["findings"])


def node(healthy_root, **extra):
    host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "nodeprep_audit_root": healthy_root}
    host.update(extra)
    return host


def test_normal_inventory_audits_with_become(tmp_path, healthy_root):
    # become is on by default; su lets root become root without sudo (which this machine lacks).
    inventory = {"all": {"hosts": {"node1": node(healthy_root, ansible_become_method="ansible.builtin.su")}}}
    completed, report = run_audit(tmp_path, inventory=inventory)
    assert completed.returncode == 0, completed.stdout[-3000:]
    assert report["verdict"] == "pass"
    node1 = host_entry(report, "node1")
    assert node1["status"] == "ok"
    assert "AUDIT_UNPRIVILEGED" not in codes(node1)
    assert "IPTABLES_READ_FAILED" not in codes(node1)


def test_implicit_localhost_without_inventory_is_audited(tmp_path, healthy_root):
    completed, report = run_audit(
        tmp_path, "-e", json.dumps({"audit_hosts": "localhost", "nodeprep_audit_root": healthy_root,
                                    "ansible_python_interpreter": sys.executable,
                                    "ansible_become_method": "ansible.builtin.su"}))
    assert completed.returncode == 0, completed.stdout[-3000:]
    localhost = host_entry(report, "localhost")
    assert localhost["status"] == "ok", localhost
    assert "AUDIT_NOT_RUN" not in codes(localhost)
    assert report["verdict"] == "pass"


@pytest.mark.parametrize("case", ["pattern matches nothing", "no inventory at all"])
def test_no_matched_host_is_an_error_with_no_report(tmp_path, healthy_root, case):
    if case == "pattern matches nothing":
        inventory = {"all": {"hosts": {"node1": node(healthy_root)}}}
        completed, report = run_audit(tmp_path, "-e", "audit_hosts=nodes_typo", inventory=inventory)
        pattern = "audit_hosts=nodes_typo"
    else:
        completed, report = run_audit(tmp_path, "-i", str(tmp_path / "missing-inventory.yml"))
        pattern = "audit_hosts=all"
    assert completed.returncode != 0
    assert "%s matches no host of the inventory" % pattern in completed.stdout
    assert report is None
    assert "TASK [Audit Docker" not in completed.stdout


def test_unprivileged_audit_fails_the_verdict(tmp_path, healthy_root):
    # Root without any capability, and no become: what an audit without privilege escalation gets.
    inventory = {"all": {"hosts": {"node1": node(healthy_root)}}}
    completed, report = run_audit(tmp_path, "-e", "audit_become=false", inventory=inventory,
                                  prefix=("setpriv", "--inh-caps=-all", "--bounding-set=-all"))
    assert completed.returncode == 2, completed.stdout[-3000:]
    node1 = host_entry(report, "node1")
    assert node1["status"] == "ok"
    assert "AUDIT_UNPRIVILEGED" in codes(node1)
    assert report["verdict"] == "fail"
    assert report["failing_hosts"] == ["node1"]
