"""Checking signed heartbeat messages (NATS) against stored API keys.

A heartbeat message carries no credential, only the key's public prefix and an HMAC keyed with
the SHA-256 digest of the key (see :mod:`centralhub.core.heartbeat_wire`). The hub stores that
digest for every key, so it verifies without the plaintext, at the cost of one HMAC per message
and, per key, one database read every ``cache_seconds`` (made aside while the entry stays in use).

The trade-off: the stored digest is enough to sign. Someone who reads the ``api_keys`` table (a
database dump, a backup) can forge heartbeats for the services those keys may act for, keeping
dead instances in discovery; the digest still does not open any HTTP API, which needs the
plaintext. Rotating a key (revoke, create) ends both.

JWTs have no shared secret the hub stores, so a service holding a JWT sends its heartbeats over
HTTP, where the token is verified as for any other request.

A revoked key is dropped at once on the replica that revoked it and on every replica that hears
the revocation on the bus; a key revoked straight in the database stops signing once its cached
entry has been read again (within twice ``cache_seconds``). Expiry is checked on every message.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from centralhub.auth import repository
from centralhub.auth.models import Principal, Scope
from centralhub.auth.service import KeyService
from centralhub.core.database import Database
from centralhub.core.time import Clock

log = logging.getLogger(__name__)


class HeartbeatRefused(Exception):
    """A heartbeat message that is not accepted; ``code`` is what the sender is told."""

    def __init__(self, code: str, message: str, *, instance_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        #: the instance the message was about, when it got that far
        self.instance_id = instance_id


@dataclass(frozen=True, slots=True)
class _Signer:
    principal: Principal
    #: HMAC-SHA256 keyed with the key's stored digest, copied per message (cheaper than keying anew)
    mac: hmac.HMAC
    expires_at: float | None


class HeartbeatSigners:
    """The keys heartbeat messages may be signed with, by public prefix, verified from memory."""

    def __init__(
        self,
        database: Database,
        keys: KeyService,
        *,
        clock: Clock = time.time,
        cache_seconds: float = 5.0,
        cache_size: int = 10_000,
    ) -> None:
        self.database = database
        self.clock = clock
        self.cache_seconds = cache_seconds
        self.cache_size = cache_size
        #: key prefix -> (keys with that prefix, still usable, monotonic time the entry is good until)
        self._signers: dict[str, tuple[list[_Signer], float]] = {}
        #: prefixes whose entry is past ``cache_seconds`` and being read again
        self._refreshing: set[str] = set()
        #: called with a prefix whose entry should be read again (:meth:`load`) soon; until then,
        #: for another ``cache_seconds``, the entry is still used, so a busy key never sends a
        #: burst of messages down the slow path at once
        self.on_stale: Callable[[str], None] = lambda _prefix: None
        # a key revoked here, or announced revoked by a peer, is dropped with the key service's own
        # cached verifications, before the revocation call returns
        keys.forget_listeners.append(self.forget)

    async def start(self) -> None:
        """Nothing to start: revocations arrive through the key service."""

    async def stop(self) -> None:
        self._signers.clear()

    def forget(self, name: str) -> None:
        """Stop accepting signatures of key ``name`` until it is read again from the database."""
        for prefix, (signers, _) in list(self._signers.items()):
            if any(s.principal.name == name for s in signers):
                self._signers.pop(prefix, None)

    async def _load(self, prefix: str) -> list[_Signer]:
        async with self.database.engine.connect() as conn:
            keys = await repository.by_prefix(conn, prefix)
        signers = [
            _Signer(
                k.principal(), hmac.new(bytes.fromhex(k.key_hash), digestmod=hashlib.sha256), k.expires_at
            )
            for k in keys
            if k.revoked_at is None
        ]
        if len(self._signers) >= self.cache_size:
            self._signers.clear()  # many distinct prefixes (forged ones too): start over, never grow
        # used as is for cache_seconds, then for as long again while it is read anew
        self._signers[prefix] = (signers, time.monotonic() + 2 * self.cache_seconds)
        self._refreshing.discard(prefix)
        return signers

    def cached(self, prefix: object) -> list[_Signer] | None:
        """The keys with public prefix ``prefix`` as read at most ``cache_seconds`` ago; ``None``
        when they must be read (:meth:`load`)."""
        entry = self._signers.get(prefix) if type(prefix) is str else None
        if entry is None:
            return None
        left = entry[1] - time.monotonic()
        if left > self.cache_seconds:
            return entry[0]
        if left > 0:
            if prefix not in self._refreshing:
                self._refreshing.add(prefix)  # type: ignore[arg-type]
                self.on_stale(prefix)  # type: ignore[arg-type]
            return entry[0]
        return None

    async def load(self, prefix: object) -> list[_Signer]:
        """The keys with public prefix ``prefix``, read from the database and cached."""
        if not isinstance(prefix, str) or len(prefix) > 32:
            raise HeartbeatRefused("unauthorized", "the message names no API key")
        return await self._load(prefix)

    def principal(self, signers: list[_Signer], signed: bytes, sig: str) -> Principal:
        """The principal whose key signed ``signed`` with ``sig``; :class:`HeartbeatRefused`
        (``unauthorized``) for an unknown, revoked or expired key or a wrong signature."""
        if not signers:
            raise HeartbeatRefused("unauthorized", "no usable API key has the prefix the message names")
        for signer in signers:
            mac = signer.mac.copy()
            mac.update(signed)
            if hmac.compare_digest(mac.hexdigest(), sig):
                if signer.expires_at is not None and signer.expires_at <= self.clock():
                    raise HeartbeatRefused("unauthorized", f"API key {signer.principal.name!r} has expired")
                return signer.principal
        raise HeartbeatRefused("unauthorized", "the signature does not match the key")


def authorize(principal: Principal, tenant: str, service: str) -> None:
    """What the HTTP heartbeat route asks of a caller, asked of a message's signer."""
    if not principal.has(Scope.REGISTRY_WRITE):
        needed = Scope.REGISTRY_WRITE.value
        raise HeartbeatRefused("forbidden", f"{principal.name!r} may not heartbeat: needs scope {needed}")
    if principal.tenant is not None and principal.tenant != tenant:
        raise HeartbeatRefused(
            "forbidden", f"{principal.name!r} is bound to tenant {principal.tenant!r}, not {tenant[:64]!r}"
        )
    if not principal.may_act_for(service):
        raise HeartbeatRefused("forbidden", f"{principal.name!r} may not act for service {service[:128]!r}")
