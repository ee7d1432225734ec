"""Finding 8 (low–medium): idle and half-sent connections were never closed (3,000 half-sent bodies
held 3,012 descriptors after 70 s). The server, run with ``guide-match serve``'s options, closes a
connection whose request head or body does not arrive within the read timeout, and idle
keep-alive connections after their timeout; it serves at most ``limit_concurrency`` at once."""
from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest
import uvicorn

from service.app import create_app
from service.server import uvicorn_options

from service_support import make_settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(matcher):
    settings = make_settings(read_timeout=1.0, keep_alive_timeout=1, limit_concurrency=20)
    port = free_port()
    config = uvicorn.Config(create_app(settings, matcher=matcher), host="127.0.0.1", port=port, log_level="warning",
                            access_log=False, **uvicorn_options(settings))
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield port
    srv.should_exit = True
    thread.join(30)


def _closed_within(sock: socket.socket, seconds: float) -> bytes:
    """What the server sent before closing; fails if it keeps the connection open longer."""
    sock.settimeout(seconds)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except socket.timeout:
        pytest.fail(f"the connection was still open after {seconds} s")
    return data


def test_a_half_sent_body_is_answered_408_and_closed(server):
    with socket.create_connection(("127.0.0.1", server)) as sock:
        sock.sendall(b"POST /v1/match HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n{\"text\": \"")
        data = _closed_within(sock, 10)
    assert data.startswith(b"HTTP/1.1 408") and b"request_timeout" in data


def test_a_half_sent_head_is_closed(server):
    with socket.create_connection(("127.0.0.1", server)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        for _ in range(3):  # a trickle of bytes does not keep it alive
            time.sleep(0.4)
            try:
                sock.sendall(b"a")
            except OSError:
                break
        assert _closed_within(sock, 10) == b""


def test_an_idle_connection_is_closed_and_one_kept_alive_too(server):
    with socket.create_connection(("127.0.0.1", server)) as sock:
        assert _closed_within(sock, 10) == b""
    with socket.create_connection(("127.0.0.1", server)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _closed_within(sock, 10).startswith(b"HTTP/1.1 200")


def test_the_server_still_answers_while_many_connections_hang(server):
    hanging = [socket.create_connection(("127.0.0.1", server)) for _ in range(15)]
    try:
        for sock in hanging:
            sock.sendall(b"POST /v1/match HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{")
        assert httpx.get(f"http://127.0.0.1:{server}/healthz", timeout=10).status_code == 200
        time.sleep(2)  # past the read timeout, every hanging connection has been closed by the server
        for sock in hanging:
            assert _closed_within(sock, 10).startswith(b"HTTP/1.1 408")
    finally:
        for sock in hanging:
            sock.close()
