"""Admission: inserting queued jobs, idempotent per ``(project, idempotency_key)``.

The unique index on ``(project, idempotency_key)`` is the arbiter, not a prior read: every insert
is ``INSERT ... ON CONFLICT DO NOTHING``; a row that did not go in lost a race (or was a repeat),
and the job that won is read back. Keys are optional; NULL keys never conflict.

Batch admission pre-reads the existing keys with one query per chunk, folds repeats inside the
batch onto their first occurrence, and inserts the rest in one bulk statement: multi-row INSERTs
(SQLAlchemy's ``executemany`` with RETURNING) on SQLite, ``INSERT ... SELECT FROM unnest(arrays)``
on PostgreSQL.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from reelserve.core.errors import InvalidInput
from reelserve.core.ids import new_id
from reelserve.core.records import Job, JobStatus
from reelserve.store.base import NewJob
from reelserve.store.engine import dialect_insert
from reelserve.store.rows import job_from_row, priority_rank
from reelserve.store.schema import jobs

__all__ = ["insert_job", "insert_jobs", "job_values"]

_KEY_CHUNK = 1000  # (project, key) pairs per pre-read query; well under SQLite's variable limit
Key = tuple[str, str]


def job_values(new: NewJob, now: float) -> dict[str, Any]:
    """The ``jobs`` row of a freshly admitted job (validated)."""
    if new.max_attempts < 1:
        raise InvalidInput("max_attempts must be at least 1", param="max_attempts")
    if not new.project:
        raise InvalidInput("a job needs a project", param="project")
    return {
        "id": new_id("job"),
        "project": new.project,
        "kind": new.kind,
        "status": JobStatus.QUEUED.value,
        "spec": dict(new.spec),
        "priority": priority_rank(new.priority),
        "idempotency_key": new.idempotency_key,
        "deadline": new.deadline,
        "progress": 0.0,
        "attempts": 0,
        "max_attempts": new.max_attempts,
        "error_code": None,
        "error_message": None,
        "lease_owner": None,
        "lease_expires_at": None,
        "output_path": new.output_path,
        "timings": {"queued": now},
        "created_at": now,
        "updated_at": now,
    }


def _insert_stmt(conn: sa.Connection) -> Any:
    return dialect_insert(conn, jobs).on_conflict_do_nothing(index_elements=["project", "idempotency_key"])


def insert_job(conn: sa.Connection, new: NewJob) -> tuple[Job, bool]:
    """Admit one job, or return the job its key already names (and ``False``)."""
    values = job_values(new, time.time())
    if conn.execute(_insert_stmt(conn).values(values).returning(jobs.c.id)).first() is not None:
        return job_from_row(values), True
    row = conn.execute(
        sa.select(jobs).where(jobs.c.project == new.project, jobs.c.idempotency_key == new.idempotency_key)
    ).one()
    return job_from_row(row._mapping), False


def insert_jobs(conn: sa.Connection, news: Sequence[NewJob]) -> list[tuple[Job, bool]]:
    """Admit many jobs in the caller's transaction; results in input order."""
    now = time.time()
    keys = {(n.project, n.idempotency_key) for n in news if n.idempotency_key is not None}
    existing = _existing(conn, keys)
    results: list[tuple[Job, bool] | None] = [None] * len(news)
    pending: dict[int, dict[str, Any]] = {}  # input index -> row to insert
    first_of: dict[Key, int] = {}  # key -> input index of its first occurrence in this batch
    repeats: dict[int, int] = {}  # input index -> index of the first occurrence
    for i, new in enumerate(news):
        key = (new.project, new.idempotency_key) if new.idempotency_key is not None else None
        if key is not None and key in existing:
            results[i] = (existing[key], False)
        elif key is not None and key in first_of:
            repeats[i] = first_of[key]
        else:
            pending[i] = job_values(new, now)
            if key is not None:
                first_of[key] = i
    # Key order = lock order: concurrent batches with overlapping keys then wait, never deadlock.
    ordered = sorted(pending.values(), key=lambda v: (v["project"], v["idempotency_key"] or "", v["id"]))
    inserted = _bulk_insert(conn, ordered)
    lost = {(v["project"], v["idempotency_key"]) for v in pending.values() if v["id"] not in inserted}
    winners = _existing(conn, lost) if lost else {}  # concurrent admissions that beat us
    for i, values in pending.items():
        if values["id"] in inserted:
            results[i] = (job_from_row(values), True)
        else:
            results[i] = (winners[(values["project"], values["idempotency_key"])], False)
    for i, first in repeats.items():
        results[i] = (results[first][0], False)  # type: ignore[index]
    return [r for r in results if r is not None]


def _bulk_insert(conn: sa.Connection, rows: list[dict[str, Any]]) -> set[str]:
    """Insert rows, skipping key conflicts; returns the ids that went in."""
    if not rows:
        return set()
    if conn.dialect.name == "postgresql":
        return set(conn.execute(_unnest_insert(rows)).scalars())
    return set(conn.execute(_insert_stmt(conn).returning(jobs.c.id), rows).scalars())


def _unnest_insert(rows: list[dict[str, Any]]) -> Any:
    # PostgreSQL: one statement with one array parameter per column (INSERT ... SELECT FROM
    # unnest(...)). A multi-row VALUES list of 10,000 rows x 19 columns spends seconds in the
    # driver's parameter handling; 19 arrays take a fraction of that.
    names = [column.name for column in jobs.c]
    arrays = [
        sa.bindparam(name, [row[name] for row in rows], type_=postgresql.ARRAY(jobs.c[name].type))
        for name in names
    ]
    source = sa.func.unnest(*arrays).table_valued(*names).render_derived(name="src")
    return (
        postgresql.insert(jobs)
        .from_select(names, sa.select(*[source.c[n] for n in names]))
        .on_conflict_do_nothing(index_elements=["project", "idempotency_key"])
        .returning(jobs.c.id)
    )


def _existing(conn: sa.Connection, keys: set[Key]) -> dict[Key, Job]:
    """The jobs that already hold any of these ``(project, key)`` pairs."""
    ordered = sorted(keys)
    if conn.dialect.name == "postgresql":
        queries = [_unnest_lookup(ordered)] if ordered else []
    else:
        queries = [
            sa.select(jobs).where(sa.tuple_(jobs.c.project, jobs.c.idempotency_key).in_(chunk))
            for chunk in (ordered[i : i + _KEY_CHUNK] for i in range(0, len(ordered), _KEY_CHUNK))
        ]
    found: dict[Key, Job] = {}
    for query in queries:
        for row in conn.execute(query):
            job = job_from_row(row._mapping)
            found[(job.project, job.idempotency_key or "")] = job
    return found


def _unnest_lookup(keys: list[Key]) -> Any:
    # PostgreSQL: join against two arrays (a hash join on any number of keys) instead of a
    # large row-value IN list, which the planner turns into a slow filter.
    projects = sa.bindparam("projects", [p for p, _ in keys], type_=postgresql.ARRAY(sa.String))
    idem = sa.bindparam("keys", [k for _, k in keys], type_=postgresql.ARRAY(sa.String))
    wanted = sa.func.unnest(projects, idem).table_valued("project", "key").render_derived(name="wanted")
    return sa.select(jobs).join(
        wanted, sa.and_(jobs.c.project == wanted.c.project, jobs.c.idempotency_key == wanted.c.key)
    )
