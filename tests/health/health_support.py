"""Helpers for the health tests: a real local HTTP server (waiting uses ``tests.support.wait_until``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any


class LocalHTTPServer:
    """A tiny HTTP/1.1 server on 127.0.0.1: answers ``status`` (or the next of ``script``) and
    records every request (method, path, parsed JSON body)."""

    def __init__(self) -> None:
        self.status = 200
        self.script: list[int] = []
        self.requests: list[dict[str, Any]] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            lines = head.decode().split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)}
            body = b""
            if int(headers.get("content-length", "0")):
                body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 5)
            status = self.script.pop(0) if self.script else self.status
            self.requests.append(
                {"method": method, "path": path, "status": status, "json": json.loads(body) if body else None}
            )
            payload = b'{"status":"ok"}'
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
