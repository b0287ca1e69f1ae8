# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: the fleet audit playbook against the one-round-trip floor (ping) and a probe-style baseline.

Every inventory host is this machine over the local connection under its own name (bench0000, bench0001, ...), so
the figures measure Ansible's per-host round trips, the module bodies and the controller, not a network. For each
host count, forks value and strategy it runs, in alternating rounds:

* ``audit``: the collection playbook ``nodeprep.netfilter.audit`` as an operator runs it (reports written to a
  temporary directory, ``audit_fail_on=none`` so that the exit status says only whether Ansible worked);
* ``ping``: ``tests/bench/ping.yml``, one ``ansible.builtin.ping`` per host: the floor of one round trip;
* ``probe``: ``tests/bench/probe_style.yml``, modinfo/sysctl/ip_forward/stat as separate tasks, the way common
  node-prep roles check br_netfilter.

It reports wall time, time per host, CPU time, the controller's peak memory (the ansible-playbook process's VmHWM,
and the peak PSS summed over its whole process tree: forks and, with the local connection, the module processes),
the ratios audit/ping and probe/audit, and the load average before and after, since the machine is shared.

  python tests/bench/bench_audit.py --hosts 50,200 --forks 25 --strategy linear
  python tests/bench/bench_audit.py --hosts 200 --forks 10,25,50 --strategy linear,free --rounds 1
"""

import argparse
import datetime
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PLAYBOOKS = {
    "audit": "nodeprep.netfilter.audit",
    "ping": os.path.join(HERE, "ping.yml"),
    "probe": os.path.join(HERE, "probe_style.yml"),
}
# Issue 11: the audit costs at most a quarter more than the one-round-trip floor on Docker-less hosts.
TARGET_AUDIT_OVER_PING = 1.25
TARGET_PROBE_OVER_AUDIT = 3.0


def write_inventory(directory, hosts, interpreter):
    path = os.path.join(directory, "inventory-%d.json" % hosts)
    inventory = {
        "all": {
            "hosts": dict(("bench%04d" % index, None) for index in range(hosts)),
            "vars": {"ansible_connection": "local", "ansible_python_interpreter": interpreter},
        }
    }
    with open(path, "w") as handle:
        json.dump(inventory, handle)
    return path


def _tree_memory_kib(root_pid):
    """(RSS sum, PSS sum) over root_pid and its descendants, and root_pid's own VmHWM, in KiB.

    Forked workers share most pages with the controller, so the RSS sum counts them many times; PSS splits every
    shared page among the processes that map it, so the PSS sum is what the tree really occupies.
    """
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as handle:
                stat = handle.read()
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(name))
    rss = pss = 0
    stack = [root_pid]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, ()))
        try:
            with open("/proc/%d/smaps_rollup" % pid) as handle:
                for line in handle:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except (OSError, ValueError):
            continue
    hwm = 0
    try:
        with open("/proc/%d/status" % root_pid) as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except OSError:
        pass
    return rss, pss, hwm


class MemorySampler(threading.Thread):
    def __init__(self, pid, interval=0.25):
        super(MemorySampler, self).__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_tree_kib = self.peak_tree_pss_kib = self.peak_main_kib = 0
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.is_set():
            rss, pss, hwm = _tree_memory_kib(self.pid)
            self.peak_tree_kib = max(self.peak_tree_kib, rss)
            self.peak_tree_pss_kib = max(self.peak_tree_pss_kib, pss)
            self.peak_main_kib = max(self.peak_main_kib, hwm)
            self.stopped.wait(self.interval)


def run_playbook(name, inventory, forks, strategy, workdir):
    env = dict(os.environ,
               ANSIBLE_FORKS=str(forks), ANSIBLE_PIPELINING="true", ANSIBLE_STRATEGY=strategy,
               ANSIBLE_HOST_KEY_CHECKING="false", ANSIBLE_RETRY_FILES_ENABLED="false", ANSIBLE_NOCOWS="1",
               ANSIBLE_COLLECTIONS_PATH=os.environ.get("ANSIBLE_COLLECTIONS_PATH",
                                                       os.path.join(ROOT, "build", "collections")))
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inventory, PLAYBOOKS[name]]
    if name == "audit":
        command += ["-e", "audit_fail_on=none", "-e", "audit_become=false",
                    "-e", "audit_report_dir=%s" % os.path.join(workdir, "reports")]
    log_path = os.path.join(workdir, "%s-%s-f%d-%s.log" % (name, os.path.basename(inventory), forks, strategy))
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(log_path, "w") as log:
        started = time.monotonic()
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
        sampler = MemorySampler(process.pid)
        sampler.start()
        returncode = process.wait()
        elapsed = time.monotonic() - started
        sampler.stopped.set()
        sampler.join()
    usage_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (usage_after.ru_utime - usage_before.ru_utime) + (usage_after.ru_stime - usage_before.ru_stime)
    if returncode != 0:
        with open(log_path) as log:
            raise SystemExit("%s failed (rc=%d), log %s:\n%s" % (name, returncode, log_path, log.read()[-3000:]))
    with open(log_path) as log:
        text = log.read()
    if name == "audit" and "HOST " not in text:
        raise SystemExit("the audit printed no table; log %s" % log_path)
    return {"seconds": elapsed, "cpu_seconds": cpu, "peak_main_mib": sampler.peak_main_kib / 1024.0,
            "peak_tree_mib": sampler.peak_tree_kib / 1024.0, "peak_tree_pss_mib": sampler.peak_tree_pss_kib / 1024.0}


def _median(values):
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def _csv(kind):
    def parse(text):
        return [kind(item) for item in text.split(",") if item]
    return parse


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=_csv(int), default=[50, 200], help="comma-separated host counts")
    parser.add_argument("--forks", type=_csv(int), default=[25], help="comma-separated forks values")
    parser.add_argument("--strategy", type=_csv(str), default=["linear"], help="comma-separated strategies")
    parser.add_argument("--playbooks", type=_csv(str), default=["audit", "ping", "probe"])
    parser.add_argument("--rounds", type=int, default=1, help="alternating rounds; the median is reported")
    parser.add_argument("--interpreter", default="/usr/bin/python3" if os.path.exists("/usr/bin/python3")
                        else sys.executable, help="target Python (ansible_python_interpreter)")
    parser.add_argument("--output", default=os.path.join(ROOT, "tests", "output", "bench"),
                        help="directory for bench-audit.json and the logs")
    parser.add_argument("--check-targets", action="store_true",
                        help="exit 1 unless audit/ping <= %.2f and probe/audit >= %g for every configuration"
                             % (TARGET_AUDIT_OVER_PING, TARGET_PROBE_OVER_AUDIT))
    args = parser.parse_args(argv)
    unknown = set(args.playbooks) - set(PLAYBOOKS)
    if unknown:
        parser.error("unknown playbook(s): %s" % ", ".join(sorted(unknown)))

    os.makedirs(args.output, exist_ok=True)
    load_before = os.getloadavg()
    results = []
    with tempfile.TemporaryDirectory(prefix="nodeprep-bench-audit-") as workdir:
        for hosts in args.hosts:
            inventory = write_inventory(workdir, hosts, args.interpreter)
            for strategy in args.strategy:
                for forks in args.forks:
                    runs = dict((name, []) for name in args.playbooks)
                    for _round in range(args.rounds):
                        for name in args.playbooks:
                            runs[name].append(run_playbook(name, inventory, forks, strategy, workdir))
                            print("  hosts=%d forks=%d strategy=%s %-5s %.2f s" % (
                                hosts, forks, strategy, name, runs[name][-1]["seconds"]), file=sys.stderr)
                    entry = {"hosts": hosts, "forks": forks, "strategy": strategy, "rounds": args.rounds,
                             "load_at_end": os.getloadavg()}
                    for name, values in runs.items():
                        seconds = _median([value["seconds"] for value in values])
                        entry[name] = {
                            "seconds": round(seconds, 2),
                            "ms_per_host": round(1000.0 * seconds / hosts, 1),
                            "all_seconds": [round(value["seconds"], 2) for value in values],
                            "cpu_seconds": round(_median([value["cpu_seconds"] for value in values]), 2),
                            "peak_main_mib": round(max(value["peak_main_mib"] for value in values), 1),
                            "peak_tree_mib": round(max(value["peak_tree_mib"] for value in values), 1),
                            "peak_tree_pss_mib": round(max(value["peak_tree_pss_mib"] for value in values), 1),
                        }
                    if "audit" in runs and "ping" in runs:
                        entry["audit_over_ping"] = round(entry["audit"]["seconds"] / entry["ping"]["seconds"], 2)
                    if "audit" in runs and "probe" in runs:
                        entry["probe_over_audit"] = round(entry["probe"]["seconds"] / entry["audit"]["seconds"], 2)
                    # CPU time (user+sys of ansible-playbook, its workers and, with the local connection, the
                    # modules) does not depend on what else runs on the machine: the load-independent ratio.
                    if "audit" in runs and "ping" in runs:
                        entry["cpu_audit_over_ping"] = round(entry["audit"]["cpu_seconds"] / entry["ping"]["cpu_seconds"], 2)
                    if "audit" in runs and "probe" in runs:
                        entry["cpu_probe_over_audit"] = round(entry["probe"]["cpu_seconds"] / entry["audit"]["cpu_seconds"], 2)
                    results.append(entry)

    summary = {
        "when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "load_before": [round(value, 2) for value in load_before],
        "load_after": [round(value, 2) for value in os.getloadavg()],
        "interpreter": args.interpreter,
        "command": " ".join([os.path.relpath(sys.executable, ROOT), os.path.relpath(os.path.abspath(__file__), ROOT)]
                            + (argv if argv is not None else sys.argv[1:])),
        "results": results,
    }
    with open(os.path.join(args.output, "bench-audit.json"), "w") as handle:
        json.dump(summary, handle, indent=2)

    print("fleet audit benchmark: local connection, pipelining, %d CPUs, load before %s, after %s" % (
        summary["cpus"], summary["load_before"], summary["load_after"]))
    print("%-6s %-6s %-8s %-20s %-20s %-20s %-11s %-12s %-15s %-9s %s" % (
        "hosts", "forks", "strategy", "audit s (ms/host)", "ping s (ms/host)", "probe s (ms/host)",
        "audit/ping", "probe/audit", "CPU a/p, p/a", "audit CPU", "audit peak MiB main/tree PSS"))
    met = True
    for entry in results:
        def cell(name):
            if name not in entry:
                return "-"
            return "%.2f (%.0f)" % (entry[name]["seconds"], entry[name]["ms_per_host"])
        ratio_ping = entry.get("audit_over_ping")
        ratio_probe = entry.get("probe_over_audit")
        if ratio_ping is not None and ratio_ping > TARGET_AUDIT_OVER_PING:
            met = False
        if ratio_probe is not None and ratio_probe < TARGET_PROBE_OVER_AUDIT:
            met = False
        cpu_ratios = "%s, %s" % (entry.get("cpu_audit_over_ping", "-"), entry.get("cpu_probe_over_audit", "-"))
        print("%-6d %-6d %-8s %-20s %-20s %-20s %-11s %-12s %-15s %-9s %s" % (
            entry["hosts"], entry["forks"], entry["strategy"], cell("audit"), cell("ping"), cell("probe"),
            "-" if ratio_ping is None else "%.2f" % ratio_ping, "-" if ratio_probe is None else "%.2f" % ratio_probe,
            cpu_ratios, "-" if "audit" not in entry else "%.1f s" % entry["audit"]["cpu_seconds"],
            "-" if "audit" not in entry else "%.0f / %.0f" % (entry["audit"]["peak_main_mib"],
                                                              entry["audit"]["peak_tree_pss_mib"])))
    print("targets: audit/ping <= %.2f, probe/audit >= %.1f: %s" % (
        TARGET_AUDIT_OVER_PING, TARGET_PROBE_OVER_AUDIT, "met" if met else "NOT met"))
    print("details: %s" % os.path.join(args.output, "bench-audit.json"))
    return 1 if args.check_targets and not met else 0


if __name__ == "__main__":
    sys.exit(main())
