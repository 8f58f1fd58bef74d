"""``Message``: what handlers receive and senders build; ``MessageEnvelope`` bytes on the wire.

A message's ``payload`` is bytes; :meth:`Message.create` JSON-encodes dicts/lists/str for you and
:meth:`Message.json` decodes them. ``to_bytes``/``from_bytes`` are the protobuf wire format
every transport uses, so the correlation id travels with the message whatever carries it.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson
from google.protobuf.message import DecodeError

from centralhub.kit.tracing import get_correlation_id, new_correlation_id
from centralhub.sdk.messaging.errors import EnvelopeDecodeError
from centralhub.sdk.messaging.proto.message_envelope_pb2 import (  # type: ignore[attr-defined]
    MessageEnvelope,
)

__all__ = ["JSON", "PROTOBUF", "Message", "MessageEnvelope", "MessageType"]

JSON = "application/json"
PROTOBUF = "application/x-protobuf"
OCTET_STREAM = "application/octet-stream"


class MessageType(StrEnum):
    """The kinds of message the patterns send; any other string is allowed as ``message_type``."""

    EVENT = "event"
    REQUEST = "request"
    REPLY = "reply"
    ERROR = "error"
    TASK = "task"
    BROADCAST = "broadcast"
    STREAM = "stream"


@dataclass
class Message:
    """One message with its envelope metadata. ``subject`` is filled in on receipt."""

    payload: bytes = b""
    message_type: str = MessageType.EVENT.value
    correlation_id: str = ""
    user_id: str = ""
    service_source: str = ""
    timestamp: int = 0
    message_id: str = ""
    content_type: str = OCTET_STREAM
    headers: dict[str, str] = field(default_factory=dict)
    subject: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.payload, bytes | bytearray | memoryview):
            raise TypeError(
                f"Message.payload must be bytes, got {type(self.payload).__name__}; "
                "use Message.create(data) for dicts and strings"
            )
        self.payload = bytes(self.payload)
        if not self.correlation_id:
            # Join the trace in progress, if any, so a message sent while serving a request
            # carries that request's id.
            self.correlation_id = get_correlation_id() or new_correlation_id()
        if not self.message_id:
            self.message_id = uuid.uuid4().hex
        if not self.timestamp:
            self.timestamp = time.time_ns() // 1_000_000

    @classmethod
    def create(cls, data: Any, **fields: Any) -> Message:
        """A message whose payload is ``data``: bytes as-is, a protobuf message serialized,
        anything else JSON-encoded."""
        if isinstance(data, Message):
            return data
        if isinstance(data, bytes | bytearray):
            return cls(payload=bytes(data), **fields)
        serialize = getattr(data, "SerializeToString", None)
        if callable(serialize):
            fields.setdefault("content_type", PROTOBUF)
            fields.setdefault("headers", {}).setdefault("proto_type", data.DESCRIPTOR.full_name)
            return cls(payload=serialize(), **fields)
        try:
            payload = orjson.dumps(data)
        except TypeError as exc:
            raise TypeError(f"message data is not JSON-serializable: {exc}") from exc
        fields.setdefault("content_type", JSON)
        return cls(payload=payload, **fields)

    def json(self) -> Any:
        """The payload decoded as JSON."""
        try:
            return orjson.loads(self.payload)
        except orjson.JSONDecodeError as exc:
            raise EnvelopeDecodeError(
                f"payload of message {self.message_id} on {self.subject!r} is not JSON: {exc}"
            ) from exc

    @property
    def data(self) -> Any:
        """The payload as the sender gave it: decoded JSON for JSON messages, else bytes."""
        return self.json() if self.content_type == JSON else self.payload

    def to_envelope(self) -> MessageEnvelope:
        return MessageEnvelope(
            message_type=self.message_type,
            user_id=self.user_id,
            payload=self.payload,
            timestamp=self.timestamp,
            service_source=self.service_source,
            correlation_id=self.correlation_id,
            message_id=self.message_id,
            content_type=self.content_type,
            headers=self.headers,
        )

    def to_bytes(self) -> bytes:
        """The serialized ``MessageEnvelope``."""
        return self.to_envelope().SerializeToString()

    @classmethod
    def from_envelope(cls, envelope: MessageEnvelope, *, subject: str = "") -> Message:
        return cls(
            payload=envelope.payload,
            message_type=envelope.message_type or MessageType.EVENT.value,
            correlation_id=envelope.correlation_id,
            user_id=envelope.user_id,
            service_source=envelope.service_source,
            timestamp=envelope.timestamp,
            message_id=envelope.message_id,
            content_type=envelope.content_type or OCTET_STREAM,
            headers=dict(envelope.headers),
            subject=subject,
        )

    @classmethod
    def from_bytes(cls, raw: bytes, *, subject: str = "") -> Message:
        """Parse wire bytes; :class:`EnvelopeDecodeError` names the subject when they are not an
        envelope."""
        envelope = MessageEnvelope()
        try:
            envelope.ParseFromString(raw)
        except DecodeError as exc:
            raise EnvelopeDecodeError(
                f"message on {subject or 'unknown subject'!r} is not a MessageEnvelope: {exc}"
            ) from exc
        return cls.from_envelope(envelope, subject=subject)

    def reply(self, data: Any, **fields: Any) -> Message:
        """A reply to this message carrying the same correlation id."""
        fields.setdefault("message_type", MessageType.REPLY.value)
        fields.setdefault("correlation_id", self.correlation_id)
        fields.setdefault("user_id", self.user_id)
        return Message.create(data, **fields)
