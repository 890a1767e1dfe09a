"""Leases: claiming queued work, taking back expired claims, dead-lettering exhausted jobs.

A claim is a lease: ``lease_owner`` + ``lease_expires_at``. ``attempts`` counts claims. When a
lease expires, the next claimer takes the job back before choosing: a job that already used all
``max_attempts`` claims goes FAILED with ``error_code='lease_expired'`` (the dead-letter list),
any other goes back to QUEUED and is claimed in the normal order (attempts + 1 at that claim).

Order of claims: interactive before batch, then earliest deadline (no deadline last), then the
oldest id. On PostgreSQL every candidate read is ``FOR UPDATE SKIP LOCKED``, so concurrent
claimers never wait on each other's rows and never take the same job; on SQLite the caller's
``BEGIN IMMEDIATE`` serialises claimers.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from reelserve.core.records import Job, JobStatus
from reelserve.store.rows import job_from_row
from reelserve.store.schema import CLAIM_ORDER, jobs

__all__ = ["LEASE_EXPIRED", "claim_next", "expire_leases"]

LEASE_EXPIRED = "lease_expired"
_EXPIRE_BATCH = 100

# Built once with bound parameters: every job's claim runs these (building them cost more Python
# than SQLite takes to run them).
_EXPIRED = (
    sa.select(jobs.c.id, jobs.c.attempts, jobs.c.max_attempts, jobs.c.timings)
    .where(jobs.c.status == JobStatus.RUNNING.value, jobs.c.lease_expires_at <= sa.bindparam("now"))
    .order_by(jobs.c.lease_expires_at)
    .limit(_EXPIRE_BATCH)
    .with_for_update(skip_locked=True)
)
_CLAIM = (
    sa.update(jobs)
    .where(jobs.c.id == sa.bindparam("job_id"))
    .values(
        status=JobStatus.RUNNING.value,
        lease_owner=sa.bindparam("owner"),
        lease_expires_at=sa.bindparam("expires"),
        attempts=sa.bindparam("attempts"),
        timings=sa.bindparam("timings", type_=jobs.c.timings.type),
        updated_at=sa.bindparam("now"),
    )
    .returning(*jobs.c)
)
_CANDIDATES: dict[tuple[bool, bool], sa.Select[tuple[str, int, dict[str, float]]]] = {}


def _candidate(*, by_id: bool, by_kind: bool) -> sa.Select[tuple[str, int, dict[str, float]]]:
    """The next queued job's row (``:job_id`` exactly, of ``:kinds``), locked; one statement per shape."""
    key = (by_id, by_kind)
    if key not in _CANDIDATES:
        queued = jobs.c.status == JobStatus.QUEUED.value
        query = sa.select(jobs.c.id, jobs.c.attempts, jobs.c.timings).where(queued)
        if by_id:
            query = query.where(jobs.c.id == sa.bindparam("job_id"))
        if by_kind:
            query = query.where(jobs.c.kind.in_(sa.bindparam("kinds", expanding=True)))
        _CANDIDATES[key] = query.order_by(*CLAIM_ORDER).limit(1).with_for_update(skip_locked=True)
    return _CANDIDATES[key]


def expire_leases(conn: sa.Connection, now: float) -> int:
    """Take back up to a batch of expired leases; returns how many jobs changed."""
    expired = conn.execute(_EXPIRED, {"now": now}).all()
    back = [row.id for row in expired if row.attempts < row.max_attempts]
    if back:
        conn.execute(
            sa.update(jobs)
            .where(jobs.c.id.in_(back))
            .values(status=JobStatus.QUEUED.value, lease_owner=None, lease_expires_at=None, updated_at=now)
        )
    for row in expired:
        if row.attempts >= row.max_attempts:
            message = (
                f"the worker's lease expired on each of {row.attempts} attempts (worker lost or stuck); "
                "inspect the worker logs, then `reelserve jobs resume` to try again"
            )
            conn.execute(
                sa.update(jobs)
                .where(jobs.c.id == row.id)
                .values(
                    status=JobStatus.FAILED.value,
                    error_code=LEASE_EXPIRED,
                    error_message=message,
                    lease_owner=None,
                    lease_expires_at=None,
                    timings={**(row.timings or {}), "finished": now},
                    updated_at=now,
                )
            )
    return len(expired)


def claim_next(
    conn: sa.Connection,
    worker_id: str,
    lease_s: float,
    kinds: Sequence[str] | None,
    now: float,
    *,
    job_id: str | None = None,
) -> Job | None:
    """Lease the next queued job (or exactly ``job_id``) to ``worker_id`` in the caller's write
    transaction."""
    query = _candidate(by_id=job_id is not None, by_kind=kinds is not None)
    params: dict[str, Any] = {} if job_id is None else {"job_id": job_id}
    if kinds is not None:
        params["kinds"] = list(kinds)
    row = conn.execute(query, params).first()
    if row is None:
        return None
    timings = dict(row.timings or {})
    # Read the clock now, holding the row: ``now`` was taken before the write lock was granted, and
    # the job may have been admitted (and stamped ``queued``) while this worker waited for it.
    timings.setdefault("started", max(now, time.time()))
    values = {"owner": worker_id, "expires": now + lease_s, "attempts": row.attempts + 1, "timings": timings}
    claimed = conn.execute(_CLAIM, {"job_id": row.id, "now": now, **values}).one()
    return job_from_row(claimed._mapping)
