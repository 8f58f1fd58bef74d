"""Replica records as plain dataclasses, and the assignment rule (a leaf module)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(slots=True)
class Replica:
    """One hub replica's row; times in epoch seconds."""

    replica_id: str
    hostname: str
    pid: int
    started_at: float
    last_seen: float
    lease_expires_at: float


def _weight(replica_id: str, key: str) -> int:
    digest = hashlib.blake2b(f"{replica_id}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner_of(key: str, replica_ids: Iterable[str]) -> str | None:
    """The replica that runs the duty ``key``: rendezvous (highest random weight) hashing.

    Every replica computes the same answer from the same live set, with no coordination; when a
    replica joins or leaves, only the keys it wins or held move (about 1/n of them)."""
    best: tuple[int, str] | None = None
    for replica_id in replica_ids:
        candidate = (_weight(replica_id, key), replica_id)
        if best is None or candidate > best:
            best = candidate
    return None if best is None else best[1]
