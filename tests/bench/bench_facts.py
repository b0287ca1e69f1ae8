# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: one br_netfilter_facts run per host against one ansible.builtin.ping per host, in one run.

Every inventory host is this machine over the local connection, under its own name, so the figures measure
Ansible's per-host round trip plus the module body, not a network. The module body is also timed in-process,
without Ansible, to show what it adds to the round trip.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

PLAYS = {
    "ping": "ansible.builtin.ping:",
    "br_netfilter_facts": "nodeprep.netfilter.br_netfilter_facts:",
}


def write_inventory(directory, hosts):
    path = os.path.join(directory, "inventory.json")
    inventory = {
        "all": {
            "hosts": {"bench%04d" % index: None for index in range(hosts)},
            "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
        }
    }
    with open(path, "w") as handle:
        json.dump(inventory, handle)
    return path


def write_playbook(directory, name, task):
    path = os.path.join(directory, name + ".yml")
    with open(path, "w") as handle:
        handle.write("- hosts: all\n  gather_facts: false\n  tasks:\n    - name: %s\n      %s\n" % (name, task))
    return path


def run_playbook(playbook, inventory, forks):
    env = dict(os.environ, ANSIBLE_FORKS=str(forks), ANSIBLE_PIPELINING="true",
               ANSIBLE_HOST_KEY_CHECKING="false", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.null")
    ansible_playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    started = time.monotonic()
    completed = subprocess.run([ansible_playbook, "-i", inventory, playbook], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    elapsed = time.monotonic() - started
    if completed.returncode != 0:
        raise SystemExit("%s failed (rc=%d):\n%s" % (playbook, completed.returncode, completed.stdout[-3000:]))
    return elapsed


def time_module_body(iterations):
    from ansible_collections.nodeprep.netfilter.plugins.module_utils._br_netfilter import gather_br_netfilter_facts

    gather_br_netfilter_facts("/")
    started = time.perf_counter()
    for dummy in range(iterations):
        gather_br_netfilter_facts("/")
    return (time.perf_counter() - started) / iterations


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--forks", type=int, default=25)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the median is reported")
    parser.add_argument("--body-iterations", type=int, default=500)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="nodeprep-bench-") as directory:
        inventory = write_inventory(directory, args.hosts)
        playbooks = {name: write_playbook(directory, name, task) for name, task in PLAYS.items()}
        timings = {name: [] for name in PLAYS}
        for dummy in range(args.rounds):
            for name, playbook in playbooks.items():
                timings[name].append(run_playbook(playbook, inventory, args.forks))

    medians = {name: sorted(values)[len(values) // 2] for name, values in timings.items()}
    body = time_module_body(args.body_iterations)
    peak_rss_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    print("hosts=%d forks=%d rounds=%d (local connection, pipelining)" % (args.hosts, args.forks, args.rounds))
    for name, median in medians.items():
        print("  %-20s median %7.2f s  (%.1f ms per host)  runs: %s" % (
            name, median, 1000.0 * median / args.hosts, ", ".join("%.2f" % value for value in timings[name])))
    print("  ratio br_netfilter_facts / ping: %.2f" % (medians["br_netfilter_facts"] / medians["ping"]))
    print("  module body in-process (gather_br_netfilter_facts on /): %.2f ms per call" % (1000.0 * body))
    print("  largest child peak RSS: %.0f MiB" % peak_rss_mib)


if __name__ == "__main__":
    sys.exit(main())
