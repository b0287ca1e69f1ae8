# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Everything verify needs about this boot, in one round trip: /var/lib/nodeprep-test/evidence-<phase>.json.

The probe of published port 8080 comes from network namespace nprobe (vethnp1 192.168.77.2) to the host's
192.168.77.1 (vethnp0): outside the container's namespace, through the host's PREROUTING like a remote client.
"""

import json
import os
import subprocess
import sys
import time

PHASE = sys.argv[1]
GET = 'exec 3<>/dev/tcp/192.168.77.1/8080 && printf "GET / HTTP/1.0\\r\\n\\r\\n" >&3 && cat <&3'


def run(argv):
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    return {"rc": proc.returncode, "out": proc.stdout, "err": proc.stderr}


if not os.path.exists("/run/netns/nprobe"):
    for argv in (["ip", "netns", "add", "nprobe"], ["ip", "link", "add", "vethnp0", "type", "veth", "peer", "name", "vethnp1"],
                 ["ip", "link", "set", "vethnp1", "netns", "nprobe"], ["ip", "addr", "add", "192.168.77.1/24", "dev", "vethnp0"],
                 ["ip", "link", "set", "vethnp0", "up"],
                 ["ip", "-n", "nprobe", "addr", "add", "192.168.77.2/24", "dev", "vethnp1"],
                 ["ip", "-n", "nprobe", "link", "set", "vethnp1", "up"], ["ip", "-n", "nprobe", "link", "set", "lo", "up"]):
        subprocess.run(argv, check=True)

probes = []
for attempt in range(3):
    probes.append(run(["ip", "netns", "exec", "nprobe", "timeout", "5", "bash", "-c", GET]))
    if "nodeprep-guard-ok" in probes[-1]["out"]:
        break
    time.sleep(2)

docker_journal = run(["journalctl", "-b", "-u", "docker.service", "-o", "cat", "--no-pager"])["out"]
evidence = {
    "phase": PHASE,
    "boot_id": open("/proc/sys/kernel/random/boot_id").read().strip(),
    "probes": probes,
    "answered": "nodeprep-guard-ok" in probes[-1]["out"],
    "guard_journal": run(["journalctl", "-b", "-o", "cat", "-t", "nodeprep-docker-rules-guard", "--no-pager"])["out"],
    "fault_journal": run(["journalctl", "-b", "-o", "cat", "-t", "nodeprep-test-break-docker-rules", "--no-pager"])["out"],
    "docker_starts": sum(1 for line in docker_journal.splitlines() if line.startswith("Started docker.service")),
    "guard_unit": run(["systemctl", "show", "-p", "Result,ExecMainStatus,ActiveState", "nodeprep-docker-rules-guard.service"])["out"],
    "nat_docker": run(["iptables", "-t", "nat", "-S", "DOCKER"])["out"],
    "guard_state": run(["cat", "/var/lib/nodeprep-docker-rules-guard/last-restart.json"])["out"],
}
with open("/var/lib/nodeprep-test/evidence-%s.json" % PHASE, "w") as handle:
    json.dump(evidence, handle, indent=1, sort_keys=True)
print(json.dumps({"phase": PHASE, "answered": evidence["answered"], "docker_starts": evidence["docker_starts"]}))
