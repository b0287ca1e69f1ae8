# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the real provisioning playbook on a small local fleet and keep its reports for the browser test.

Every host is this machine through the local connection with the ``verify_only`` profile (nothing is changed) and
``nodeprep_audit_root`` pointing at fixture trees captured from real hosts: two healthy nodes, then a node whose
br_netfilter is blocked, which fails its post-check in batch 2 and stops the rollout, then two untouched nodes.

Writes into --out: provision.json, provision.md, provision.html (the playbook's own files), playbook.log and
playbook.rc. Exit status 0 when the playbook ran to its verdict (rc 2: the rollout stopped as it should), 1 otherwise.
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

HEALTHY = "derived-trixie-6.12-persisted-k8s"
BLOCKED = "derived-trixie-6.12-blocked-install-false"
HOSTS = ("node-1", "node-2", "node-3-blocked", "node-4", "node-5")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    out = os.path.abspath(args.out)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    work = tempfile.mkdtemp(prefix="nodeprep-provision-")
    try:
        healthy, blocked = materialize(HEALTHY, work), materialize(BLOCKED, work)
        hosts = dict((name, {"nodeprep_audit_root": blocked if "blocked" in name else healthy}) for name in HOSTS)
        inventory = {"all": {"hosts": hosts, "vars": {"ansible_connection": "local",
                                                      "ansible_python_interpreter": sys.executable,
                                                      "provision_profile": "verify_only"}}}
        path = os.path.join(work, "inventory.json")
        with open(path, "w") as handle:
            json.dump(inventory, handle)
        env = dict(os.environ, ANSIBLE_NOCOWS="1", ANSIBLE_FORCE_COLOR="0")
        env.pop("ANSIBLE_INVENTORY", None)
        command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "nodeprep.netfilter.provision",
                   "-i", path, "-e", "provision_report_dir=%s" % out, "-e", "provision_become=false",
                   "-e", json.dumps({"provision_serial": [2, 1]})]
        completed = subprocess.run(command, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, check=False, timeout=600)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    with open(os.path.join(out, "playbook.log"), "w") as handle:
        handle.write(completed.stdout)
    with open(os.path.join(out, "playbook.rc"), "w") as handle:
        handle.write("%d\n" % completed.returncode)
    if completed.returncode not in (0, 2) or not os.path.exists(os.path.join(out, "provision.html")):
        sys.stderr.write(completed.stdout[-4000:])
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
