"""API keys: create, list, revoke, and verify any credential (key or JWT) into a Principal.

Verification sits on every authenticated request, hot discovery paths included, so verified
credentials are kept for about a second in memory. A revocation through the hub clears them at
once on every replica (``auth.keys.revoked`` on the bus); one done straight in the database
(``centralhub keys revoke`` while the hub runs elsewhere) is seen when the cached entry ages out.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any

from cachetools import TTLCache
from sqlalchemy.exc import IntegrityError

from centralhub.audit.service import AuditLog
from centralhub.auth import repository
from centralhub.auth.errors import Unauthorized
from centralhub.auth.jwt import JwtVerifier
from centralhub.auth.models import ALL_SCOPES, ApiKey, KeyRevoked, Principal
from centralhub.core.database import Database
from centralhub.core.errors import Conflict, InvalidInput, NotFound
from centralhub.core.events import EventBus, Subscription
from centralhub.core.events.dispatch import DomainEvents
from centralhub.core.time import Clock
from centralhub.core.wire import NAME_RE, TENANT_RE

log = logging.getLogger(__name__)

#: every replica listens here and drops the named key from its verified-key cache
REVOKED_SUBJECT = "auth.keys.revoked"
KEY_PREFIX = "chub_"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
#: longest accepted lifetime: ten years
_MAX_LIFETIME = 10 * 365 * 86400


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8", "surrogatepass")).hexdigest()


def parse_duration(value: str | float | int) -> float:
    """Seconds from ``30d``, ``12h``, ``15m``, ``90s``, ``2w`` or a number of seconds."""
    if isinstance(value, bool):
        raise InvalidInput("expires_in must be a duration like 30d, 12h or a number of seconds")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.fullmatch(str(value))
        if match is None:
            raise InvalidInput(
                f"expires_in must be a duration like 30d, 12h, 15m or seconds (got {str(value)[:40]!r})"
            )
        seconds = float(match.group(1)) * _UNIT[match.group(2)]
    if not 0 < seconds <= _MAX_LIFETIME:
        raise InvalidInput("expires_in must be more than 0 seconds and at most 10 years")
    return seconds


def key_view(key: ApiKey) -> dict[str, Any]:
    """What the audit trail keeps of a key: never its hash."""
    return {
        "name": key.name,
        "prefix": key.prefix,
        "scopes": sorted(key.scopes),
        "tenant": key.tenant,
        "services": None if key.services is None else sorted(key.services),
        "expires_at": key.expires_at,
        "rate_limit_per_minute": key.rate_limit_per_minute,
    }


def is_jwt(credential: str) -> bool:
    return credential.count(".") == 2


class KeyService:
    """Stored API keys and credential verification; one transaction per operation."""

    def __init__(
        self,
        database: Database,
        bus: EventBus,
        *,
        events: DomainEvents,
        clock: Clock = time.time,
        jwt: JwtVerifier | None = None,
        cache_seconds: float = 1.0,
        cache_size: int = 10_000,
        audit: AuditLog | None = None,
    ) -> None:
        self.database = database
        self.audit = audit
        self.bus = bus
        self.events = events
        self.clock = clock
        self.jwt = jwt
        #: credential hash (keys) or token (JWTs) -> (principal, expires_at or None)
        self._cache: TTLCache[str, tuple[Principal, float | None]] = TTLCache(
            maxsize=cache_size, ttl=cache_seconds, timer=time.monotonic
        )
        #: the hot-path cache: the credential as sent -> (principal, expires_at, refresh after,
        #: valid until).
        #: A plain dict lookup with no hashing, so a verified key costs well under a microsecond
        #: per request; entries live ``cache_seconds`` like the TTL cache behind it.
        self._recent: dict[str, tuple[Principal, float | None, float, float]] = {}
        #: one lookup per credential at a time, shared by every request waiting on it
        self._inflight: dict[str, asyncio.Future[Principal]] = {}
        self._cache_seconds = cache_seconds
        self._cache_size = cache_size
        self._subscription: Subscription | None = None
        #: called with a key's name whenever its cached verifications are dropped (a revocation
        #: here or announced by a peer), for caches of the key kept elsewhere
        self.forget_listeners: list[Callable[[str], None]] = []

    async def start(self) -> None:
        self._subscription = await self.bus.subscribe(REVOKED_SUBJECT, self._on_revoked)

    async def stop(self) -> None:
        for pending in list(self._inflight.values()):
            pending.cancel()
        self._inflight.clear()
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None

    # ------------------------------------------------------------------ keys
    async def create(
        self,
        name: str,
        scopes: Iterable[str],
        *,
        tenant: str | None = None,
        services: Iterable[str] | None = None,
        expires_in: str | float | None = None,
        rate_limit_per_minute: int | None = None,
        created_by: str | None = None,
    ) -> tuple[ApiKey, str]:
        """Store a new key and return it with its plaintext, which is shown this once only."""
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            raise InvalidInput(
                "key name must be 1-128 letters, digits, '-' or '_', starting with a letter or digit"
            )
        wanted = frozenset(scopes)
        unknown = sorted(wanted - ALL_SCOPES)
        if unknown or not wanted:
            raise InvalidInput(
                f"unknown scope {', '.join(unknown)}; use {', '.join(sorted(ALL_SCOPES))}"
                if unknown
                else "a key needs at least one scope"
            )
        if tenant is not None and not TENANT_RE.fullmatch(tenant):
            raise InvalidInput("tenant must be 1-64 letters, digits, '-' or '_'")
        service_set = None if services is None else frozenset(services)
        if service_set is not None:
            bad = [s for s in service_set if not NAME_RE.fullmatch(s)]
            if bad:
                raise InvalidInput(f"invalid service name {bad[0][:80]!r}")
        if rate_limit_per_minute is not None and not 1 <= rate_limit_per_minute <= 1_000_000:
            raise InvalidInput("rate_limit_per_minute must be between 1 and 1000000")
        now = self.clock()
        prefix = secrets.token_hex(4)
        plaintext = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
        key = ApiKey(
            name=name,
            prefix=f"{KEY_PREFIX}{prefix}",
            key_hash=hash_key(plaintext),
            scopes=wanted,
            tenant=tenant,
            services=service_set,
            created_at=now,
            expires_at=None if expires_in is None else now + parse_duration(expires_in),
            rate_limit_per_minute=rate_limit_per_minute,
            created_by=created_by,
        )
        try:
            async with self.database.engine.begin() as conn:
                if await repository.get(conn, name) is not None:
                    raise Conflict(f"a key named {name!r} already exists")
                await repository.insert(conn, key)
                if self.audit is not None:
                    await self.audit.record(
                        "key.create", f"keys/{name}", tenant=tenant, after=key_view(key), conn=conn
                    )
        except IntegrityError:
            raise Conflict(f"a key named {name!r} already exists") from None
        return key, plaintext

    async def list(self) -> list[ApiKey]:
        async with self.database.engine.begin() as conn:
            return await repository.list_all(conn)

    async def get(self, name: str) -> ApiKey:
        async with self.database.engine.begin() as conn:
            key = await repository.get(conn, name)
        if key is None:
            raise NotFound(f"no key named {name!r}")
        return key

    async def revoke(self, name: str) -> None:
        """Revoke ``name`` for good; every replica stops accepting it at once."""
        async with self.database.engine.begin() as conn:
            found = await repository.mark_revoked(conn, name, self.clock())
            if found and self.audit is not None:
                await self.audit.record("key.revoke", f"keys/{name}", conn=conn)
        if not found:
            raise NotFound(f"no key named {name!r}")
        self.forget(name)
        self.events.emit(KeyRevoked(name=name))
        try:
            await self.bus.publish(REVOKED_SUBJECT, {"name": name})
        except (ConnectionError, ValueError) as exc:
            # other replicas still see it when their cached entry ages out (about a second)
            log.warning("could not announce revocation of key %r: %s", name, exc)

    def forget(self, name: str) -> None:
        """Drop every cached verification of the key (or JWT subject) ``name``."""
        for cached, (principal, _) in list(self._cache.items()):
            if principal.name == name:
                self._cache.pop(cached, None)
        for sent, (principal, *_) in list(self._recent.items()):
            if principal.name == name:
                self._recent.pop(sent, None)
        for listener in self.forget_listeners:
            listener(name)

    async def _on_revoked(self, _subject: str, payload: dict[str, Any]) -> None:
        name = payload.get("name")
        if isinstance(name, str):
            self.forget(name)

    # ------------------------------------------------------------------ verify
    async def verify(self, credential: str) -> Principal:
        """The caller a credential stands for; :class:`Unauthorized` when it is not accepted.

        A verified credential is answered from memory. Past half its cache lifetime the next
        request still gets the cached answer while one background lookup refreshes it, so a
        busy key never sends a burst of concurrent requests to the database at once; past the
        whole lifetime (an idle key) one lookup is shared by every request that waits for it.
        """
        recent = self._recent.get(credential)
        if recent is not None:
            principal, expires_at, refresh_after, valid_until = recent
            now = time.monotonic()
            if now < valid_until and (expires_at is None or expires_at > self.clock()):
                if now >= refresh_after and credential not in self._inflight:
                    self._inflight[credential] = asyncio.ensure_future(self._load(credential))
                    self._inflight[credential].add_done_callback(_quiet)
                return principal
            self._recent.pop(credential, None)
        pending = self._inflight.get(credential)
        if pending is None:
            pending = self._inflight[credential] = asyncio.ensure_future(self._load(credential))
            pending.add_done_callback(_quiet)
        return await asyncio.shield(pending)

    async def _load(self, credential: str) -> Principal:
        """Verify against the store (not the caches) and remember the answer."""
        try:
            self._cache.pop(credential if is_jwt(credential) else hash_key(credential), None)
            try:
                principal = await self._verify(credential)
            except Unauthorized:
                self._recent.pop(credential, None)
                raise
            if len(self._recent) >= self._cache_size:
                self._recent.clear()  # many distinct credentials: start over rather than grow
            expires = self._cache.get(credential if is_jwt(credential) else hash_key(credential))
            now = time.monotonic()
            self._recent[credential] = (
                principal,
                expires[1] if expires is not None else None,
                now + self._cache_seconds / 2,
                now + self._cache_seconds,
            )
            return principal
        finally:
            self._inflight.pop(credential, None)

    async def _verify(self, credential: str) -> Principal:
        jwt_token = is_jwt(credential)
        cache_key = credential if jwt_token else hash_key(credential)
        hit = self._cache.get(cache_key)
        now = self.clock()
        if hit is not None:
            principal, expires_at = hit
            if expires_at is None or expires_at > now:
                return principal
            self._cache.pop(cache_key, None)
            raise Unauthorized("credential has expired")
        if jwt_token:
            if self.jwt is None or not self.jwt.enabled:
                raise Unauthorized("JWTs are not accepted by this hub")
            principal, exp = self.jwt.verify(credential)
            self._cache[cache_key] = (principal, exp)
            return principal
        if not credential.startswith(KEY_PREFIX) or len(credential) > 200:
            raise Unauthorized("unknown API key")
        async with self.database.engine.begin() as conn:
            key = await repository.by_hash(conn, cache_key)
        if key is None:
            raise Unauthorized("unknown API key")
        if key.revoked_at is not None:
            raise Unauthorized(f"API key {key.name!r} has been revoked")
        if key.expires_at is not None and key.expires_at <= now:
            raise Unauthorized(f"API key {key.name!r} has expired")
        principal = key.principal()
        self._cache[cache_key] = (principal, key.expires_at)
        return principal


def _quiet(future: asyncio.Future[Principal]) -> None:
    """A background refresh that failed has nobody to tell; its caller will look again."""
    if not future.cancelled():
        future.exception()
