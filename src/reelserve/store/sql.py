"""``SqlStore``: the ``Store`` protocol on SQLAlchemy Core, for SQLite files and PostgreSQL.

Open it with ``open_store(url)`` (creates the engine and applies pending migrations). Every public
method is one transaction; a writer's transaction takes the SQLite write lock at BEGIN, or locks
the rows it reads on PostgreSQL. A store holds a connection pool: open one per process (after a
fork), and ``close()`` it when done.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

import sqlalchemy as sa

from reelserve.core.errors import Conflict, InvalidInput, NotFound
from reelserve.core.records import Artifact, Job, JobStatus, Priority, StageRecord, StageStatus
from reelserve.store.admission import insert_job, insert_jobs
from reelserve.store.base import JobDraft, NewJob
from reelserve.store.checkpoints import upsert_artifacts, upsert_stage
from reelserve.store.engine import bound_set, bound_values, make_engine, transaction
from reelserve.store.leases import claim_next, expire_leases
from reelserve.store.migrations import migrate
from reelserve.store.rows import artifact_from_row, job_from_row, job_status, priority_rank, stage_from_row
from reelserve.store.schema import artifacts as artifact_table
from reelserve.store.schema import jobs, stages

__all__ = ["SqlStore", "open_store"]

#: Fields ``update_job`` may set.
UPDATABLE = frozenset(
    {"status", "progress", "error_code", "error_message", "output_path", "deadline", "priority", "timings"}
)
_NO_LEASE = {"lease_owner": None, "lease_expires_at": None}
_FINAL = (JobStatus.SUCCEEDED, JobStatus.CANCELLED)


def _finished(
    status: JobStatus,
    timings: dict[str, float],
    now: float,
    error_code: str | None = None,
    error_message: str | None = None,
) -> dict[str, Any]:
    """The job row's values when it reaches a terminal ``status`` at ``now``: lease cleared,
    ``timings['finished']`` stamped (`finish_job` and a finishing checkpoint write the same)."""
    return {
        "status": status.value,
        "error_code": error_code,
        "error_message": error_message,
        "timings": {**timings, "finished": now},
        **_NO_LEASE,
    }


# The statements every job runs several times, built once with bound parameters: building a select
# and its cache key costs ~0.5 ms of Python per call, more than SQLite takes to run it.
_JOB_BY_ID = sa.select(jobs).where(jobs.c.id == sa.bindparam("job_id"))
_LOCK_JOB = _JOB_BY_ID.with_for_update()
_STATUS_OF_JOB = sa.select(jobs.c.status).where(jobs.c.id == sa.bindparam("job_id"))
_STAGES_OF_JOB = (
    sa.select(stages)
    .where(stages.c.job_id == sa.bindparam("job_id"))
    .order_by(stages.c.stage, stages.c.segment)
)


def open_store(url: str) -> SqlStore:
    """Open (and migrate) the store at ``url``: ``sqlite:///path/reelserve.db`` or
    ``postgresql+psycopg://user@host/db`` (``?options=-csearch_path%3Dname`` picks a schema)."""
    engine = make_engine(url)
    try:
        migrate(engine)
    except BaseException:
        engine.dispose()
        raise
    return SqlStore(engine)


_JOB_UPDATES: dict[frozenset[str], Any] = {}


def _job_update(columns: frozenset[str]) -> Any:
    """``UPDATE jobs SET <columns> WHERE id = :job_id`` with bound values (``v_<column>``), built
    once per set of columns (a checkpoint sets one of a few sets: progress, timings, a finish)."""
    if columns not in _JOB_UPDATES:
        bound = bound_set(jobs, sorted(columns))
        _JOB_UPDATES[columns] = sa.update(jobs).where(jobs.c.id == sa.bindparam("job_id")).values(bound)
    return _JOB_UPDATES[columns]


class SqlStore:
    """``Store`` over a migrated SQLAlchemy engine (see ``reelserve.store.base.Store``)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def __enter__(self) -> SqlStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    def _read(self) -> AbstractContextManager[sa.Connection]:
        return transaction(self.engine, write=False)

    def _write(self, *, sync: bool = True) -> AbstractContextManager[sa.Connection]:
        return transaction(self.engine, write=True, sync=sync)

    # -- admission ----------------------------------------------------------------------------

    def create_job(
        self,
        *,
        project: str,
        kind: str,
        spec: dict[str, Any],
        priority: Priority = Priority.INTERACTIVE,
        idempotency_key: str | None = None,
        deadline: float | None = None,
        max_attempts: int = 3,
        output_path: str | None = None,
    ) -> tuple[Job, bool]:
        new = JobDraft(project, kind, spec, priority, idempotency_key, deadline, max_attempts, output_path)
        with self._write() as conn:
            return insert_job(conn, new)

    def create_jobs(self, jobs: Sequence[NewJob]) -> list[tuple[Job, bool]]:
        with self._write() as conn:
            return insert_jobs(conn, jobs)

    # -- reading jobs -------------------------------------------------------------------------

    def get_job(self, job_id: str) -> Job | None:
        with self._read() as conn:
            row = conn.execute(_JOB_BY_ID, {"job_id": job_id}).first()
        return job_from_row(row._mapping) if row is not None else None

    def job_status(self, job_id: str) -> JobStatus | None:
        """Just the job's status (a running job polls it for cancellation several times a second)."""
        with self._read() as conn:
            status = conn.execute(_STATUS_OF_JOB, {"job_id": job_id}).scalar()
        return None if status is None else JobStatus(status)

    def list_jobs(
        self,
        *,
        project: str | None = None,
        status: Sequence[JobStatus] | None = None,
        after: str | None = None,
        limit: int = 100,
        order: str = "desc",
    ) -> list[Job]:
        """Jobs ordered by id; ``after`` is the last id of the previous page (exclusive)."""
        if order not in ("asc", "desc"):
            raise InvalidInput(f"order must be 'asc' or 'desc', not {order!r}", param="order")
        if limit < 0:
            raise InvalidInput(f"limit must be 0 or more, not {limit}", param="limit")
        query = sa.select(jobs)
        if project is not None:
            query = query.where(jobs.c.project == project)
        if status is not None:
            query = query.where(jobs.c.status.in_([job_status(s).value for s in status]))
        if after is not None:
            query = query.where(jobs.c.id > after if order == "asc" else jobs.c.id < after)
        query = query.order_by(jobs.c.id.asc() if order == "asc" else jobs.c.id.desc()).limit(limit)
        with self._read() as conn:
            return [job_from_row(row._mapping) for row in conn.execute(query)]

    def dead_letters(self, *, project: str | None = None, limit: int = 100) -> list[Job]:
        """FAILED jobs (permanent errors and exhausted retries), newest first."""
        return self.list_jobs(project=project, status=[JobStatus.FAILED], limit=limit, order="desc")

    # -- changing jobs ------------------------------------------------------------------------

    def update_job(self, job_id: str, **fields: Any) -> Job:
        """Set ``UPDATABLE`` fields; ``timings`` merge into the stored ones. A status other than
        RUNNING clears the lease (so the worker's next heartbeat returns False)."""
        unknown = set(fields) - UPDATABLE
        if unknown:
            raise InvalidInput(
                f"cannot update {sorted(unknown)}; updatable fields: {sorted(UPDATABLE)}", param="fields"
            )
        values = dict(fields)
        if "status" in values:
            values["status"] = job_status(values["status"]).value
            if values["status"] != JobStatus.RUNNING.value:
                values.update(_NO_LEASE)
        if "priority" in values:
            values["priority"] = priority_rank(values["priority"])
        with self._write() as conn:
            current = self._lock_job(conn, job_id)
            if "timings" in values:
                values["timings"] = {**current.timings, **(values["timings"] or {})}
            return self._set(conn, job_id, values)

    def finish_job(
        self,
        job_id: str,
        status: JobStatus,
        *,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> Job:
        """Move to a terminal status, clear the lease, stamp ``timings['finished']``.

        SUCCEEDED and CANCELLED are final: finishing such a job with another status raises
        ``Conflict`` (a stale worker must not overwrite a user's cancel or another worker's
        success). A FAILED job may still become SUCCEEDED (a slow worker finished after its lease
        was declared lost)."""
        status = job_status(status)
        if not status.terminal:
            raise InvalidInput(f"finish_job needs a terminal status, not {status.value!r}", param="status")
        with self._write() as conn:
            current = self._lock_job(conn, job_id)
            if current.status in _FINAL and current.status is not status:
                raise Conflict(
                    f"job {job_id} is already {current.status.value}; it cannot become {status.value}",
                    param="status",
                )
            values = _finished(status, current.timings, time.time(), error_code, error_message)
            return self._set(conn, job_id, values)

    def requeue(self, job_id: str) -> Job:
        """Back to QUEUED with attempts reset, lease and error cleared, ``timings['finished']``
        dropped (stages are kept: the run resumes). A SUCCEEDED job raises ``Conflict``."""
        with self._write() as conn:
            current = self._lock_job(conn, job_id)
            if current.status is JobStatus.SUCCEEDED:
                raise Conflict(f"job {job_id} already succeeded; submit a new job to render it again")
            timings = {k: v for k, v in current.timings.items() if k != "finished"}
            values = {
                "status": JobStatus.QUEUED.value,
                "attempts": 0,
                "error_code": None,
                "error_message": None,
                "timings": timings,
                **_NO_LEASE,
            }
            return self._set(conn, job_id, values)

    # -- leases -------------------------------------------------------------------------------

    def claim_job(
        self, worker_id: str, lease_s: float, kinds: Sequence[str] | None = None, job_id: str | None = None
    ) -> Job | None:
        now = time.time()
        # A claim that an OS crash takes back only puts the job back in the queue (and every
        # later synced commit makes it durable anyway): its commit need not wait for the disk.
        with self._write(sync=False) as conn:
            expire_leases(conn, now)
            return claim_next(conn, worker_id, lease_s, kinds, now, job_id=job_id)

    def heartbeat(self, job_id: str, worker_id: str, lease_s: float) -> bool:
        now = time.time()
        with self._write(sync=False) as conn:  # a lease extension lost to an OS crash is moot
            result = conn.execute(
                sa.update(jobs)
                .where(
                    jobs.c.id == job_id,
                    jobs.c.lease_owner == worker_id,
                    jobs.c.status == JobStatus.RUNNING.value,
                )
                .values(lease_expires_at=now + lease_s, updated_at=now)
            )
            return bool(result.rowcount == 1)

    def release_job(self, job_id: str, worker_id: str) -> None:
        """Hand a running job back (graceful drain): QUEUED, lease cleared, and the claim is not
        counted (attempts - 1). A no-op when ``worker_id`` no longer owns the job; ``NotFound``
        when there is no such job."""
        with self._write() as conn:
            current = self._lock_job(conn, job_id)
            if current.status is not JobStatus.RUNNING or current.lease_owner != worker_id:
                return
            values = {"status": JobStatus.QUEUED.value, "attempts": max(current.attempts - 1, 0), **_NO_LEASE}
            self._set(conn, job_id, values)

    # -- stages and checkpoints ---------------------------------------------------------------

    def get_stages(self, job_id: str) -> list[StageRecord]:
        with self._read() as conn:
            return [stage_from_row(row._mapping) for row in conn.execute(_STAGES_OF_JOB, {"job_id": job_id})]

    def checkpoint(
        self,
        job_id: str,
        stage: str,
        segment: int,
        status: StageStatus,
        *,
        output_sha256: str | None = None,
        state: dict[str, Any] | None = None,
        timings: dict[str, float] | None = None,
        error_code: str | None = None,
        artifacts: Sequence[Artifact] = (),
        job_progress: float | None = None,
        job_timings: dict[str, float] | None = None,
        sync: bool | None = None,
        finish: bool = False,
    ) -> StageRecord:
        now = time.time()
        if sync is None:
            # A checkpoint that records only scratch blobs (or none) is work that can be redone: its
            # commit need not wait for the disk. One that records a final does (docs/durability.md).
            sync = any(art.blob.area != "scratch" for art in artifacts) or status is StageStatus.FAILED
        with self._write(sync=sync or finish) as conn:
            current = self._lock_job(conn, job_id)
            record = upsert_stage(
                conn,
                job_id,
                stage,
                segment,
                status,
                output_sha256=output_sha256,
                state=state,
                timings=timings,
                error_code=error_code,
                now=now,
            )
            upsert_artifacts(conn, job_id, artifacts)
            values: dict[str, Any] = {}
            if job_progress is not None:
                values["progress"] = job_progress
            if job_timings:
                values["timings"] = {**current.timings, **job_timings}
            if finish and current.status not in _FINAL:  # a cancel that landed first stands
                values.update(_finished(JobStatus.SUCCEEDED, values.get("timings", current.timings), now))
            if values:
                values["updated_at"] = now
                conn.execute(_job_update(frozenset(values)), {"job_id": job_id, **bound_values(values)})
            return record

    # -- artifacts and retention --------------------------------------------------------------

    def get_artifacts(self, job_id: str) -> list[Artifact]:
        table = artifact_table
        query = sa.select(table).where(table.c.job_id == job_id).order_by(table.c.name)
        with self._read() as conn:
            return [artifact_from_row(row._mapping) for row in conn.execute(query)]

    def expired_artifacts(self, now: float, limit: int = 1000) -> list[Artifact]:
        """Expired artifacts, soonest expiry first; never any in the durable area."""
        query = (
            sa.select(artifact_table)
            .where(
                artifact_table.c.expires_at.is_not(None),
                artifact_table.c.expires_at <= now,
                artifact_table.c.area != "durable",
            )
            .order_by(artifact_table.c.expires_at)
            .limit(limit)
        )
        with self._read() as conn:
            return [artifact_from_row(row._mapping) for row in conn.execute(query)]

    def delete_artifacts(self, artifacts: Sequence[Artifact]) -> int:
        """Delete these artifact rows; a row whose name now points at another blob is kept.
        Returns the number of rows deleted."""
        deleted = 0
        with self._write() as conn:
            for art in artifacts:
                result = conn.execute(
                    sa.delete(artifact_table).where(
                        artifact_table.c.job_id == art.job_id,
                        artifact_table.c.name == art.name,
                        artifact_table.c.sha256 == art.blob.sha256,
                    )
                )
                deleted += result.rowcount
        return deleted

    def blob_referenced(self, sha256: str) -> bool:
        query = sa.select(sa.literal(1)).where(artifact_table.c.sha256 == sha256).limit(1)
        with self._read() as conn:
            return conn.execute(query).first() is not None

    def close(self) -> None:
        self.engine.dispose()

    # -- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _lock_job(conn: sa.Connection, job_id: str) -> Job:
        row = conn.execute(_LOCK_JOB, {"job_id": job_id}).first()
        if row is None:
            raise NotFound(f"no job {job_id!r}; list jobs to find its id", param="job_id")
        return job_from_row(row._mapping)

    @staticmethod
    def _set(conn: sa.Connection, job_id: str, values: dict[str, Any]) -> Job:
        row = conn.execute(
            sa.update(jobs)
            .where(jobs.c.id == job_id)
            .values(**values, updated_at=time.time())
            .returning(*jobs.c)
        ).one()
        return job_from_row(row._mapping)
