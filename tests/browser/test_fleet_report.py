# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""End to end: the real audit playbook on a mixed fleet (see make_fleet_report.py) and the files it writes.

Uses the report in $NODEPREP_FLEET_REPORT_DIR when tests/browser/run made one, otherwise makes its own.
"""

import json
import os
import re
import subprocess
import sys

import jsonschema
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MAKE = os.path.join(HERE, "make_fleet_report.py")


def _make(out, *extra):
    subprocess.run([sys.executable, MAKE, "--out", str(out)] + list(extra), check=True, stdout=subprocess.DEVNULL)
    return str(out)


@pytest.fixture(scope="module")
def fleet_dir(tmp_path_factory):
    given = os.environ.get("NODEPREP_FLEET_REPORT_DIR")
    if given and os.path.exists(os.path.join(given, "report.json")):
        return given
    return _make(tmp_path_factory.mktemp("fleet"))


@pytest.fixture(scope="module")
def report(fleet_dir):
    with open(os.path.join(fleet_dir, "report.json")) as handle:
        return json.load(handle)


def _read(fleet_dir, name):
    with open(os.path.join(fleet_dir, name)) as handle:
        return handle.read()


def _host(report, name):
    return next(record for record in report["hosts"] if record["host"] == name)


def _codes(report, name):
    return [finding["code"] for finding in _host(report, name)["findings"]]


def test_playbook_exits_2_when_hosts_reach_fail_on_high(fleet_dir, report):
    assert _read(fleet_dir, "playbook.rc").strip() == "2"
    assert report["verdict"] == "fail"
    assert sorted(report["failing_hosts"]) == sorted(
        ["fixture-bridge-only", "fixture-false-positive", "fixture-blocked", "this-machine", "down", "no-python"])


def test_report_json_follows_the_documented_schema(report):
    with open(os.path.join(ROOT, "docs", "audit-report.schema.json")) as handle:
        schema = json.load(handle)
    jsonschema.validate(report, schema, cls=jsonschema.Draft202012Validator)
    assert report["summary"]["hosts"] == 7
    assert report["summary"]["status"] == {"ok": 5, "failed": 1, "unreachable": 1, "not_run": 0}


def test_each_host_names_its_real_problem(report):
    healthy = _host(report, "fixture-healthy")
    assert healthy["br_netfilter"]["state"] == "loaded" and healthy["br_netfilter"]["ready"] is True
    assert healthy["worst_severity"] == "info"  # only DOCKER_NOT_INSTALLED
    assert _codes(report, "fixture-bridge-only")[0] == "BR_NETFILTER_NOT_LOADED"
    assert "BRIDGE_DIR_FALSE_POSITIVE" not in _codes(report, "fixture-bridge-only")
    assert "BRIDGE_DIR_FALSE_POSITIVE" in _codes(report, "fixture-false-positive")
    assert _host(report, "fixture-false-positive")["br_netfilter"]["false_positive_bridge_dir"] is True
    blocked = _host(report, "fixture-blocked")
    assert blocked["worst_finding"] == "BR_NETFILTER_BLOCKED"
    assert "/etc/modprobe.d/" in blocked["findings"][0]["message"]
    # The development machine's own state (builtin here: CONFIG_BRIDGE_NETFILTER=y) is whatever this kernel has.
    assert _host(report, "this-machine")["br_netfilter"]["state"] in ("loaded", "builtin", "loadable", "blocked",
                                                                      "unavailable")
    assert _host(report, "down")["status"] == "unreachable"
    assert "port 9" in _host(report, "down")["error"]
    assert _host(report, "no-python")["status"] == "failed"
    assert "/nonexistent/bin/python3" in _host(report, "no-python")["error"]


def test_healthy_host_shows_where_each_sysctl_is_persisted(report):
    rows = dict((row["key"], row) for row in _host(report, "fixture-healthy")["br_netfilter"]["sysctls"])
    assert rows["net.bridge.bridge-nf-call-iptables"]["persisted_file"] == "/etc/sysctl.d/k8s.conf"
    assert (rows["net.ipv4.ip_forward"]["live"], rows["net.ipv4.ip_forward"]["after_reboot"]) == (1, 1)


def test_terminal_table_lists_every_host_and_the_verdict(fleet_dir, report):
    log = _read(fleet_dir, "playbook.log")
    for record in report["hosts"]:
        assert re.search(r"^%s\s+%s\s" % (re.escape(record["host"]), record["status"]), log, re.M), record["host"]
    assert "7 hosts, 1 ready, 6 not ready, 1 unreachable, 1 failed. FAIL (fail_on=high)" in log
    assert "FALSE POSITIVE: /proc/sys/net/bridge exists without bridge-nf-call-iptables" in log


def test_markdown_report_has_a_section_per_host(fleet_dir, report):
    text = _read(fleet_dir, "report.md")
    for record in report["hosts"]:
        assert "\n### %s\n" % record["host"] in text


def test_fail_on_none_exits_0_and_still_writes_the_reports(tmp_path):
    out = _make(tmp_path / "none", "--fail-on", "none")
    assert _read(out, "playbook.rc").strip() == "0"
    with open(os.path.join(out, "report.json")) as handle:
        lenient = json.load(handle)
    assert (lenient["verdict"], lenient["fail_on"]) == ("pass", "none")
    assert _host(lenient, "down")["status"] == "unreachable"


def test_check_mode_prints_the_verdict_but_writes_no_file(tmp_path):
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"all": {"hosts": {"this-machine": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    dest = tmp_path / "reports"
    env = dict(os.environ, ANSIBLE_NOCOWS="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_COLLECTIONS_PATH=os.environ.get("ANSIBLE_COLLECTIONS_PATH",
                                                       os.path.join(ROOT, "build", "collections")))
    completed = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "--check", "-i", str(inventory),
         "nodeprep.netfilter.audit", "-e", json.dumps({"audit_fail_on": "none", "audit_report_dir": str(dest),
                                                       "audit_become": False})],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    assert completed.returncode == 0, completed.stdout[-3000:]
    assert re.search(r"^this-machine\s+ok\s+(loaded|builtin|loadable|blocked|unavailable)\b", completed.stdout, re.M)
    assert not dest.exists()
