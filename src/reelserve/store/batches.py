"""Batches: a template plus thousands of variants, admitted in one transaction, and their webhooks.

A variant is a ``jobs`` row with idempotency key ``batch:<batch id>:<variant id>`` (see
``schema_v2``): admitting the same batch again (same ``(project, idempotency_key)``) or the same
variant again returns the jobs already admitted, never new ones. When every variant is terminal the
batch is completed once (``completed_at``) and, when it has a webhook URL, a delivery row is written
in the same transaction; ``webhooks`` in the API sends it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from reelserve.core.ids import new_id
from reelserve.core.records import Job, JobStatus
from reelserve.store.admission import insert_jobs
from reelserve.store.base import JobDraft
from reelserve.store.engine import dialect_insert, transaction
from reelserve.store.rows import job_from_row
from reelserve.store.schema import artifacts, jobs
from reelserve.store.schema_v2 import batches, webhook_deliveries

__all__ = [
    "Batch",
    "Delivery",
    "batch_jobs",
    "batch_summary",
    "complete_batch",
    "create_batch",
    "delivery_rows",
    "due_deliveries",
    "get_batch",
    "open_batches",
    "record_attempt",
    "variant_key",
]

_TERMINAL = [s.value for s in JobStatus if s.terminal]


@dataclass(frozen=True, slots=True)
class Batch:
    id: str
    project: str
    idempotency_key: str | None
    template: dict[str, Any]
    webhook_url: str | None
    webhook_secret: str | None
    total: int
    created_at: float
    completed_at: float | None


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    batch_id: str
    event: str
    url: str
    payload: dict[str, Any]
    attempts: int
    secret: str | None


def variant_key(batch_id: str, variant_id: str) -> str:
    return f"batch:{batch_id}:{variant_id}"


def _key_range(batch_id: str) -> tuple[str, str]:
    prefix = f"batch:{batch_id}:"
    return prefix, prefix[:-1] + ";"  # ';' sorts right after ':'


def _batch(row: Any) -> Batch:
    m = row._mapping
    return Batch(
        m["id"], m["project"], m["idempotency_key"], dict(m["template"] or {}), m["webhook_url"],
        m["webhook_secret"], int(m["total"]), float(m["created_at"]), m["completed_at"],
    )  # fmt: skip


def create_batch(
    engine: sa.Engine,
    *,
    project: str,
    template: dict[str, Any],
    variants: Sequence[tuple[str, JobDraft]],
    idempotency_key: str | None = None,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
) -> tuple[Batch, list[tuple[Job, bool]]]:
    """Admit a batch and its ``(variant_id, job)`` drafts in ONE transaction.

    With an ``idempotency_key`` already used in this project, the existing batch is returned and
    only variants it does not have yet are added. Drafts' own idempotency keys are replaced."""
    now = time.time()
    with transaction(engine, write=True) as conn:
        existing = None
        if idempotency_key is not None:
            existing = conn.execute(
                sa.select(batches).where(
                    batches.c.project == project, batches.c.idempotency_key == idempotency_key
                )
            ).first()
        if existing is None:
            batch_id = new_id("batch")
            conn.execute(
                sa.insert(batches).values(
                    id=batch_id, project=project, idempotency_key=idempotency_key, template=template,
                    webhook_url=webhook_url, webhook_secret=webhook_secret, total=0, created_at=now,
                    completed_at=None,
                )
            )  # fmt: skip
        else:
            batch_id = existing.id
        drafts = [_keyed(draft, project, batch_id, vid) for vid, draft in variants]
        results = insert_jobs(conn, drafts)
        lo, hi = _key_range(batch_id)
        total = conn.scalar(
            sa.select(sa.func.count())
            .select_from(jobs)
            .where(jobs.c.project == project, jobs.c.idempotency_key >= lo, jobs.c.idempotency_key < hi)
        )
        if any(created for _, created in results):  # new variants reopen a completed batch
            conn.execute(sa.update(batches).where(batches.c.id == batch_id).values(completed_at=None))
        conn.execute(sa.update(batches).where(batches.c.id == batch_id).values(total=int(total or 0)))
        row = conn.execute(sa.select(batches).where(batches.c.id == batch_id)).one()
    return _batch(row), results


def _keyed(draft: JobDraft, project: str, batch_id: str, variant_id: str) -> JobDraft:
    spec = {**draft.spec, "batch_id": batch_id, "variant_id": variant_id}
    key = variant_key(batch_id, variant_id)
    return JobDraft(project, draft.kind, spec, draft.priority, key, draft.deadline, draft.max_attempts, None)


def get_batch(engine: sa.Engine, batch_id: str) -> Batch | None:
    with transaction(engine, write=False) as conn:
        row = conn.execute(sa.select(batches).where(batches.c.id == batch_id)).first()
    return None if row is None else _batch(row)


def _batch_where(batch: Batch) -> list[Any]:
    lo, hi = _key_range(batch.id)
    return [jobs.c.project == batch.project, jobs.c.idempotency_key >= lo, jobs.c.idempotency_key < hi]


def batch_summary(engine: sa.Engine, batch: Batch) -> dict[str, int]:
    """Variant counts by job status (every status present, zeros included)."""
    with transaction(engine, write=False) as conn:
        return _summary(conn, batch)


def _summary(conn: sa.Connection, batch: Batch) -> dict[str, int]:
    query = sa.select(jobs.c.status, sa.func.count()).where(*_batch_where(batch)).group_by(jobs.c.status)
    counts = {status: int(n) for status, n in conn.execute(query)}
    return {s.value: counts.get(s.value, 0) for s in JobStatus}


def batch_jobs(engine: sa.Engine, batch: Batch, page: int = 1000) -> Iterator[tuple[Job, dict[str, Any]]]:
    """Every variant's job with its final artifacts ``{name: {sha256, bytes}}``, in key order."""
    after = ""
    while True:
        query = (
            sa.select(jobs)
            .where(*_batch_where(batch), jobs.c.idempotency_key > after)
            .order_by(jobs.c.idempotency_key)
            .limit(page)
        )
        with transaction(engine, write=False) as conn:
            rows = [job_from_row(r._mapping) for r in conn.execute(query)]
            finals = _finals(conn, [j.id for j in rows])
        yield from ((job, finals.get(job.id, {})) for job in rows)
        if len(rows) < page:
            return
        after = rows[-1].idempotency_key or ""


def _finals(conn: sa.Connection, job_ids: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if not job_ids:
        return out
    query = sa.select(artifacts.c.job_id, artifacts.c.name, artifacts.c.sha256, artifacts.c.size).where(
        artifacts.c.job_id.in_(job_ids), artifacts.c.expires_at.is_(None)
    )
    for row in conn.execute(query):
        out.setdefault(row.job_id, {})[row.name] = {"sha256": row.sha256, "bytes": int(row.size)}
    return out


def open_batches(engine: sa.Engine, limit: int = 100) -> list[Batch]:
    query = sa.select(batches).where(batches.c.completed_at.is_(None)).order_by(batches.c.id).limit(limit)
    with transaction(engine, write=False) as conn:
        return [_batch(r) for r in conn.execute(query)]


def complete_batch(engine: sa.Engine, batch: Batch, payload: dict[str, Any]) -> bool:
    """Mark a batch complete if every variant is terminal; queue its webhook delivery (``payload``
    plus the final ``counts``) in the same transaction. True only for the call that completed it."""
    now = time.time()
    with transaction(engine, write=True) as conn:
        open_jobs = conn.scalar(
            sa.select(sa.func.count())
            .select_from(jobs)
            .where(*_batch_where(batch), jobs.c.status.not_in(_TERMINAL))
        )
        if open_jobs:
            return False
        done = conn.execute(
            sa.update(batches)
            .where(batches.c.id == batch.id, batches.c.completed_at.is_(None))
            .values(completed_at=now)
        )
        if done.rowcount != 1:
            return False
        if batch.webhook_url:
            payload = {**payload, "counts": _summary(conn, batch)}
            stmt = dialect_insert(conn, webhook_deliveries).values(
                id=new_id("whd"), batch_id=batch.id, event="batch.completed", url=batch.webhook_url,
                payload=payload, status="pending", attempts=0, next_attempt_at=now, created_at=now,
            )  # fmt: skip
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["batch_id", "event"]))
    return True


def due_deliveries(engine: sa.Engine, now: float, limit: int = 20) -> list[Delivery]:
    query = (
        sa.select(webhook_deliveries, batches.c.webhook_secret)
        .join(batches, batches.c.id == webhook_deliveries.c.batch_id)
        .where(webhook_deliveries.c.status == "pending", webhook_deliveries.c.next_attempt_at <= now)
        .order_by(webhook_deliveries.c.next_attempt_at)
        .limit(limit)
    )
    with transaction(engine, write=False) as conn:
        return [
            Delivery(r.id, r.batch_id, r.event, r.url, dict(r.payload), int(r.attempts), r.webhook_secret)
            for r in conn.execute(query)
        ]


def record_attempt(
    engine: sa.Engine,
    delivery_id: str,
    *,
    ok: bool,
    http_status: int | None,
    error: str | None,
    next_attempt_at: float | None,
) -> None:
    """Record one attempt: delivered, retried later (``next_attempt_at``), or given up (None)."""
    now = time.time()
    status = "delivered" if ok else ("pending" if next_attempt_at is not None else "failed")
    with transaction(engine, write=True) as conn:
        conn.execute(
            sa.update(webhook_deliveries)
            .where(webhook_deliveries.c.id == delivery_id)
            .values(
                status=status,
                attempts=webhook_deliveries.c.attempts + 1,
                last_status=http_status,
                last_error=error,
                next_attempt_at=next_attempt_at if next_attempt_at is not None else now,
                delivered_at=now if ok else None,
            )
        )


def delivery_rows(engine: sa.Engine, batch_id: str) -> list[dict[str, Any]]:
    query = sa.select(webhook_deliveries).where(webhook_deliveries.c.batch_id == batch_id)
    with transaction(engine, write=False) as conn:
        return [dict(r._mapping) for r in conn.execute(query)]
