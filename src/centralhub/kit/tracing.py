"""Correlation ids and request spans.

The current correlation id lives in a ``contextvars.ContextVar`` so it follows a request through
``await`` points and ``asyncio`` tasks without being passed around. It crosses process borders
in the ``X-Correlation-ID`` HTTP header (:class:`CorrelationIdMiddleware` reads it on the way in,
:func:`async_correlation_hook` writes it on the way out of an ``httpx`` client) and in the
``correlation_id`` field of a messaging envelope.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "CORRELATION_HEADER",
    "CorrelationIdMiddleware",
    "RequestTracer",
    "Span",
    "async_correlation_hook",
    "correlation_headers",
    "correlation_hook",
    "correlation_scope",
    "get_correlation_id",
    "new_correlation_id",
    "reset_correlation_id",
    "set_correlation_id",
]

CORRELATION_HEADER = "X-Correlation-ID"
_MAX_ID_LENGTH = 128

_correlation_id: ContextVar[str | None] = ContextVar("centralhub_correlation_id", default=None)
_current_span: ContextVar[Span | None] = ContextVar("centralhub_current_span", default=None)


def new_correlation_id() -> str:
    """A fresh random correlation id (32 hex characters)."""
    return uuid.uuid4().hex


def get_correlation_id() -> str | None:
    """The correlation id of the work in progress, or ``None`` outside any request."""
    return _correlation_id.get()


def set_correlation_id(correlation_id: str | None) -> Token[str | None]:
    """Make ``correlation_id`` current; pass the token to :func:`reset_correlation_id`."""
    if correlation_id is not None:
        _check_id(correlation_id)
    return _correlation_id.set(correlation_id)


def reset_correlation_id(token: Token[str | None]) -> None:
    """Restore the correlation id that was current before :func:`set_correlation_id`."""
    _correlation_id.reset(token)


@contextmanager
def correlation_scope(correlation_id: str | None = None) -> Iterator[str]:
    """Run a block under ``correlation_id`` (the current one, else a new one); yields it."""
    cid = correlation_id or get_correlation_id() or new_correlation_id()
    token = set_correlation_id(cid)
    try:
        yield cid
    finally:
        reset_correlation_id(token)


def _check_id(value: str) -> str:
    if not isinstance(value, str) or not value or len(value) > _MAX_ID_LENGTH:
        raise ValueError(
            f"correlation id must be a non-empty str of at most {_MAX_ID_LENGTH} chars, got {value!r}"
        )
    if not value.isprintable() or any(c.isspace() for c in value):
        raise ValueError(f"correlation id must be printable without spaces, got {value!r}")
    return value


def correlation_headers() -> dict[str, str]:
    """``{"X-Correlation-ID": id}`` for the current id, ``{}`` when there is none."""
    cid = get_correlation_id()
    return {CORRELATION_HEADER: cid} if cid else {}


def correlation_hook(request: httpx.Request) -> None:
    """``httpx.Client`` request hook: add the current id unless the caller set one."""
    cid = get_correlation_id()
    if cid and CORRELATION_HEADER not in request.headers:
        request.headers[CORRELATION_HEADER] = cid


async def async_correlation_hook(request: httpx.Request) -> None:
    """``httpx.AsyncClient`` request hook: ``event_hooks={"request": [async_correlation_hook]}``."""
    correlation_hook(request)


class CorrelationIdMiddleware:
    """Pure ASGI middleware: adopt the caller's ``X-Correlation-ID`` (or mint one) for the request.

    The id is current while the app runs and is echoed in the response headers. An invalid
    incoming id (too long, spaces, control characters) is replaced rather than trusted.
    """

    def __init__(self, app: ASGIApp, *, header_name: str = CORRELATION_HEADER) -> None:
        self.app = app
        self.header_name = header_name
        self._header_key = header_name.lower().encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        cid = self._incoming_id(scope) or new_correlation_id()
        token = set_correlation_id(cid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != self._header_key]
                headers.append((self._header_key, cid.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            reset_correlation_id(token)

    def _incoming_id(self, scope: Scope) -> str | None:
        for key, value in scope.get("headers", []):
            if key.lower() == self._header_key:
                try:
                    return _check_id(value.decode("latin-1").strip())
                except ValueError:
                    return None
        return None


@dataclass
class Span:
    """One timed unit of work inside a trace; ``parent_id`` links nested spans."""

    name: str
    correlation_id: str
    span_id: str
    parent_id: str | None
    service: str
    start: float
    end: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def duration_ms(self) -> float | None:
        """Wall time in milliseconds, ``None`` while the span is still open."""
        return None if self.end is None else (self.end - self.start) * 1000.0

    @property
    def ok(self) -> bool:
        return not self.errors


class RequestTracer:
    """Records spans per correlation id (the last ``max_traces`` traces are kept in memory).

    ``with tracer.trace("op", cid):`` opens a span, makes ``cid`` current and nests under the
    span already open in this context, so parent/child links need no bookkeeping by the caller.
    """

    def __init__(self, service_name: str, *, max_traces: int = 1000) -> None:
        if not service_name:
            raise ValueError("RequestTracer needs a non-empty service_name")
        self.service_name = service_name
        self.max_traces = max_traces
        self._traces: OrderedDict[str, list[Span]] = OrderedDict()

    @contextmanager
    def trace(self, operation: str, correlation_id: str | None = None) -> Iterator[Span]:
        """Time ``operation`` as a span; an exception is recorded on the span and re-raised."""
        parent = _current_span.get()
        cid = correlation_id or get_correlation_id() or new_correlation_id()
        span = Span(
            name=operation,
            correlation_id=cid,
            span_id=uuid.uuid4().hex[:16],
            parent_id=parent.span_id if parent and parent.correlation_id == cid else None,
            service=self.service_name,
            start=time.perf_counter(),
        )
        self._spans(cid).append(span)
        cid_token = set_correlation_id(cid)
        span_token = _current_span.set(span)
        try:
            yield span
        except BaseException as exc:
            span.errors.append(f"{type(exc).__name__}: {exc}")
            raise
        finally:
            span.end = time.perf_counter()
            _current_span.reset(span_token)
            reset_correlation_id(cid_token)

    def add_metadata(self, correlation_id: str, metadata: Mapping[str, Any]) -> None:
        """Attach ``metadata`` to the innermost open span of the trace (else its last span)."""
        self._target(correlation_id).metadata.update(metadata)

    def add_error(self, correlation_id: str, error: str) -> None:
        """Record a handled error on the innermost open span of the trace."""
        self._target(correlation_id).errors.append(error)

    def get_trace(self, correlation_id: str) -> list[Span]:
        """Every span recorded under ``correlation_id``, in start order."""
        return list(self._traces.get(correlation_id, []))

    def _spans(self, cid: str) -> list[Span]:
        spans = self._traces.get(cid)
        if spans is None:
            spans = self._traces[cid] = []
            while len(self._traces) > self.max_traces:
                self._traces.popitem(last=False)
        return spans

    def _target(self, cid: str) -> Span:
        current = _current_span.get()
        if current is not None and current.correlation_id == cid:
            return current
        spans = self._traces.get(cid)
        if not spans:
            raise KeyError(f"no trace recorded for correlation id {cid!r}")
        open_spans = [s for s in spans if s.end is None]
        return (open_spans or spans)[-1]
