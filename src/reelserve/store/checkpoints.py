"""Checkpoints: a stage row, its artifacts and the job's progress, written together.

Runs inside the caller's write transaction, after the job row is locked (so two writers of the
same job's stages serialise, and a missing job is reported before anything is written).

Stage row rules: ``timings`` add up per key across calls; ``state`` and ``output_sha256`` are
replaced when given and kept when ``None``; ``error_code`` is always set as given (``None`` clears
it); ``attempt`` counts the starts of a stage: +1 whenever a checkpoint moves it into RUNNING from
another status, and a row first written as DONE or FAILED counts as one attempt.
Artifacts are upserted on ``(job_id, name)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from reelserve.core.errors import InvalidInput
from reelserve.core.records import Artifact, StageRecord, StageStatus
from reelserve.store.engine import bound_set, bound_values, dialect_insert
from reelserve.store.rows import add_seconds, artifact_values, stage_from_row
from reelserve.store.schema import artifacts, stages

__all__ = ["upsert_artifacts", "upsert_stage"]

_ARTIFACT_FIELDS = ("sha256", "size", "area", "path", "created_at", "expires_at")
_UPDATED = ("status", "attempt", "output_sha256", "state", "timings", "error_code", "updated_at")


_KEY = (
    stages.c.job_id == sa.bindparam("k_job"),
    stages.c.stage == sa.bindparam("k_stage"),
    stages.c.segment == sa.bindparam("k_segment"),
)
# Built once with bound parameters, like the store's other per-job statements (building a statement
# and its cache key cost more Python than SQLite takes to run it; a job runs these at every checkpoint).
_STAGE_ROW = sa.select(stages).where(*_KEY)
_STAGE_INSERT = sa.insert(stages)
_STAGE_UPDATE = sa.update(stages).where(*_KEY).values(bound_set(stages, _UPDATED)).returning(*stages.c)


def upsert_stage(
    conn: sa.Connection,
    job_id: str,
    stage: str,
    segment: int,
    status: StageStatus,
    *,
    output_sha256: str | None,
    state: dict[str, Any] | None,
    timings: dict[str, float] | None,
    error_code: str | None,
    now: float,
) -> StageRecord:
    """Insert or update one stage row (see the module docstring for the merge rules)."""
    status = StageStatus(status)
    key = {"k_job": job_id, "k_stage": stage, "k_segment": segment}
    old = conn.execute(_STAGE_ROW, key).first()
    if old is None:
        values: dict[str, Any] = {
            "job_id": job_id,
            "stage": stage,
            "segment": segment,
            "status": status.value,
            "attempt": 0 if status is StageStatus.PENDING else 1,
            "output_sha256": output_sha256,
            "state": dict(state or {}),
            "timings": add_seconds({}, timings),
            "error_code": error_code,
            "updated_at": now,
        }
        conn.execute(_STAGE_INSERT, values)
        return stage_from_row(values)
    started = status is StageStatus.RUNNING and old.status != StageStatus.RUNNING.value
    new = {
        "status": status.value,
        "attempt": old.attempt + (1 if started else 0),
        "output_sha256": output_sha256 if output_sha256 is not None else old.output_sha256,
        "state": dict(state) if state is not None else old.state,
        "timings": add_seconds(old.timings or {}, timings),
        "error_code": error_code,
        "updated_at": now,
    }
    row = conn.execute(_STAGE_UPDATE, {**key, **bound_values(new)}).one()
    return stage_from_row(row._mapping)


def upsert_artifacts(conn: sa.Connection, job_id: str, items: Sequence[Artifact]) -> None:
    """Record artifacts of ``job_id``; a name already recorded now points at the new blob."""
    if not items:
        return
    for artifact in items:
        if artifact.job_id != job_id:
            raise InvalidInput(
                f"artifact {artifact.name!r} belongs to job {artifact.job_id}, not {job_id}; "
                "checkpoint each job's artifacts with that job",
                param="artifacts",
            )
    conn.execute(_artifact_upsert(conn), [artifact_values(a) for a in items])


_UPSERTS: dict[str, Any] = {}


def _artifact_upsert(conn: sa.Connection) -> Any:
    """The artifact ``INSERT … ON CONFLICT DO UPDATE`` for this dialect, built once (building it
    took 0.5 ms, paid by every checkpoint; statements are immutable, so sharing one is safe)."""
    name = conn.dialect.name
    if name not in _UPSERTS:
        stmt = dialect_insert(conn, artifacts)
        _UPSERTS[name] = stmt.on_conflict_do_update(
            index_elements=["job_id", "name"],
            set_={col: stmt.excluded[col] for col in _ARTIFACT_FIELDS},
        )
    return _UPSERTS[name]
