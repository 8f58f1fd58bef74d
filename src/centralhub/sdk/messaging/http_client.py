"""``HTTPMessagingClient``: publish and request over HTTP POST with an envelope body (httpx).

``publish("orders.created", data)`` POSTs the serialized ``MessageEnvelope`` to
``{base_url}/orders.created``; ``request`` does the same and reads the reply envelope from the
response. :func:`envelope_endpoint` is the receiving side as a Starlette endpoint. HTTP has no
subscriptions or durable streams, so those raise :class:`UnsupportedOperation`.

``api_key=`` is sent as ``Authorization: Bearer`` on every request. ``CENTRAL_HUB_API_KEY`` and
``CENTRAL_HUB_CA_FILE`` apply only when ``base_url`` is the hub itself (``CENTRAL_HUB_URL``): the
hub's credential is not handed to every peer a service posts to.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import Response

from centralhub.kit.tracing import CORRELATION_HEADER, async_correlation_hook
from centralhub.sdk import connection
from centralhub.sdk.connection import VerifyTypes
from centralhub.sdk.messaging.base import Handler, MessagingClient, check_topic
from centralhub.sdk.messaging.errors import (
    EnvelopeDecodeError,
    MessagingConnectionError,
    MessagingError,
    MessagingTimeout,
)
from centralhub.sdk.messaging.message import JSON, PROTOBUF, Message, MessageType

__all__ = ["HTTPMessagingClient", "envelope_endpoint"]


class HTTPMessagingClient(MessagingClient):
    """Messaging over HTTP to one ``base_url``. ``transport=`` lets tests use an ASGI app;
    ``verify=`` / ``ca_file=`` choose what https certificates are trusted."""

    transport = "http"

    def __init__(
        self,
        base_url: str,
        *,
        service_name: str = "",
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: dict[str, str] | None = None,
        api_key: str | None = None,
        ca_file: str | None = None,
        verify: VerifyTypes | None = None,
    ) -> None:
        super().__init__(service_name=service_name)
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"HTTPMessagingClient base_url must be http(s)://..., got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._transport = transport
        to_hub = connection.same_origin(self.base_url, connection.default_hub_url())
        env: dict[str, str] | None = None if to_hub else {}
        key = connection.resolve_api_key(api_key, env=env)
        self._headers = {**connection.auth_headers(key), **(headers or {})}
        self._verify = connection.tls_verify(verify, ca_file, env=env)
        self._client: httpx.AsyncClient | None = None

    async def connect(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.base_url,
                timeout=self.timeout,
                transport=self._transport,
                headers=self._headers,
                verify=self._verify,
                event_hooks={"request": [async_correlation_hook]},
            )

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    @property
    def is_connected(self) -> bool:
        return self._client is not None

    async def publish(self, topic: str, data: Any, **fields: Any) -> Message:
        message = self._prepare(data, fields)
        await self._post(topic, message, timeout=self.timeout)
        return message

    async def request(self, topic: str, data: Any, *, timeout: float = 5.0, **fields: Any) -> Message:
        fields.setdefault("message_type", MessageType.REQUEST.value)
        message = self._prepare(data, fields)
        response = await self._post(topic, message, timeout=timeout)
        if response.headers.get("content-type", "").startswith(PROTOBUF):
            return Message.from_bytes(response.content, subject=topic)
        # A plain HTTP service answering JSON: wrap it so callers see one shape.
        is_json = response.headers.get("content-type", "").startswith(JSON)
        return Message(
            payload=response.content,
            message_type=MessageType.REPLY.value,
            correlation_id=response.headers.get(CORRELATION_HEADER, message.correlation_id),
            content_type=JSON if is_json else "application/octet-stream",
            subject=topic,
        )

    async def _post(self, topic: str, message: Message, *, timeout: float) -> httpx.Response:
        check_topic(topic)
        if self._client is None:
            raise MessagingConnectionError("HTTPMessagingClient is not connected; call connect() first")
        try:
            response = await self._client.post(
                "/" + topic.lstrip("/"),
                content=message.to_bytes(),
                headers={"content-type": PROTOBUF, CORRELATION_HEADER: message.correlation_id},
                timeout=timeout,
            )
        except httpx.TimeoutException as exc:
            raise MessagingTimeout(
                f"no reply from {self.base_url}/{topic} within {timeout}s",
                details={"topic": topic, "correlation_id": message.correlation_id},
            ) from exc
        except httpx.TransportError as exc:
            raise MessagingConnectionError(
                f"cannot reach {self.base_url}: {type(exc).__name__}: {exc}"
            ) from exc
        if response.status_code >= 400:
            raise MessagingError(
                f"POST {self.base_url}/{topic} answered {response.status_code}: {response.text[:200]}",
                details={"status": response.status_code, "topic": topic},
            )
        return response


def envelope_endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint that decodes the envelope, runs ``handler`` under its correlation id
    and answers with the reply envelope (``204`` when the handler returns ``None``)."""

    runner = _EndpointRunner()

    async def endpoint(request: Request) -> Response:
        body = await request.body()
        try:
            message = Message.from_bytes(body, subject=request.url.path.lstrip("/"))
        except EnvelopeDecodeError as exc:
            return Response(str(exc), status_code=400, media_type="text/plain")
        reply = await runner._handle(handler, message, wants_reply=True)
        if reply is None:
            return Response(status_code=204, headers={CORRELATION_HEADER: message.correlation_id})
        # An ``error`` reply is still a 200: the envelope carries the failure to the caller.
        return Response(
            reply.to_bytes(),
            status_code=200,
            media_type=PROTOBUF,
            headers={CORRELATION_HEADER: reply.correlation_id},
        )

    return endpoint


class _EndpointRunner(MessagingClient):
    """Borrows the base class's handler runner for :func:`envelope_endpoint`."""

    transport = "http-endpoint"

    async def connect(self) -> None:  # pragma: no cover - never connected
        return None

    async def close(self) -> None:  # pragma: no cover
        return None

    @property
    def is_connected(self) -> bool:  # pragma: no cover
        return True

    async def publish(self, topic: str, data: Any, **fields: Any) -> Message:  # pragma: no cover
        raise self._unsupported("publish")
