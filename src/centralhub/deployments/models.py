"""Rolling deployments as values: states, batches, the stored record and its event (no imports of ours)."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

STRATEGIES = ("rolling",)


class DeploymentState(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = frozenset({DeploymentState.SUCCEEDED, DeploymentState.FAILED, DeploymentState.CANCELLED})
#: states the one-deployment-per-service rule covers
ACTIVE = frozenset({DeploymentState.PENDING, DeploymentState.RUNNING})


class BatchState(enum.StrEnum):
    PENDING = "pending"
    #: old instances taken out of discovery, waiting for replacements to pass
    WAITING = "waiting"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(slots=True)
class Batch:
    """One step of a rolling deployment: the old instances it drains and what replaced them."""

    index: int
    instance_ids: list[str]
    state: BatchState = BatchState.PENDING
    replacement_ids: list[str] = field(default_factory=list)
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None


@dataclass(slots=True)
class Deployment:
    """A rolling deployment of ``service`` to ``version``; times are epoch seconds."""

    id: str
    tenant_id: str
    service: str
    version: str
    strategy: str
    batch_size: int
    deadline_seconds: float
    state: DeploymentState
    batches: list[Batch]
    created_at: float
    #: instances already at ``version`` when planned; they do not count as replacements
    baseline_ids: list[str] = field(default_factory=list)
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    #: seconds a replaced instance stays draining (serving its last requests) before a
    #: successful deployment deregisters it
    drain_seconds: float = 0.0
    #: the replica running it and until when that claim holds unless renewed
    owner: str | None = None
    lease_expires_at: float | None = None
    cancel_requested_at: float | None = None
    #: after success: when the replaced instances are deregistered (``None`` once done)
    retire_at: float | None = None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def needs_owner(self) -> bool:
        """Whether some replica must be working on it: running, or replaced instances to remove."""
        return self.state in ACTIVE or self.retire_at is not None

    def drained_ids(self) -> list[str]:
        """Old instances of every batch that has started (what a stopped rollout gives back)."""
        return [iid for b in self.batches if b.started_at is not None for iid in b.instance_ids]

    @property
    def batches_done(self) -> int:
        return sum(1 for b in self.batches if b.state == BatchState.DONE)

    def to_record(self) -> dict[str, Any]:
        """Plain data for storage (enums as strings)."""
        record = asdict(self)
        record["state"] = self.state.value
        for b in record["batches"]:
            b["state"] = str(b["state"])
        return record

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> Deployment:
        batches = [
            Batch(
                index=b["index"],
                instance_ids=list(b["instance_ids"]),
                state=BatchState(b["state"]),
                replacement_ids=list(b.get("replacement_ids") or []),
                started_at=b.get("started_at"),
                finished_at=b.get("finished_at"),
                error=b.get("error"),
            )
            for b in r["batches"]
        ]
        return cls(
            id=r["id"],
            tenant_id=r["tenant_id"],
            service=r["service"],
            version=r["version"],
            strategy=r["strategy"],
            batch_size=int(r["batch_size"]),
            deadline_seconds=float(r["deadline_seconds"]),
            state=DeploymentState(r["state"]),
            batches=batches,
            created_at=float(r["created_at"]),
            baseline_ids=list(r.get("baseline_ids") or []),
            started_at=r.get("started_at"),
            finished_at=r.get("finished_at"),
            error=r.get("error"),
            drain_seconds=float(r.get("drain_seconds") or 0.0),
            owner=r.get("owner"),
            lease_expires_at=r.get("lease_expires_at"),
            cancel_requested_at=r.get("cancel_requested_at"),
            retire_at=r.get("retire_at"),
        )


@dataclass(frozen=True, slots=True)
class DeploymentChanged:
    """After commit: a deployment moved on (started, a batch changed, or it finished)."""

    id: str
    tenant_id: str
    service: str
    version: str
    state: DeploymentState
    batches_done: int
    batches_total: int
    error: str | None = None
