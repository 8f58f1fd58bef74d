"""Limits a real ``centralhub serve`` enforces on the socket: body size before the body is read,
request heads that never finish, idle keep-alive connections."""

from __future__ import annotations

import socket
import time
from typing import Any

import httpx
import orjson

MIB = 1024 * 1024


def serve(factory: Any, **env: str) -> Any:
    """A started hub process (start-up is slow on a loaded machine, hence the long wait)."""
    hub = factory(start=False, **env)
    hub.start(timeout=90)
    return hub


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.settimeout(10)
    return sock


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], dict[str, Any]]:
    """Status, headers and JSON body of one response read from ``sock``."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    assert body.startswith(b"{"), (lines, body[:200])
    return int(lines[0].split()[1]), headers, orjson.loads(body) if body else {}


def closed_within(sock: socket.socket, seconds: float) -> float:
    """Seconds until the server closed ``sock`` (fails after ``seconds``)."""
    start = time.monotonic()
    sock.settimeout(seconds)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    return time.monotonic() - start


def test_bodies_over_the_limit_get_413_before_they_are_read(hub_process_factory: Any) -> None:
    hub = serve(hub_process_factory)
    head = "POST /api/v1/config/big HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"

    # a declared length over the limit: answered before a single body byte is sent
    with connect(hub.port) as sock:
        sock.sendall(f"{head}Content-Length: {2 * MIB}\r\n\r\n".encode())
        status, headers, body = read_response(sock)
        assert status == 413 and body["error"]["code"] == "payload_too_large"
        assert headers.get("connection") == "close"

    # a chunked body is counted as it streams: 413 once it passes 1 MiB, never the end of it
    with connect(hub.port) as sock:
        sock.sendall(f"{head}Transfer-Encoding: chunked\r\n\r\n".encode())
        chunk = b'{"a": "' + b"x" * 65529
        for _ in range(17):
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            chunk = b"x" * 65536
        status, _, body = read_response(sock)
        assert status == 413 and body["error"]["code"] == "payload_too_large"

    # the same request under the limit is served, chunked or not
    doc = {"a": "x" * (MIB // 2)}
    assert httpx.post(hub.url + "/api/v1/config/big", json=doc, timeout=10).status_code == 200

    def chunks() -> Any:
        raw = orjson.dumps(doc)
        for i in range(0, len(raw), 65536):
            yield raw[i : i + 65536]

    resp = httpx.post(
        hub.url + "/api/v1/config/big",
        content=chunks(),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    assert httpx.get(hub.url + "/api/v1/config/big", timeout=10).json()["config"] == doc


def test_slow_or_silent_request_heads_are_cut_off(hub_process_factory: Any) -> None:
    hub = serve(
        hub_process_factory, CENTRAL_HUB_HEADER_TIMEOUT_SECONDS="1", CENTRAL_HUB_IDLE_TIMEOUT_SECONDS="5"
    )
    with connect(hub.port) as silent, connect(hub.port) as half, connect(hub.port) as trickle:
        half.sendall(b"GET /api/v1/services HTTP/1.1\r\nHost: hub\r\n")
        # bytes trickling in do not keep the connection open past the deadline
        trickle.sendall(b"GET /api/v1/services HTTP/1.1\r\n")
        time.sleep(0.5)
        trickle.sendall(b"Host: hub\r\n")
        assert closed_within(silent, 8) < 4
        assert closed_within(half, 8) < 4
        assert closed_within(trickle, 8) < 4

    # a normal client on a keep-alive connection is served, one request after another
    with httpx.Client(base_url=hub.url, timeout=5) as client:
        for _ in range(3):
            assert client.get("/api/v1/services").status_code == 200
            time.sleep(0.3)

    # after an answer, the next head on the same connection has the same deadline
    with connect(hub.port) as sock:
        sock.sendall(b"GET /api/v1/services HTTP/1.1\r\nHost: hub\r\n\r\n")
        assert read_response(sock)[0] == 200
        sock.sendall(b"GET /api/v1/services HTTP/1.1\r\n")
        assert closed_within(sock, 8) < 4


def test_idle_keep_alive_connections_are_closed(hub_process_factory: Any) -> None:
    hub = serve(
        hub_process_factory, CENTRAL_HUB_IDLE_TIMEOUT_SECONDS="0.5", CENTRAL_HUB_HEADER_TIMEOUT_SECONDS="30"
    )
    with connect(hub.port) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: hub\r\n\r\n")
        assert read_response(sock)[0] in (200, 503)
        assert closed_within(sock, 8) < 4


def test_connections_beyond_the_cap_are_refused_with_503(hub_process_factory: Any) -> None:
    hub = serve(hub_process_factory, CENTRAL_HUB_MAX_CONNECTIONS="3", CENTRAL_HUB_HEADER_TIMEOUT_SECONDS="30")
    held = [connect(hub.port) for _ in range(3)]
    try:
        time.sleep(0.3)
        resp = httpx.get(hub.url + "/api/v1/services", timeout=5)
        assert resp.status_code == 503
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.3)
    assert httpx.get(hub.url + "/api/v1/services", timeout=5).status_code == 200
