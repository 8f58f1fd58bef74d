"""Request limits at the HTTP edge: a rate limit per caller and a cap on request body size.

Both are pure ASGI middleware: they run on every request, discovery reads included, so each
costs a dictionary lookup and a few arithmetic operations, never a Request object.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from centralhub.auth.context import current_principal

__all__ = ["BodySizeLimit", "BodyTooLarge", "RateLimit", "TokenBuckets"]

#: probes and scrapers poll these; throttling them would turn load into false alarms
EXEMPT_PATHS = frozenset({"/health", "/metrics"})
#: a bucket idle this long has refilled completely (its capacity never exceeds a minute's
#: allowance), so forgetting it changes nothing
_FULL_AFTER_SECONDS = 60.0


def _error(status: int, code: str, message: str, headers: list[tuple[bytes, bytes]]) -> list[Message]:
    body = orjson.dumps({"error": {"code": code, "message": message}})
    head = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *headers,
    ]
    return [
        {"type": "http.response.start", "status": status, "headers": head},
        {"type": "http.response.body", "body": body},
    ]


class TokenBuckets:
    """One token bucket per key, in a dictionary bounded to ``max_keys`` entries.

    A bucket holds at most ``min(burst, per_minute)`` tokens (a burst never exceeds what a minute
    allows) and refills at ``per_minute / 60`` tokens a second; each request takes one.
    When the dictionary is full, buckets idle for a minute (full again, so equal to a new
    one) are dropped first, then the oldest half.
    """

    def __init__(
        self, *, burst: int, max_keys: int = 65536, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.burst = burst
        self.max_keys = max_keys
        self.clock = clock
        # key -> [tokens, last refill time]
        self._buckets: dict[Any, list[float]] = {}

    def take(self, key: Any, per_minute: int) -> float:
        """Take a token for ``key``: 0.0 when allowed, else the seconds until one is available."""
        now = self.clock()
        capacity = float(min(self.burst, per_minute))
        rate = per_minute / 60.0
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._prune(now)
            self._buckets[key] = [capacity - 1.0, now]
            return 0.0
        tokens = bucket[0] + (now - bucket[1]) * rate
        if tokens > capacity:
            tokens = capacity
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0.0
        bucket[0] = tokens
        return (1.0 - tokens) / rate

    def __len__(self) -> int:
        return len(self._buckets)

    def _prune(self, now: float) -> None:
        idle = [k for k, b in self._buckets.items() if now - b[1] >= _FULL_AFTER_SECONDS]
        for key in idle:
            del self._buckets[key]
        if len(self._buckets) >= self.max_keys:
            for key in list(self._buckets)[: len(self._buckets) // 2 + 1]:
                del self._buckets[key]


class RateLimit:
    """429 ``rate_limited`` with ``Retry-After`` once a caller's bucket is empty.

    The caller is the authenticated principal (by name) when there is one, else the client
    address; a principal's own ``rate_limit_per_minute`` replaces the default. It must run
    inside the auth middleware, which sets the principal for the request.
    """

    def __init__(self, app: ASGIApp, *, per_minute: int, burst: int, max_keys: int = 65536) -> None:
        self.app = app
        self.per_minute = per_minute
        self.buckets = TokenBuckets(burst=burst, max_keys=max_keys)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        principal = current_principal.get()
        if principal.kind == "anonymous":
            client = scope.get("client")
            key: Any = client[0] if client else None
            per_minute = self.per_minute
        else:
            # a tuple keeps a principal named like an address apart from that address
            key = ("principal", principal.name)
            per_minute = principal.rate_limit_per_minute or self.per_minute
        wait = self.buckets.take(key, per_minute)
        if not wait:
            await self.app(scope, receive, send)
            return
        seconds = max(1, math.ceil(wait))
        who = "this address" if principal.kind == "anonymous" else f"{principal.name!r}"
        message = f"rate limit of {per_minute} requests a minute exceeded for {who}; retry in {seconds} s"
        for msg in _error(429, "rate_limited", message, [(b"retry-after", str(seconds).encode())]):
            await send(msg)


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a streamed body passes the limit; the route never sees more."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is larger than {limit} bytes")


class BodySizeLimit:
    """413 ``payload_too_large`` for a body over ``max_bytes``, before it is read into memory.

    A declared ``Content-Length`` over the limit is refused before anything is read; a body
    without one (chunked) is counted as it arrives, and the first chunk past the limit ends the
    request with 413 whatever the route was doing with it.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, larger: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.message = f"request body is larger than {max_bytes} bytes"
        #: paths whose bodies may be larger (a backup to restore), each with its own limit
        self._larger = {path: BodySizeLimit(app, max_bytes=n) for path, n in (larger or {}).items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        if scope["path"] in self._larger:
            await self._larger[scope["path"]](scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1  # the server refuses a malformed length before we run
                if declared > self.max_bytes:
                    await self._refuse(send)
                    return
                if declared >= 0:
                    # the server delivers no more than the declared length
                    await self.app(scope, receive, send)
                    return
                break
        await self._counted(scope, receive, send)

    async def _refuse(self, send: Send) -> None:
        # the body stays unread; closing the connection is cheaper than draining it
        for msg in _error(413, "payload_too_large", self.message, [(b"connection", b"close")]):
            await send(msg)

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        received = 0
        exceeded = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                # whatever the route made of the interrupted body, the answer is 413
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await self._refuse(send)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            # whatever the interrupted route raised, the cause is the body's size
            if not exceeded or started:
                raise
            started = True
            await self._refuse(send)
