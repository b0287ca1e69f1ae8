# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Run a command with an overall deadline and capped output. No Ansible import.

``AnsibleModule.run_command`` has no timeout: a stuck ``iptables-nft-save`` (a
wedged netlink socket, a held xtables lock) or ``apt-cache`` holds the task as
long as it likes, and output is collected without a limit. ``run_bounded`` has
the same ``(rc, stdout, stderr)`` shape as the runners the collection injects,
kills the command's whole process group at the deadline or when the output
passes the cap, and says so in stderr with a distinct return code.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time

DEFAULT_TIMEOUT = 30.0
MAX_OUTPUT_BYTES = 16 * 1024 * 1024
#: Return codes of a command this module killed, as timeout(1) uses 124.
RC_TIMEOUT = 124
RC_TOO_MUCH_OUTPUT = 125
RC_NOT_FOUND = 127


def _kill_group(process):
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except OSError:
        pass  # already gone
    process.wait()


def run_bounded(argv, timeout=DEFAULT_TIMEOUT, max_output=MAX_OUTPUT_BYTES, environ_update=None,
                clock=time.monotonic):
    """``(rc, stdout, stderr)`` of ``argv`` (a list, never a shell), within ``timeout`` seconds overall.

    On the deadline the command (and anything it started) is killed: rc is RC_TIMEOUT and stderr says so.
    Output past ``max_output`` bytes (stdout and stderr together) also kills it: RC_TOO_MUCH_OUTPUT.
    A command that cannot be started gives RC_NOT_FOUND and the reason. Output is decoded as UTF-8 with
    replacement characters, so odd bytes from a tool never raise.
    """
    argv = [str(arg) for arg in argv]
    env = dict(os.environ)
    env.update(environ_update or {})
    deadline = clock() + timeout
    try:
        # Not run_command: it has no overall deadline, no output cap and cannot kill a process group (see above).
        process = subprocess.Popen(  # pylint: disable=ansible-bad-function
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=env, close_fds=True, start_new_session=True)
    except (OSError, ValueError) as exc:
        name = argv[0] if argv else "(empty command)"
        return RC_NOT_FOUND, "", "cannot run %s: %s" % (name, getattr(exc, "strerror", None) or exc)
    outputs = {process.stdout: [], process.stderr: []}
    total = 0
    problem = None
    with selectors.DefaultSelector() as selector:
        for stream in outputs:
            selector.register(stream, selectors.EVENT_READ)
        while selector.get_map() and problem is None:
            remaining = deadline - clock()
            if remaining <= 0:
                problem = (RC_TIMEOUT, "%s did not finish within %g s and was killed" % (argv[0], timeout))
                break
            for key, _events in selector.select(remaining):
                data = os.read(key.fileobj.fileno(), 65536)
                if not data:
                    selector.unregister(key.fileobj)
                    continue
                total += len(data)
                if total > max_output:
                    problem = (RC_TOO_MUCH_OUTPUT, "%s wrote more than %d bytes and was killed" % (argv[0], max_output))
                    break
                outputs[key.fileobj].append(data)
    if problem is None:
        try:
            rc = process.wait(max(deadline - clock(), 0.001))
        except subprocess.TimeoutExpired:
            problem = (RC_TIMEOUT, "%s did not exit within %g s and was killed" % (argv[0], timeout))
    if problem is not None:
        _kill_group(process)
        rc = problem[0]
    process.stdout.close()
    process.stderr.close()
    out = b"".join(outputs[process.stdout]).decode("utf-8", "replace")
    err = b"".join(outputs[process.stderr]).decode("utf-8", "replace")
    if problem is not None:
        err = (err.rstrip("\n") + "\n" if err.strip() else "") + problem[1]
    return rc, out, err
