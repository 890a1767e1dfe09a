"""Conversions between table rows and the domain records of ``reelserve.core.records``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reelserve.core.errors import InvalidInput
from reelserve.core.records import (
    Artifact,
    BlobRef,
    Job,
    JobStatus,
    Priority,
    StageRecord,
    StageStatus,
)
from reelserve.store.schema import PRIORITY_FROM_RANK, PRIORITY_RANK

__all__ = [
    "add_seconds",
    "artifact_from_row",
    "artifact_values",
    "job_from_row",
    "job_status",
    "priority_rank",
    "stage_from_row",
]


def job_from_row(row: Mapping[Any, Any]) -> Job:
    """A ``Job`` from a ``jobs`` row mapping (or the values dict that was inserted)."""
    return Job(
        id=row["id"],
        project=row["project"],
        kind=row["kind"],
        status=JobStatus(row["status"]),
        spec=dict(row["spec"] or {}),
        priority=PRIORITY_FROM_RANK[int(row["priority"])],
        idempotency_key=row["idempotency_key"],
        deadline=row["deadline"],
        progress=float(row["progress"]),
        attempts=int(row["attempts"]),
        max_attempts=int(row["max_attempts"]),
        error_code=row["error_code"],
        error_message=row["error_message"],
        lease_owner=row["lease_owner"],
        lease_expires_at=row["lease_expires_at"],
        output_path=row["output_path"],
        timings=dict(row["timings"] or {}),
        created_at=float(row["created_at"]),
        updated_at=float(row["updated_at"]),
    )


def stage_from_row(row: Mapping[Any, Any]) -> StageRecord:
    return StageRecord(
        job_id=row["job_id"],
        stage=row["stage"],
        segment=int(row["segment"]),
        status=StageStatus(row["status"]),
        attempt=int(row["attempt"]),
        output_sha256=row["output_sha256"],
        state=dict(row["state"] or {}),
        timings=dict(row["timings"] or {}),
        error_code=row["error_code"],
        updated_at=float(row["updated_at"]),
    )


def artifact_from_row(row: Mapping[Any, Any]) -> Artifact:
    blob = BlobRef(sha256=row["sha256"], size=int(row["size"]), area=row["area"], path=row["path"])
    return Artifact(
        job_id=row["job_id"],
        name=row["name"],
        blob=blob,
        created_at=float(row["created_at"]),
        expires_at=row["expires_at"],
    )


def artifact_values(artifact: Artifact) -> dict[str, Any]:
    return {
        "job_id": artifact.job_id,
        "name": artifact.name,
        "sha256": artifact.blob.sha256,
        "size": artifact.blob.size,
        "area": artifact.blob.area,
        "path": artifact.blob.path,
        "created_at": artifact.created_at,
        "expires_at": artifact.expires_at,
    }


def priority_rank(priority: Priority | str) -> int:
    """The stored rank of a priority; raises ``InvalidInput`` naming the valid ones."""
    try:
        return PRIORITY_RANK[Priority(priority)]
    except ValueError:
        valid = ", ".join(p.value for p in Priority)
        raise InvalidInput(f"unknown priority {priority!r}; use one of: {valid}", param="priority") from None


def job_status(value: JobStatus | str) -> JobStatus:
    """A ``JobStatus`` from a member or its value; raises ``InvalidInput`` naming the valid ones."""
    try:
        return JobStatus(value)
    except ValueError:
        valid = ", ".join(s.value for s in JobStatus)
        raise InvalidInput(f"unknown job status {value!r}; use one of: {valid}", param="status") from None


def add_seconds(old: Mapping[str, float], new: Mapping[str, float] | None) -> dict[str, float]:
    """Per-key sum of two timing dicts (stage timings accumulate across attempts and resumes)."""
    merged = dict(old)
    for key, seconds in (new or {}).items():
        merged[key] = merged.get(key, 0.0) + float(seconds)
    return merged
