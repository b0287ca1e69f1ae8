# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""nodeprep.netfilter.provision as operators start it (real ansible-playbook runs against this machine).

Every host is this machine through the local connection. Real runs use the ``verify_only`` profile, which changes
nothing, with ``nodeprep_audit_root`` pointing at fixture trees captured from real trixie hosts: a healthy node,
and a node whose br_netfilter is blocked, which fails its post-check. The profiles that change hosts
(``docker_host``, ``k8s_node``) run in check mode only, and the test checks that this machine's /etc is unchanged.
Runs that must be refused also run in check mode, so a validation that wrongly let them through changes nothing.
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
BLOCKED = "derived-trixie-6.12-blocked-install-false"
PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
# What the roles would write on this machine; check mode must leave them as they are.
WATCHED_DIRS = ("/etc/apt/preferences.d", "/etc/sysctl.d", "/etc/modules-load.d", "/etc/systemd/system")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the audit reads iptables as root (CI runs as root)")


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    base = tmp_path_factory.mktemp("trees")
    return {"healthy": materialize(HEALTHY, base), "blocked": materialize(BLOCKED, base)}


def run_provision(tmp_path, inventory, *args):
    """ansible-playbook nodeprep.netfilter.provision in an empty directory (no ansible.cfg, no ./inventory)."""
    env = dict(os.environ, ANSIBLE_NOCOWS="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_COLLECTIONS_PATH=os.environ.get("ANSIBLE_COLLECTIONS_PATH",
                                                       os.path.join(ROOT, "build", "collections")))
    env.pop("ANSIBLE_INVENTORY", None)
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps(inventory))
    command = [PLAYBOOK, "nodeprep.netfilter.provision", "-i", str(path),
               "-e", "provision_report_dir=%s" % (tmp_path / "reports"), "-e", "provision_become=false"]
    command += list(args)
    completed = subprocess.run(command, cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, check=False, timeout=600)
    report_path = tmp_path / "reports" / "provision.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else None
    return completed, report


def fleet(names, root, **per_host):
    """An inventory of local hosts, all verify_only with ``root`` unless ``per_host`` says otherwise."""
    common = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
              "provision_profile": "verify_only", "nodeprep_audit_root": root}
    return {"all": {"vars": common, "hosts": dict((name, per_host.get(name, {})) for name in names)}}


def entry(report, name):
    return next(host for host in report["hosts"] if host["host"] == name)


def extra(**values):
    return ["-e", json.dumps(values)]


def snapshot(paths):
    state = {}
    for top in paths:
        for directory, _dirs, files in os.walk(top):
            for name in files:
                path = os.path.join(directory, name)
                try:
                    info = os.lstat(path)
                except OSError:
                    continue
                state[path] = (info.st_size, info.st_mtime_ns)
    return state


BAD_INPUT = {
    "unknown profile": ({"node1": {"provision_profile": "kubernetes"}}, [],
                        "node1: unknown provision_profile 'kubernetes'"),
    "batch size 0": ({}, extra(provision_serial=0), "provision_serial must be at least 1 host, got 0"),
    "canary then 0": ({}, extra(provision_serial=[1, 0]), "provision_serial[1] must be at least 1 host"),
    "0 percent": ({}, extra(provision_serial="0%"), "provision_serial must be a percentage above 0%"),
    "pinned twice": ({"node1": {"provision_profile": "docker_host", "provision_pin_presets": [],
                                "package_pin_pins": [{"packages": ["iptables"], "version": "1.8.10-1"},
                                                     {"packages": ["iptables"], "version": "1.8.10-2"}]}}, [],
                     "node1: pins: iptables is pinned twice"),
    "pinned and forbidden": ({"node1": {"provision_profile": "k8s_node", "provision_pin_presets": [],
                                        "package_pin_pins": [{"packages": ["curl"], "version": "8.14.1-2"}],
                                        "package_pin_forbid": [{"packages": ["curl"], "versions": ["8.14.1-2"]}]}},
                             [], "curl 8.14.1-2 is both pinned (pins[0]) and forbidden"),
    "docker version and pin disagree": ({"node1": {"provision_profile": "docker_host", "provision_pin_presets": [],
                                                   "package_pin_docker_version": "28.5.2",
                                                   "package_pin_pins": [{"packages": ["docker-ce"],
                                                                         "version": "5:27.5.1-1~debian.13~trixie"}]}},
                                        [], "docker-ce is pinned twice: to Docker 28.5.2"),
    "unknown reboot mode": ({}, extra(provision_reboot="sometimes"), "provision_reboot must be one of none, canary, all"),
    "failure percentage above 100": ({}, extra(provision_max_fail_percentage=150),
                                     "provision_max_fail_percentage must be a number from 0 to 100"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_fails_before_any_host_is_touched(tmp_path, trees, case):
    per_host, args, message = BAD_INPUT[case]
    inventory = fleet(["node1", "node2"], trees["healthy"], **per_host)
    completed, report = run_provision(tmp_path, inventory, "--check", *args)
    assert completed.returncode != 0, completed.stdout[-3000:]
    assert "provisioning refused before any host was touched" in completed.stdout
    assert message in completed.stdout, completed.stdout[-3000:]
    # Not even the read-only audit ran: no task reached node1 or node2.
    assert "[node1]" not in completed.stdout and "[node2]" not in completed.stdout
    assert "TASK [Audit Docker" not in completed.stdout
    assert report is None


def test_batches_run_canary_first_and_a_failing_batch_stops_the_rollout(tmp_path, trees):
    # node3 is blocked: above the threshold after provisioning, so it fails its post-check in batch 2.
    inventory = fleet(["node1", "node2", "node3", "node4", "node5"], trees["healthy"],
                      node3={"nodeprep_audit_root": trees["blocked"]})
    completed, report = run_provision(tmp_path, inventory, *extra(provision_serial=[1, 2]))
    assert completed.returncode == 2, completed.stdout[-3000:]
    assert report["verdict"] == "fail"
    assert [batch["hosts"] for batch in report["batches"]] == [["node1"], ["node2", "node3"]]
    assert report["batches"][0]["started_at"] < report["batches"][1]["started_at"]
    assert report["failing_hosts"] == ["node3"]
    assert report["batches"][1]["failed"] == ["node3"]
    node3 = entry(report, "node3")
    assert node3["verdict"] == "fail"
    assert any(problem.startswith("at or above fail_on=high") for problem in node3["problems"])
    assert {item["code"] for item in node3["remains"]} >= {"BR_NETFILTER_BLOCKED"}
    assert entry(report, "node1")["verdict"] == "pass" and entry(report, "node2")["verdict"] == "pass"
    # Later hosts were audited before (read-only) and never touched after that.
    assert report["untouched_hosts"] == ["node4", "node5"]
    for name in ("node4", "node5"):
        host = entry(report, name)
        assert host["batch"] is None and host["after"] is None and host["before"]["status"] == "ok"
        assert completed.stdout.count("[%s]" % name) == 1, "only the before audit may reach %s" % name
    assert "fatal: [node3]" in completed.stdout
    # The Markdown and HTML reports say the same.
    assert "rollout stopped, untouched: node4, node5" in (tmp_path / "reports" / "provision.md").read_text()
    assert 'data-host="node4"' in (tmp_path / "reports" / "provision.html").read_text()


def test_max_fail_percentage_lets_the_rollout_go_on(tmp_path, trees):
    # 1 failed host of 2 in the batch is 50 %, which does not exceed 50: the next batch runs.
    inventory = fleet(["node1", "node2", "node3", "node4"], trees["healthy"],
                      node2={"nodeprep_audit_root": trees["blocked"]})
    completed, report = run_provision(tmp_path, inventory,
                                      *extra(provision_serial=[2], provision_max_fail_percentage=50))
    assert completed.returncode == 2, completed.stdout[-3000:]
    assert [batch["hosts"] for batch in report["batches"]] == [["node1", "node2"], ["node3", "node4"]]
    assert report["failing_hosts"] == ["node2"]
    assert report["untouched_hosts"] == []


def test_order_default_profile_and_a_clean_pass(tmp_path, trees):
    # No host sets provision_profile here: the play-wide default applies (what a thin k8s_node playbook would use).
    inventory = fleet(["node1", "node2", "node3"], trees["healthy"])
    del inventory["all"]["vars"]["provision_profile"]
    completed, report = run_provision(tmp_path, inventory,
                                      *extra(provision_serial=[1, "100%"], provision_order="reverse_inventory",
                                             provision_default_profile="verify_only"))
    assert completed.returncode == 0, completed.stdout[-3000:]
    assert report["verdict"] == "pass"
    assert {host["profile"] for host in report["hosts"]} == {"verify_only"}
    assert [batch["hosts"] for batch in report["batches"]] == [["node3"], ["node2", "node1"]]
    assert report["summary"]["docker_restarts"] == 0
    assert "changed=0" in completed.stdout and "changed=1" not in completed.stdout


def test_check_mode_is_a_dry_run_with_diffs_that_changes_nothing(tmp_path):
    # The profiles that change hosts, against this machine's real / (no audit root): check mode only.
    common = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory = {"all": {"vars": common, "hosts": {"docker1": {"provision_profile": "docker_host"},
                                                   "k8s1": {"provision_profile": "k8s_node"}}}}
    before = snapshot(WATCHED_DIRS)
    completed, report = run_provision(tmp_path, inventory, "--check", "--diff", *extra(provision_serial=[1, 1]))
    assert snapshot(WATCHED_DIRS) == before
    assert completed.returncode == 0, completed.stdout[-4000:]
    assert report["check_mode"] is True
    assert report["verdict"] == "dry_run"
    assert [batch["hosts"] for batch in report["batches"]] == [["docker1"], ["k8s1"]]
    assert all(host["verdict"] == "planned" for host in report["hosts"])
    assert report["summary"]["docker_restarts"] == 0
    # The diffs of what a real run would write are shown.
    assert "+++ after: /etc/apt/preferences.d/nodeprep-pins.pref" in completed.stdout
