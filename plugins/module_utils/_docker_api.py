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
"""

from __future__ import annotations

import json
import os
import socket
import time

ENGINE_PATHS = {
    "info": "/info",
    "networks": "/networks",
    "containers": "/containers/json",
}


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


def _dechunk(body):
    out = b""
    while body:
        size_line, _sep, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2:]
    return out


def http_get(socket_path, path, timeout=3.0, connect=_unix_connect):
    """GET ``path`` over the unix socket; returns the decoded JSON body."""
    try:
        sock = connect(socket_path, timeout)
    except (OSError, socket.timeout) as exc:
        raise EngineError("cannot connect to %s: %s" % (socket_path, getattr(exc, "strerror", None) or exc))
    try:
        request = "GET %s HTTP/1.0\r\nHost: docker\r\nUser-Agent: nodeprep.netfilter\r\nAccept: application/json\r\n\r\n" % path
        sock.sendall(request.encode("ascii"))
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    except (OSError, socket.timeout) as exc:
        raise EngineError("error talking to %s: %s" % (socket_path, getattr(exc, "strerror", None) or exc))
    finally:
        sock.close()
    raw = b"".join(chunks)
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
        body = _dechunk(body)
    if status != 200:
        message = body.decode("utf-8", "replace").strip()
        try:
            message = json.loads(message).get("message", message)
        except (ValueError, AttributeError):
            pass
        raise EngineError("GET %s answered %d: %s" % (path, status, message[:200]))
    try:
        return json.loads(body.decode("utf-8"))
    except ValueError as exc:
        raise EngineError("GET %s returned invalid JSON: %s" % (path, exc))


def query_engine(socket_path, timeout=3.0, connect=_unix_connect, paths=None):
    """Ask the engine for info, networks and running containers.

    Never raises: ``{"socket", "socket_present", "reachable", "error", "info",
    "networks", "containers", "seconds"}``. ``reachable`` is True when /info
    answered; the other two may still carry None if their request failed.
    """
    started = time.time()
    result = {"socket": socket_path, "socket_present": os.path.exists(socket_path), "reachable": False,
              "error": None, "info": None, "networks": None, "containers": None, "seconds": 0.0}
    if not result["socket_present"] and connect is _unix_connect:
        result["error"] = "no socket at %s" % socket_path
        return result
    errors = []
    for key, path in (paths or ENGINE_PATHS).items():
        try:
            result[key] = http_get(socket_path, path, timeout, connect)
        except EngineError as exc:
            errors.append(str(exc))
            if key == "info":
                break  # engine unreachable: do not try the rest
    result["reachable"] = result["info"] is not None
    result["error"] = "; ".join(errors) or None
    result["seconds"] = round(time.time() - started, 4)
    return result
