"""Connection limits for the uvicorn server: idle, slow-header and concurrency bounds.

uvicorn closes idle keep-alive connections and caps concurrency itself, but a client that
opens a connection and sends its request head slowly, or not at all, holds the connection
forever. :func:`header_timeout_protocol` adds that bound to uvicorn's own HTTP protocol.
"""

from __future__ import annotations

import asyncio
from typing import Any

from centralhub.core.settings import Settings

__all__ = ["header_timeout_protocol", "uvicorn_options"]


class HeaderDeadline:
    """Mixin for a uvicorn HTTP protocol: the connection is closed unless a full request head
    arrives within ``header_timeout`` seconds, on a new connection and between keep-alive
    requests alike (bytes trickling in do not reset it)."""

    header_timeout: float = 10.0
    # provided by the uvicorn protocol this is mixed into
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    cycle: Any

    _head_timer: asyncio.TimerHandle | None = None
    _head_cycle: Any = None

    def _arm_head_deadline(self) -> None:
        # a new request head is complete once the protocol holds a cycle other than this one
        self._head_cycle = self.cycle
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_deadline_passed)

    def _disarm_head_deadline(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_deadline_passed(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._arm_head_deadline()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)  # type: ignore[misc]
        if self._head_timer is not None and self.cycle is not self._head_cycle:
            self._disarm_head_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        # wait for the next head unless it (a pipelined request) has already arrived
        waiting = self.cycle is None or self.cycle.response_complete
        if waiting and self._head_timer is None and not self.transport.is_closing():
            self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)  # type: ignore[misc]


def header_timeout_protocol(seconds: float) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol (httptools when installed, as uvicorn picks it, else h11) with
    a ``seconds`` deadline for each request head."""
    base: type[asyncio.Protocol]
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        base = HttpToolsProtocol
    except ImportError:  # pragma: no cover - httptools is a dependency of uvicorn[standard]
        from uvicorn.protocols.http.h11_impl import H11Protocol

        base = H11Protocol
    return type(f"HeaderDeadline{base.__name__}", (HeaderDeadline, base), {"header_timeout": seconds})


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The connection bounds ``centralhub serve`` hands to uvicorn."""
    return {
        "http": header_timeout_protocol(settings.header_timeout_seconds),
        "timeout_keep_alive": settings.idle_timeout_seconds,
        "limit_concurrency": settings.max_connections,
    }
