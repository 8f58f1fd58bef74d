"""Central Hub messaging SDK: one interface over NATS, Kafka and HTTP, five patterns, a router.

Every message travels as a protobuf ``MessageEnvelope`` carrying its correlation id, so a trace
continues across services whatever the transport.
"""

from typing import TYPE_CHECKING, Any

from centralhub.sdk.messaging.base import Delivery, Handler, MessagingClient, Subscription
from centralhub.sdk.messaging.errors import (
    EnvelopeDecodeError,
    MessagingConnectionError,
    MessagingError,
    MessagingTimeout,
    NoResponders,
    UnsupportedOperation,
)
from centralhub.sdk.messaging.http_client import HTTPMessagingClient, envelope_endpoint
from centralhub.sdk.messaging.message import Message, MessageEnvelope, MessageType
from centralhub.sdk.messaging.nats_client import NATSMessagingClient
from centralhub.sdk.messaging.patterns import (
    FanOutPattern,
    PubSubPattern,
    RequestReplyPattern,
    StreamPattern,
    WorkQueuePattern,
)
from centralhub.sdk.messaging.router import MessagingRouter, UseCase

if TYPE_CHECKING:
    from centralhub.sdk.messaging.kafka_client import KafkaMessagingClient


def __getattr__(name: str) -> Any:
    # the Kafka client needs aiokafka, which comes with the `kafka` extra only: importing it on
    # first use keeps NATS and HTTP messaging working in a service installed without that extra
    if name == "KafkaMessagingClient":
        try:
            from centralhub.sdk.messaging.kafka_client import KafkaMessagingClient
        except ModuleNotFoundError as exc:
            if exc.name != "aiokafka":
                raise
            raise ImportError("KafkaMessagingClient needs aiokafka: install centralhub[kafka]") from exc
        return KafkaMessagingClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Delivery",
    "EnvelopeDecodeError",
    "FanOutPattern",
    "HTTPMessagingClient",
    "Handler",
    "KafkaMessagingClient",
    "Message",
    "MessageEnvelope",
    "MessageType",
    "MessagingClient",
    "MessagingConnectionError",
    "MessagingError",
    "MessagingRouter",
    "MessagingTimeout",
    "NATSMessagingClient",
    "NoResponders",
    "PubSubPattern",
    "RequestReplyPattern",
    "StreamPattern",
    "Subscription",
    "UnsupportedOperation",
    "UseCase",
    "WorkQueuePattern",
    "envelope_endpoint",
]
