"""Read-only aggregate queries for operations: queue depth by status, recently finished jobs."""

from __future__ import annotations

import sqlalchemy as sa

from reelserve.core.records import Job, JobStatus, StageRecord
from reelserve.store.engine import transaction
from reelserve.store.rows import job_from_row, stage_from_row
from reelserve.store.schema import jobs, stages

__all__ = ["count_by_status", "finished_since", "job_with_stages"]

_TERMINAL = [s.value for s in JobStatus if s.terminal]


def count_by_status(engine: sa.Engine, *, project: str | None = None) -> dict[str, int]:
    """Jobs per status (every status present); served by the claim index."""
    query = sa.select(jobs.c.status, sa.func.count()).group_by(jobs.c.status)
    if project is not None:
        query = query.where(jobs.c.project == project)
    with transaction(engine, write=False) as conn:
        counts = {status: int(n) for status, n in conn.execute(query)}
    return {s.value: counts.get(s.value, 0) for s in JobStatus}


def finished_since(engine: sa.Engine, since: float, limit: int = 500) -> list[Job]:
    """Terminal jobs last updated after ``since``, oldest update first (a metrics watermark scan)."""
    query = (
        sa.select(jobs)
        .where(jobs.c.status.in_(_TERMINAL), jobs.c.updated_at > since)
        .order_by(jobs.c.updated_at)
        .limit(limit)
    )
    with transaction(engine, write=False) as conn:
        return [job_from_row(r._mapping) for r in conn.execute(query)]


def job_with_stages(engine: sa.Engine, job_id: str) -> tuple[Job | None, list[StageRecord]]:
    """A job and its stage rows in one read transaction (a status poll is one round of reads)."""
    with transaction(engine, write=False) as conn:
        row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).first()
        if row is None:
            return None, []
        query = sa.select(stages).where(stages.c.job_id == job_id).order_by(stages.c.stage, stages.c.segment)
        return job_from_row(row._mapping), [stage_from_row(r._mapping) for r in conn.execute(query)]
