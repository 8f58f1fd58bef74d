"""Heartbeats as NATS messages: the one format the SDK builds and the hub reads.

A message is a JSON object ``{"tenant", "service", "instance_id", "ts", "load"}``, published on
``<cluster>.heartbeats.<tenant>.<service>``. With a credential it also names the API key by its
public prefix (``"key": "chub_1a2b3c4d"``, the part of the key shown in listings) and ends with
``,"sig":"<64 hex>"}``: an HMAC-SHA256 over the exact bytes before that tail (closed with ``}``),
keyed with the SHA-256 digest of the plaintext key. The hub stores exactly that digest for every
key, so it checks a signature without ever holding the plaintext; the signed bytes are the bytes
it parses, so there is no second serialization that could disagree.

Imports nothing of the hub's, so the SDK uses it as is.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

import orjson

#: bare subject of every heartbeat message (the bus adds the cluster prefix)
HEARTBEATS_ALL_SUBJECTS = "heartbeats.>"
#: the queue group hub replicas share, so each message is applied by exactly one of them
HEARTBEATS_QUEUE = "centralhub-heartbeats"
#: a message whose ``ts`` is further than this from the hub's clock is refused (replays)
MAX_AGE_SECONDS = 60.0

_SIG_HEAD = b',"sig":"'
#: ``,"sig":"`` + 64 hex digits + ``"}``
_SIG_TAIL = len(_SIG_HEAD) + 64 + 2
#: what ``KeyService.create`` makes: ``chub_`` + 8 hex digits (the stored prefix) + ``_`` + secret
_KEY_RE = re.compile(r"^(chub_[0-9a-f]{8})_.+$", re.DOTALL)


def heartbeat_subject(tenant: str, service: str) -> str:
    return f"heartbeats.{tenant}.{service}"


@dataclass(frozen=True, slots=True)
class SigningKey:
    """What signs heartbeat messages for one API key: its public prefix and the digest of the
    plaintext (never the plaintext itself)."""

    key_id: str
    secret: bytes

    @classmethod
    def of(cls, plaintext: str | None) -> SigningKey | None:
        """The signing key of an API key; ``None`` for anything else (a JWT, no credential), whose
        heartbeats then go over HTTP."""
        if not plaintext:
            return None
        match = _KEY_RE.fullmatch(plaintext)
        if match is None:
            return None
        return cls(match.group(1), hashlib.sha256(plaintext.encode("utf-8", "surrogatepass")).digest())


def sign(secret: bytes, body: bytes) -> str:
    return hmac.digest(secret, body, "sha256").hex()


def build_heartbeat(
    tenant: str,
    service: str,
    instance_id: str,
    *,
    now: float,
    load: float | None = None,
    key: SigningKey | None = None,
) -> bytes:
    """One heartbeat message, signed when ``key`` is given."""
    doc: dict[str, object] = {
        "tenant": tenant,
        "service": service,
        "instance_id": instance_id,
        "ts": round(now, 3),
        "load": load,
    }
    if key is None:
        return orjson.dumps(doc)
    doc["key"] = key.key_id
    body = orjson.dumps(doc)
    return body[:-1] + _SIG_HEAD + sign(key.secret, body).encode() + b'"}'


def split_signature(data: bytes) -> tuple[bytes, str] | None:
    """``(signed bytes, hex signature)`` of a signed message; ``None`` when it carries none."""
    if len(data) <= _SIG_TAIL or data[-_SIG_TAIL : -_SIG_TAIL + len(_SIG_HEAD)] != _SIG_HEAD:
        return None
    if data[-2:] != b'"}':
        return None
    return data[:-_SIG_TAIL] + b"}", data[-66:-2].decode("ascii", "replace")


def error_reply(code: str, message: str, instance_id: str | None = None) -> bytes:
    """What the hub answers a rejected message with (only when it has a reply subject)."""
    return orjson.dumps({"error": {"code": code, "message": message, "instance_id": instance_id}})
