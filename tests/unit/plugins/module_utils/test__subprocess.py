# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Commands with an overall deadline and capped output, on real processes."""

from __future__ import annotations

import os
import sys
import time

from ansible_collections.nodeprep.netfilter.plugins.module_utils._docker_collect import collect
from ansible_collections.nodeprep.netfilter.plugins.module_utils._subprocess import (
    RC_NOT_FOUND,
    RC_TIMEOUT,
    RC_TOO_MUCH_OUTPUT,
    run_bounded,
)


def test_output_and_return_code_come_back():
    assert run_bounded([sys.executable, "-c", "import sys; print('out'); sys.stderr.write('err'); sys.exit(3)"]) \
        == (3, "out\n", "err")


def test_environment_is_updated():
    rc, out, _err = run_bounded([sys.executable, "-c", "import os; print(os.environ['LC_ALL'])"],
                                environ_update={"LC_ALL": "C"})
    assert (rc, out) == (0, "C\n")


def test_a_stuck_command_and_its_children_are_killed_at_the_deadline(tmp_path):
    marker = tmp_path / "child.pid"
    script = ("import subprocess, sys, time; child = subprocess.Popen([sys.executable, '-c', 'import time; "
              "time.sleep(60)']); open(%r, 'w').write(str(child.pid)); print('started', flush=True); time.sleep(60)"
              % str(marker))
    started = time.monotonic()
    rc, out, err = run_bounded([sys.executable, "-c", script], timeout=2)
    assert time.monotonic() - started < 10
    assert rc == RC_TIMEOUT
    assert out == "started\n"
    assert err.endswith("did not finish within 2 s and was killed")
    child = int(marker.read_text())
    for _i in range(50):  # the grandchild, in the same process group, is gone too
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("grandchild %d survived" % child)


def test_endless_output_is_cut_off():
    rc, out, err = run_bounded([sys.executable, "-c", "import sys\nwhile True: sys.stdout.write('x' * 4096)"],
                               max_output=100000, timeout=20)
    assert rc == RC_TOO_MUCH_OUTPUT
    assert len(out) <= 100000
    assert err.endswith("wrote more than 100000 bytes and was killed")


def test_a_missing_binary_is_rc_127_not_an_exception(tmp_path):
    rc, out, err = run_bounded([str(tmp_path / "iptables-nft-save")])
    assert (rc, out) == (RC_NOT_FOUND, "")
    assert err == "cannot run %s: No such file or directory" % (tmp_path / "iptables-nft-save")


def test_undecodable_output_does_not_raise():
    rc, out, _err = run_bounded([sys.executable, "-c", "import sys; sys.stdout.buffer.write(b'\\xff\\xfeok')"])
    assert rc == 0 and out.endswith("ok")


def test_collect_runs_commands_with_a_deadline_by_default(tmp_path):
    # A fake iptables-nft-save that hangs: the audit's collection must go on without it.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in (("iptables", "print('iptables v1.8.11 (nf_tables)')"),
                       ("iptables-nft-save", "import time; time.sleep(60)")):
        path = bin_dir / name
        path.write_text("#!%s\n%s\n" % (sys.executable, body))
        path.chmod(0o755)
    (tmp_path / "names").write_text("")
    import ansible_collections.nodeprep.netfilter.plugins.module_utils._docker_collect as docker_collect
    started = time.monotonic()
    collected = collect(root=str(tmp_path), which=lambda name: str(bin_dir / name) if (bin_dir / name).exists() else None,
                        query_engine=lambda socket: {"socket": socket, "socket_present": False, "reachable": False,
                                                     "error": "none", "info": None, "networks": None,
                                                     "containers": None},
                        names_path=str(tmp_path / "names"), route_path=str(tmp_path / "names"),
                        run=docker_collect.bounded_runner(timeout=1))
    assert time.monotonic() - started < 10
    save = collected["iptables"]["saves"]["nf_tables"]
    assert save["error"].startswith("iptables-nft-save exited 124: ")
    assert "did not finish within 1 s and was killed" in save["error"]
    assert collected["iptables"]["version_output"] == "iptables v1.8.11 (nf_tables)"
