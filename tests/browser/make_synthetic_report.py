# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write the report of a synthetic fleet (1,000 hosts by default) for the browser test's speed measurement.

No playbook runs: the registered results are made here and go through the real ``build_report`` and renderers,
so the page is exactly what the audit would write for such a fleet. Each host gets br_netfilter facts gathered
from one of the real-host fixture trees (tests/unit/fixtures/br_netfilter) and a docker_iptables_audit-shaped
result with a varying set of Docker and iptables findings whose messages name the host. Some hosts are
unreachable, failed or not run; a few carry hostile names and messages (markup, table pipes, escape sequences).

Writes report.json, report.md, report.html and fleet.json (what was generated) into --out.
"""

import argparse
import copy
import json
import os
import random
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "unit"))
sys.path.insert(0, os.environ.get("ANSIBLE_COLLECTIONS_PATH", os.path.join(ROOT, "build", "collections")).split(":")[0])

from conftest import materialize  # noqa: E402  (the unit tests' fixture-tree builder)
from ansible_collections.nodeprep.netfilter.plugins.module_utils._br_netfilter import (  # noqa: E402
    gather_br_netfilter_facts,
)
from ansible_collections.nodeprep.netfilter.plugins.plugin_utils._report import build_report  # noqa: E402
from ansible_collections.nodeprep.netfilter.plugins.plugin_utils._report_render import (  # noqa: E402
    render_html,
    render_json,
    render_markdown,
)

TREES = (
    "derived-trixie-6.12-persisted-k8s",
    "trixie-6.12-state-b-bridge-only",
    "derived-trixie-6.12-false-positive",
    "derived-trixie-6.12-blocked-install-false",
)

# Findings shaped like docker_iptables_audit's; each host draws a few. {host} and {n} make the messages differ.
DOCKER_FINDINGS = (
    ("DOCKER_ICC_WITHOUT_BR_NETFILTER", "high", "icc=false on {host} needs br_netfilter (daemon.json line {n})",
     "Load br_netfilter and persist it.", ["https://github.com/moby/moby/pull/49306"]),
    ("DEBIAN_IPTABLES_1_8_11_1", "medium", "iptables 1.8.11-1 on {host} mangles rules with --set-xmark",
     "Upgrade iptables to 1.8.11-2 or later.", ["https://github.com/moby/moby/issues/49667"]),
    ("IPTABLES_BACKENDS_SPLIT", "medium", "{n} rules in iptables-legacy and Docker's chains in iptables-nft",
     "Flush the legacy tables or switch Docker to the same backend.", ["https://github.com/moby/moby/issues/48948"]),
    ("DOCKER_CHAIN_MISSING", "high", "chain DOCKER-USER missing from filter on {host}",
     "Restart dockerd so it recreates its chains.", ["https://docs.docker.com/engine/network/packet-filtering-firewalls/"]),
    ("DOCKER_USERLAND_PROXY", "low", "userland-proxy is on ({n} published ports go through docker-proxy)",
     "Set \"userland-proxy\": false in daemon.json if hairpin NAT works here.", []),
    ("DOCKER_NOT_INSTALLED", "info", "No Docker engine or package on {host}.",
     "Nothing to do unless this host should run Docker.", []),
)

HOSTILE = {
    "evil|host`<img src=x onerror=window.__pwned=1>`\n# heading": "<script>window.__pwned=1</script> | x",
    "esc\x1b[2Jhost": "boom\r\x1b]0;pwned\x07 **bold** [link](javascript:window.__pwned=1)",
}


def _audit_result(facts, host, rng):
    findings = []
    for code, severity, message, remediation, reference in rng.sample(DOCKER_FINDINGS, rng.randint(0, 4)):
        findings.append({"code": code, "severity": severity, "evidence": {"n": rng.randint(1, 40)},
                         "message": message.format(host=host, n=rng.randint(1, 40)),
                         "remediation": remediation, "reference": reference})
    return {
        "changed": False,
        "br_netfilter": facts,
        "findings": findings,
        "summary": {
            "docker_present": True, "docker_version": rng.choice(["26.1.5", "27.3.1", "27.5.1", "28.5.2"]),
            "docker_version_source": "engine", "docker_package": "docker.io",
            "docker_package_version": "28.5.2+dfsg4-5", "engine_running": True, "rootless_users": [],
            "settings": {"icc": rng.choice([True, False])}, "ignore_br_netfilter_error": False,
            "iptables_binary": "/usr/sbin/iptables", "iptables_version": "1.8.11",
            "iptables_backend": rng.choice(["nf_tables", "legacy"]),
            "iptables_package_version": rng.choice(["1.8.11-1", "1.8.11-2"]), "backends_read": ["nf_tables"],
            "rule_checks": "done",
        },
    }


def synthetic_results(count, seed=1):
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="nodeprep-synthetic-") as trees:
        facts = [gather_br_netfilter_facts(materialize(name, trees)) for name in TREES]
    results = {}
    for index in range(count):
        host = "node-%04d.%s.example" % (index, rng.choice(["fra1", "ams3", "nyc2", "sgp1"]))
        roll = rng.random()
        if roll < 0.03:
            results[host] = {"unreachable": True, "changed": False,
                             "msg": "Failed to connect to the host via ssh: connect to host %s port 22: "
                                    "Connection timed out" % host}
        elif roll < 0.05:
            results[host] = {"failed": True, "changed": False, "msg": "The module interpreter '/usr/bin/python3' "
                                                                      "was not found."}
        elif roll < 0.06:
            results[host] = None
        else:
            results[host] = _audit_result(copy.deepcopy(rng.choice(facts)), host, rng)
    for host, message in HOSTILE.items():
        result = _audit_result(copy.deepcopy(facts[0]), host, rng)
        result["findings"].append({"code": "HOSTILE_TEXT", "severity": "high", "message": message,
                                   "remediation": "<b>none</b> | `x`", "reference": ["javascript:window.__pwned=1"],
                                   "evidence": {}})
        results[host] = result
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "tests", "output", "browser", "synthetic"))
    parser.add_argument("--hosts", type=int, default=1000, help="synthetic hosts, besides the hostile ones")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    results = synthetic_results(args.hosts)
    started = time.monotonic()
    report = build_report(results, fail_on="high", generated_at="2025-01-02T03:04:05Z",
                          title="nodeprep.netfilter fleet audit (%d synthetic hosts)" % len(results))
    built = time.monotonic()
    sizes = {}
    for name, render in (("report.json", render_json), ("report.md", render_markdown), ("report.html", render_html)):
        text = render(report)
        with open(os.path.join(args.out, name), "w") as handle:
            handle.write(text)
        sizes[name] = len(text.encode("utf-8"))
    rendered = time.monotonic()
    with open(os.path.join(args.out, "fleet.json"), "w") as handle:
        json.dump({"hosts": len(results), "hostile_hosts": sorted(HOSTILE), "bytes": sizes}, handle, indent=2)
    print("synthetic report: %d hosts in %s; build %.2f s, render %.2f s; %s" % (
        len(results), args.out, built - started, rendered - built,
        ", ".join("%s %d KiB" % (name, size // 1024) for name, size in sizes.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
