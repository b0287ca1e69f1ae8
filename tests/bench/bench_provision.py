# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: the provisioning playbook on N local hosts against the one-round-trip floor (ping).

Every inventory host is this machine over the local connection under its own name (as in bench_audit.py). The
provisioning run is in check mode, because a real run would write this machine's /etc; this machine is not
converged (no sysctl.d file of the collection), so the roles find changes pending in check mode, as they would on a
fleet's first dry run, and skip their post-change verification reads.

  python tests/bench/bench_provision.py --hosts 50 --forks 25 --profile docker_host --serial 100%
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PING = os.path.join(HERE, "ping.yml")


def run(command, cwd, env):
    start = time.monotonic()
    completed = subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               check=False)
    return time.monotonic() - start, completed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--forks", type=int, default=25)
    parser.add_argument("--profile", default="docker_host", choices=["docker_host", "k8s_node", "verify_only"])
    parser.add_argument("--serial", default="100%", help="provision_serial, as JSON or a single size")
    args = parser.parse_args(argv)
    try:
        serial = json.loads(args.serial)
    except ValueError:
        serial = args.serial
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    work = tempfile.mkdtemp(prefix="nodeprep-bench-provision-")
    inventory = os.path.join(work, "inventory.json")
    with open(inventory, "w") as handle:
        json.dump({"all": {"hosts": dict(("bench%04d" % index, None) for index in range(args.hosts)),
                           "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                                    "provision_profile": args.profile}}}, handle)
    env = dict(os.environ, ANSIBLE_FORKS=str(args.forks), ANSIBLE_PIPELINING="1", ANSIBLE_NOCOWS="1",
               ANSIBLE_FORCE_COLOR="0")
    load = os.getloadavg()[0]
    ping_s, ping = run([playbook, "-i", inventory, PING], work, env)
    prov_s, prov = run([playbook, "-i", inventory, "nodeprep.netfilter.provision", "--check",
                        "-e", "provision_become=false", "-e", "provision_report_dir=%s" % os.path.join(work, "reports"),
                        "-e", json.dumps({"provision_serial": serial})], work, env)
    row = {"hosts": args.hosts, "forks": args.forks, "profile": args.profile, "serial": serial,
           "ping_s": round(ping_s, 1), "provision_check_s": round(prov_s, 1),
           "ratio": round(prov_s / ping_s, 2), "ping_rc": ping.returncode, "provision_rc": prov.returncode,
           "load_before": round(load, 2), "load_after": round(os.getloadavg()[0], 2)}
    print(json.dumps(row))
    if prov.returncode != 0:
        sys.stderr.write(prov.stdout[-3000:])
    return 0 if ping.returncode == 0 and prov.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
