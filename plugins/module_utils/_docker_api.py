# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A minimal read-only Docker Engine API client over the unix socket. No Ansible import.

Asking dockerd through its socket costs one connect and a few milliseconds per
request; ``docker info`` / ``docker version`` would each start the Go CLI
(tens of milliseconds and tens of MB of page cache). Only GET requests are
sent, as HTTP/1.0 so the daemon answers without chunked encoding and closes
the connection.

The daemon's reply is input like any other: a request has an overall deadline
(not a per-read timeout), the reply is capped in size, and a malformed status
line, chunk or JSON body is an ``EngineError`` naming the request.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time

ENGINE_PATHS = {
    "info": "/info",
    "networks": "/networks",
    "containers": "/containers/json",
}
#: Overall deadline of one request (connect, send, every byte of the reply), in seconds. A daemon that trickles
#: its reply one byte at a time would otherwise hold the module as long as it likes: a per-recv timeout never fires.
#: 10 s, not less: a busy dockerd (hundreds of containers, a loaded or throttled host) can take seconds to list them,
#: and an audit that gives up on a live engine reports less than it could.
REQUEST_DEADLINE = 10.0
#: Overall deadline of ``query_engine`` (all its requests together), in seconds.
QUERY_DEADLINE = 20.0
#: Largest reply accepted, headers included. /containers/json for 1,000 containers is about 2 MB.
MAX_REPLY_BYTES = 16 * 1024 * 1024
_CHUNK_SIZE = re.compile(rb"\A[0-9a-fA-F]{1,16}\Z")


class EngineError(Exception):
    """The engine could not be asked or answered with an error."""


def _unix_connect(path, timeout):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
    except Exception:
        sock.close()
        raise
    return sock


def _dechunk(body, where="reply"):
    """Decode a chunked body; raises EngineError on any malformed or truncated chunk."""
    out = []
    position = 0
    while True:
        line_end = body.find(b"\r\n", position)
        if line_end < 0:
            raise EngineError("malformed chunked %s: chunk size line not terminated" % where)
        size_text = body[position:line_end].split(b";")[0].strip()
        # int(x, 16) also takes "0x", "+" and "_"; HTTP allows hex digits only.
        if not _CHUNK_SIZE.match(size_text):
            raise EngineError("malformed chunked %s: bad chunk size %r" % (where, size_text[:20]))
        size = int(size_text, 16)
        if size == 0:
            return b"".join(out)
        start = line_end + 2
        if start + size + 2 > len(body):
            raise EngineError("malformed chunked %s: chunk of %d bytes truncated" % (where, size))
        if body[start + size:start + size + 2] != b"\r\n":
            raise EngineError("malformed chunked %s: chunk of %d bytes not followed by CRLF" % (where, size))
        out.append(body[start:start + size])
        position = start + size + 2


def _receive(sock, deadline, max_bytes, clock):
    """Read until EOF, within ``deadline`` (a ``clock()`` value) and ``max_bytes``; raises EngineError."""
    chunks = []
    total = 0
    while True:
        remaining = deadline - clock()
        if remaining <= 0:
            raise socket.timeout("no complete reply within the deadline")
        sock.settimeout(remaining)
        data = sock.recv(65536)
        if not data:
            return b"".join(chunks)
        total += len(data)
        if total > max_bytes:
            raise EngineError("reply larger than %d bytes" % max_bytes)
        chunks.append(data)


def http_get(socket_path, path, timeout=REQUEST_DEADLINE, connect=_unix_connect, max_bytes=MAX_REPLY_BYTES,
             clock=time.monotonic):
    """GET ``path`` over the unix socket; returns the decoded JSON body.

    ``timeout`` is the overall deadline of the request in seconds (connect, send and the whole reply), not a
    per-read timeout. Every failure, including a malformed or oversized reply, is an EngineError.
    """
    deadline = clock() + timeout
    try:
        sock = connect(socket_path, timeout)
    except (OSError, socket.timeout) as exc:
        raise EngineError("cannot connect to %s: %s" % (socket_path, getattr(exc, "strerror", None) or exc))
    try:
        request = "GET %s HTTP/1.0\r\nHost: docker\r\nUser-Agent: nodeprep.netfilter\r\nAccept: application/json\r\n\r\n" % path
        sock.settimeout(max(deadline - clock(), 0.001))
        sock.sendall(request.encode("ascii"))
        raw = _receive(sock, deadline, max_bytes, clock)
    except socket.timeout:
        raise EngineError("GET %s from %s: no complete reply within %.1f s" % (path, socket_path, timeout))
    except EngineError as exc:
        raise EngineError("GET %s from %s: %s" % (path, socket_path, exc))
    except OSError as exc:
        raise EngineError("error talking to %s: %s" % (socket_path, getattr(exc, "strerror", None) or exc))
    finally:
        sock.close()
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise EngineError("malformed HTTP response from %s%s" % (socket_path, path))
    lines = head.decode("iso-8859-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise EngineError("malformed HTTP status line %r from %s" % (lines[0][:80], socket_path))
    status = int(parts[1])
    headers = dict((k.strip().lower(), v.strip()) for k, _s, v in (line.partition(":") for line in lines[1:]))
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body, "reply to GET %s from %s" % (path, socket_path))
    if status != 200:
        message = body.decode("utf-8", "replace").strip()
        try:
            decoded = json.loads(message)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict) and isinstance(decoded.get("message"), str):
            message = decoded["message"]
        raise EngineError("GET %s answered %d: %s" % (path, status, message[:200]))
    try:
        return json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        # RecursionError: a reply nested thousands of levels deep; json gives up rather than the module.
        raise EngineError("GET %s returned invalid JSON: %s" % (path, str(exc)[:200]))


def query_engine(socket_path, timeout=QUERY_DEADLINE, connect=_unix_connect, paths=None, clock=time.monotonic,
                 request_deadline=REQUEST_DEADLINE):
    """Ask the engine for info, networks and running containers.

    ``timeout`` is the overall deadline of all requests together; each request also stops at
    ``request_deadline``. Never raises: ``{"socket", "socket_present", "reachable", "error", "info",
    "networks", "containers", "seconds"}``. ``reachable`` is True when /info answered; the other two may
    still carry None if their request failed.
    """
    started = clock()
    deadline = started + timeout
    result = {"socket": socket_path, "socket_present": os.path.exists(socket_path), "reachable": False,
              "error": None, "info": None, "networks": None, "containers": None, "seconds": 0.0}
    if not result["socket_present"] and connect is _unix_connect:
        result["error"] = "no socket at %s" % socket_path
        return result
    errors = []
    for key, path in (paths or ENGINE_PATHS).items():
        remaining = min(deadline - clock(), request_deadline)
        if remaining <= 0:
            errors.append("GET %s not sent: the engine's %.1f s deadline was used up" % (path, timeout))
            continue
        try:
            result[key] = http_get(socket_path, path, remaining, connect, clock=clock)
        except EngineError as exc:
            errors.append(str(exc))
            if key == "info":
                break  # engine unreachable: do not try the rest
    result["reachable"] = result["info"] is not None
    result["error"] = "; ".join(errors) or None
    result["seconds"] = round(clock() - started, 4)
    return result
