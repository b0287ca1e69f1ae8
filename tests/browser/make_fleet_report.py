# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the real audit playbook on a small mixed fleet and keep its reports for the browser and report tests.

The fleet, all on this machine (nothing leaves loopback):
* fixture-* hosts: the local connection with ``nodeprep_audit_root`` pointing at br_netfilter fixture trees captured
  from real hosts (tests/unit/fixtures/br_netfilter): healthy, bridge-only, false positive, blocked;
* this-machine: the development machine itself (root /);
* down: SSH to a closed loopback port (unreachable);
* no-python: a missing interpreter (the module fails).

Writes into --out: report.json, report.md, report.html (the playbook's own files), playbook.log (its output),
playbook.rc (its exit status) and fleet.json (which host is which). Exit status 0 when the playbook ran to its
verdict (any rc in 0/2), 1 otherwise.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "unit"))

from conftest import materialize  # noqa: E402  (the unit tests' fixture-tree builder)

FIXTURE_HOSTS = {
    "fixture-healthy": "derived-trixie-6.12-persisted-k8s",
    "fixture-bridge-only": "trixie-6.12-state-b-bridge-only",
    "fixture-false-positive": "derived-trixie-6.12-false-positive",
    "fixture-blocked": "derived-trixie-6.12-blocked-install-false",
}


def build_inventory(trees_dir, python):
    hosts = {}
    for host, fixture in FIXTURE_HOSTS.items():
        hosts[host] = {"ansible_connection": "local", "ansible_python_interpreter": python,
                       "nodeprep_audit_root": materialize(fixture, trees_dir)}
    hosts["this-machine"] = {"ansible_connection": "local", "ansible_python_interpreter": python}
    hosts["down"] = {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": 9,
                     "ansible_ssh_common_args": "-o ConnectTimeout=3 -o BatchMode=yes"}
    hosts["no-python"] = {"ansible_connection": "local", "ansible_python_interpreter": "/nonexistent/bin/python3"}
    return {"all": {"hosts": hosts}}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "tests", "output", "browser"))
    parser.add_argument("--fail-on", default="high")
    args = parser.parse_args(argv)
    out = os.path.abspath(args.out)
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    venv_bin = os.path.dirname(sys.executable)
    with tempfile.TemporaryDirectory(prefix="nodeprep-fleet-") as trees:
        inventory_path = os.path.join(out, "inventory.json")
        inventory = build_inventory(trees, sys.executable)
        with open(inventory_path, "w") as handle:
            json.dump(inventory, handle, indent=2)
        env = dict(os.environ, ANSIBLE_HOST_KEY_CHECKING="false", ANSIBLE_NOCOWS="1", ANSIBLE_FORCE_COLOR="0",
                   ANSIBLE_COLLECTIONS_PATH=os.environ.get("ANSIBLE_COLLECTIONS_PATH",
                                                           os.path.join(ROOT, "build", "collections")))
        command = [os.path.join(venv_bin, "ansible-playbook"), "-i", inventory_path, "nodeprep.netfilter.audit",
                   # Already root on this machine, which has no sudo.
                   "-e", json.dumps({"audit_fail_on": args.fail_on, "audit_report_dir": out, "audit_become": False,
                                     "audit_report_title": "nodeprep.netfilter fleet audit (browser test fleet)"})]
        completed = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   check=False)
    with open(os.path.join(out, "playbook.log"), "w") as handle:
        handle.write(completed.stdout)
    with open(os.path.join(out, "playbook.rc"), "w") as handle:
        handle.write("%d\n" % completed.returncode)
    with open(os.path.join(out, "fleet.json"), "w") as handle:
        json.dump({"fixture_hosts": FIXTURE_HOSTS, "fail_on": args.fail_on,
                   "hosts": sorted(inventory["all"]["hosts"])}, handle, indent=2)
    if completed.returncode not in (0, 2) or not os.path.exists(os.path.join(out, "report.html")):
        sys.stderr.write(completed.stdout[-4000:])
        sys.stderr.write("\nthe audit playbook did not reach its verdict (rc=%d)\n" % completed.returncode)
        return 1
    print("fleet report in %s (playbook rc=%d)" % (out, completed.returncode))
    return 0


if __name__ == "__main__":
    sys.exit(main())
