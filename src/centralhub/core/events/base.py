"""The event bus interface shared by the in-process and NATS implementations.

Subjects use NATS syntax (dot-separated tokens, ``*`` matches one token, ``>`` the rest) so
code written against the in-process bus behaves the same on NATS.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

EventHandler = Callable[[str, dict[str, Any]], Awaitable[None]]

if TYPE_CHECKING:
    from centralhub.core.tasks import Supervisor


def check_subject(subject: str, *, wildcards: bool) -> None:
    """Raise ``ValueError`` unless ``subject`` is one NATS accepts.

    Tokens are non-empty and free of whitespace; with ``wildcards`` (a subscription) a token may
    be ``*``, and ``>`` may be the last token. Both buses apply this so a subject that works on the
    in-process bus cannot be rejected, or silently dropped, once replicas share NATS.
    """
    tokens = subject.split(".")
    for i, token in enumerate(tokens):
        if not token or any(c.isspace() for c in token):
            raise ValueError(f"invalid subject {subject!r}: empty token or whitespace")
        if token in ("*", ">") and not wildcards:
            raise ValueError(f"invalid subject {subject!r}: wildcards only in subscriptions")
        if token == ">" and i != len(tokens) - 1:
            raise ValueError(f"invalid subject {subject!r}: '>' must be the last token")
        if token not in ("*", ">") and ("*" in token or ">" in token) and wildcards:
            raise ValueError(f"invalid subject {subject!r}: a wildcard must be a whole token")


def subject_matches(pattern: str, subject: str) -> bool:
    """True when ``subject`` matches the NATS-style ``pattern``."""
    p_tokens = pattern.split(".")
    s_tokens = subject.split(".")
    for i, token in enumerate(p_tokens):
        if token == ">":
            return len(s_tokens) > i
        if i >= len(s_tokens):
            return False
        if token != "*" and token != s_tokens[i]:
            return False
    return len(p_tokens) == len(s_tokens)


class Subscription(abc.ABC):
    """A live subscription; ``await unsubscribe()`` stops delivery."""

    @abc.abstractmethod
    async def unsubscribe(self) -> None: ...


class EventBus(abc.ABC):
    """Publish JSON-able dict payloads on subjects and deliver them to subscribers."""

    name: str = "bus"

    async def start(self, supervisor: Supervisor | None = None) -> None:
        """Connect; a bus that cannot connect yet keeps trying in the background, as a task of
        ``supervisor`` when one is given (so ``/health`` shows it)."""

    async def close(self) -> None:
        """Disconnect and stop delivering."""

    @abc.abstractmethod
    async def publish(self, subject: str, payload: dict[str, Any]) -> None:
        """Send ``payload``; ``ValueError`` for an invalid subject, ``ConnectionError`` when it
        could not be handed to the transport (not connected, or closed)."""

    @abc.abstractmethod
    async def subscribe(self, subject: str, handler: EventHandler) -> Subscription:
        """Call ``handler(subject, payload)`` for every event matching ``subject``.

        A handler that raises is logged; later events are still delivered to it and to others.
        """

    @property
    def connected(self) -> bool:
        """True while events published here can reach subscribers."""
        return True

    @property
    def publish_failures(self) -> int:
        return 0

    @property
    def connected_url(self) -> str | None:
        """The server this process is connected to right now (``None`` for an in-process bus or
        while disconnected), so an operator can tell which node of a cluster it depends on."""
        return None
