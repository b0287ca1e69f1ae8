# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The Engine API client against a real HTTP server on a real unix socket."""

from __future__ import annotations

import os
import socket
import socketserver
import threading
import time

import pytest

from ansible_collections.nodeprep.netfilter.plugins.module_utils._docker_api import (
    EngineError,
    http_get,
    query_engine,
)

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "docker")


class _Handler(socketserver.StreamRequestHandler):
    def handle(self):
        request_line = self.rfile.readline().decode("ascii").strip()
        while self.rfile.readline().strip():
            pass
        path = request_line.split(" ")[1]
        self.server.requests.append(request_line)
        self.server.skew += self.server.skews.get(path, 0.0)  # a fake clock jumps as this request is served
        status, headers, body = self.server.routes.get(path, (404, {}, b'{"message":"page not found"}'))
        head = "HTTP/1.0 %d X\r\n" % status + "".join("%s: %s\r\n" % item for item in headers.items())
        self.wfile.write(head.encode("ascii") + b"\r\n" + body)


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def engine(tmp_path):
    path = str(tmp_path / "docker.sock")
    server = _Server(path, _Handler)
    server.requests = []
    server.skew = 0.0
    server.skews = {}
    with open(os.path.join(FIXTURES, "docker-28.5.2-trixie.info.json"), "rb") as handle:
        info = handle.read()
    server.routes = {
        "/info": (200, {"Content-Type": "application/json"}, info),
        "/networks": (200, {"Content-Type": "application/json"},
                      b'[{"Name":"bridge","Driver":"bridge","IPAM":{"Config":[{"Subnet":"172.17.0.0/16"}]}}]'),
        "/containers/json": (200, {"Transfer-Encoding": "chunked"}, b"2\r\n[]\r\n0\r\n\r\n"),
    }
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    yield server, path
    server.shutdown()
    server.server_close()


def test_query_engine_reads_info_networks_and_containers(engine):
    server, path = engine
    result = query_engine(path)
    assert result["reachable"] is True
    assert result["error"] is None
    assert result["info"]["ServerVersion"] == "28.5.2+dfsg4"
    assert result["networks"][0]["Name"] == "bridge"
    assert result["containers"] == []  # the chunked body was decoded
    assert server.requests == ["GET /info HTTP/1.0", "GET /networks HTTP/1.0", "GET /containers/json HTTP/1.0"]


def test_error_status_carries_the_daemon_message(engine):
    server, path = engine
    server.routes["/info"] = (500, {}, b'{"message":"daemon is shutting down"}')
    result = query_engine(path)
    assert result["reachable"] is False
    assert result["error"] == "GET /info answered 500: daemon is shutting down"
    assert server.requests == ["GET /info HTTP/1.0"]  # no further requests once /info failed


def test_failed_secondary_request_keeps_the_engine_reachable(engine):
    server, path = engine
    del server.routes["/networks"]
    result = query_engine(path)
    assert result["reachable"] is True
    assert result["networks"] is None
    assert "GET /networks answered 404: page not found" in result["error"]


def test_invalid_json_is_an_error(engine):
    server, path = engine
    server.routes["/info"] = (200, {}, b"<html>")
    with pytest.raises(EngineError, match="invalid JSON"):
        http_get(path, "/info")


def test_missing_socket_is_reported_without_connecting(tmp_path):
    result = query_engine(str(tmp_path / "nothing.sock"))
    assert result["reachable"] is False
    assert result["socket_present"] is False
    assert result["error"] == "no socket at %s" % (tmp_path / "nothing.sock")


def test_socket_file_without_a_listener_is_connection_refused(tmp_path):
    path = str(tmp_path / "stale.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.close()  # leaves the socket file behind, like a crashed dockerd
    result = query_engine(path)
    assert result["reachable"] is False
    assert result["socket_present"] is True
    assert "cannot connect to %s: Connection refused" % path in result["error"]


def test_garbage_instead_of_http_is_an_error(tmp_path):
    path = str(tmp_path / "garbage.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)

    def serve():
        conn, _addr = listener.accept()
        conn.recv(4096)
        conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        conn.close()

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with pytest.raises(EngineError, match="malformed HTTP status line"):
            http_get(path, "/info", timeout=2.0)
    finally:
        thread.join(2)
        listener.close()


# --- hostile replies: every one is an EngineError naming the request, never a traceback or a hang -------------

@pytest.mark.parametrize("body, problem", [
    (b"zz\r\n[]\r\n0\r\n\r\n", "bad chunk size"),
    (b"0x2\r\n[]\r\n0\r\n\r\n", "bad chunk size"),
    (b"-2\r\n[]\r\n0\r\n\r\n", "bad chunk size"),
    (b"\r\n[]\r\n0\r\n\r\n", "bad chunk size"),
    (b"ffffffffffffffffff\r\n[]\r\n0\r\n\r\n", "bad chunk size"),
    (b"5\r\n[]", "truncated"),
    (b"2\r\n[]XX0\r\n\r\n", "not followed by CRLF"),
    (b"2\r\n[]\r\n", "not terminated"),
    (b"2", "not terminated"),
])
def test_malformed_chunked_reply_is_an_error_naming_the_request(engine, body, problem):
    server, path = engine
    server.routes["/containers/json"] = (200, {"Transfer-Encoding": "chunked"}, body)
    with pytest.raises(EngineError) as exc:
        http_get(path, "/containers/json")
    assert "malformed chunked reply to GET /containers/json" in str(exc.value)
    assert problem in str(exc.value)
    result = query_engine(path)
    assert result["reachable"] is True  # /info answered; only the containers request failed
    assert result["containers"] is None
    assert problem in result["error"]


def test_chunk_extensions_and_several_chunks_decode(engine):
    server, path = engine
    server.routes["/containers/json"] = (200, {"Transfer-Encoding": "chunked"}, b"1;ext=1\r\n[\r\n1\r\n]\r\n0\r\n\r\n")
    assert http_get(path, "/containers/json") == []


def test_oversized_reply_is_refused(engine):
    server, path = engine
    server.routes["/networks"] = (200, {}, b"[" + b"0," * 40000 + b"0]")
    with pytest.raises(EngineError, match="GET /networks from .*: reply larger than 65536 bytes"):
        http_get(path, "/networks", max_bytes=65536)


def test_deeply_nested_json_is_an_error(engine):
    server, path = engine
    server.routes["/networks"] = (200, {}, b"[" * 200000 + b"]" * 200000)
    with pytest.raises(EngineError, match="GET /networks returned invalid JSON"):
        http_get(path, "/networks")


def _trickle_server(path, seconds):
    """A daemon that sends a valid status line, then one byte every 50 ms for ``seconds`` (bounded)."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(4)
    listener.settimeout(seconds)

    def serve():
        try:
            while True:
                conn, _addr = listener.accept()
                conn.recv(4096)
                try:
                    conn.sendall(b"HTTP/1.0 200 OK\r\n")
                    for _i in range(int(seconds / 0.05)):
                        conn.sendall(b"X")
                        time.sleep(0.05)
                except OSError:
                    pass  # the client gave up: what the test wants
                finally:
                    conn.close()
        except OSError:
            pass  # accept timed out or the listener was closed

    thread = threading.Thread(target=serve)
    thread.daemon = True
    thread.start()
    return listener, thread


def test_a_trickling_daemon_is_cut_off_at_the_overall_deadline(tmp_path):
    # Each recv gets a byte within 50 ms, so a per-recv timeout would wait the full 10 s.
    path = str(tmp_path / "trickle.sock")
    listener, thread = _trickle_server(path, 10)
    try:
        started = time.monotonic()
        with pytest.raises(EngineError, match=r"GET /info from .*: no complete reply within 0\.5 s"):
            http_get(path, "/info", timeout=0.5)
        assert time.monotonic() - started < 1.5
        started = time.monotonic()
        result = query_engine(path, timeout=0.8)
        assert time.monotonic() - started < 1.8
        assert result["reachable"] is False
        assert "no complete reply" in result["error"]
    finally:
        listener.close()
        thread.join(3)


def test_query_engine_stops_sending_when_its_deadline_is_used_up(engine):
    server, path = engine
    server.skews["/networks"] = 9.0  # serving /networks appears to take 9 s
    result = query_engine(path, timeout=5.0, clock=lambda: time.monotonic() + server.skew)
    assert result["reachable"] is True
    assert "GET /containers/json not sent: the engine's 5.0 s deadline was used up" in result["error"]
    assert server.requests == ["GET /info HTTP/1.0", "GET /networks HTTP/1.0"]
