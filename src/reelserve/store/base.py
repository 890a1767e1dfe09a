"""The storage seams: ``Store`` (metadata) and ``BlobStore`` (bytes).

Durability contract (docs/durability.md): a stage's output is written to the blob store first
(temp file + rename, content addressed), then recorded together with the stage state in ONE
metadata transaction (``Store.checkpoint``). A crash between the two leaves an unreferenced blob,
never a reference to a missing blob.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from reelserve.core.records import Artifact, BlobRef, Job, JobStatus, Priority, StageRecord, StageStatus

__all__ = ["BlobStore", "JobDraft", "NewJob", "Store"]


class NewJob(Protocol):
    """What ``Store.create_jobs`` needs of each job: any object with these attributes (read-only
    properties, so frozen dataclasses such as ``JobDraft`` qualify too)."""

    @property
    def project(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def spec(self) -> dict[str, Any]: ...
    @property
    def priority(self) -> Priority: ...
    @property
    def idempotency_key(self) -> str | None: ...
    @property
    def deadline(self) -> float | None: ...
    @property
    def max_attempts(self) -> int: ...
    @property
    def output_path(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class JobDraft:
    """A ready-made ``NewJob``: one job for ``Store.create_jobs``, defaults as in ``create_job``."""

    project: str
    kind: str
    spec: dict[str, Any] = field(default_factory=dict)
    priority: Priority = Priority.INTERACTIVE
    idempotency_key: str | None = None
    deadline: float | None = None
    max_attempts: int = 3
    output_path: str | None = None


class Store(Protocol):
    """Job, stage, artifact and lease metadata. Every method is one transaction.

    Implementations: ``SqlStore`` on SQLite (WAL, the default) and PostgreSQL, selected by URL.
    """

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
        """Admit a queued job. ``(project, idempotency_key)`` names one job: a second call returns
        the first job and ``False``, never a second job (also under concurrent callers)."""
        ...

    def create_jobs(self, jobs: Sequence[NewJob]) -> list[tuple[Job, bool]]:
        """Admit many jobs in one transaction (batch admission); idempotent per key like create_job."""
        ...

    def get_job(self, job_id: str) -> Job | None: ...

    def job_status(self, job_id: str) -> JobStatus | None:
        """The job's status alone; None when there is no such job."""
        ...

    def list_jobs(
        self,
        *,
        project: str | None = None,
        status: Sequence[JobStatus] | None = None,
        after: str | None = None,
        limit: int = 100,
        order: str = "desc",
    ) -> list[Job]:
        """Jobs ordered by id (ids sort by creation time); ``after`` is a cursor (a job id)."""
        ...

    def update_job(self, job_id: str, **fields: Any) -> Job:
        """Set fields (status, progress, error_code, error_message, output_path, deadline, priority).
        ``timings`` given here is MERGED into the stored timings, never replacing them."""
        ...

    def claim_job(
        self, worker_id: str, lease_s: float, kinds: Sequence[str] | None = None, job_id: str | None = None
    ) -> Job | None:
        """With ``job_id``: claim that job only if it is queued (the CLI runs the job it submitted).
        Otherwise atomically take the next queued job (interactive before batch, earliest deadline, then
        oldest), or a running job whose lease expired (attempts + 1; over max_attempts it goes
        FAILED with error_code 'lease_expired' onto the dead-letter list). Sets RUNNING, the lease
        owner and expiry. PostgreSQL uses FOR UPDATE SKIP LOCKED."""
        ...

    def heartbeat(self, job_id: str, worker_id: str, lease_s: float) -> bool:
        """Extend the lease; False when the worker no longer owns the job (lost or cancelled)."""
        ...

    def release_job(self, job_id: str, worker_id: str) -> None:
        """Give a running job back to the queue (graceful drain): QUEUED, lease cleared."""
        ...

    def finish_job(
        self,
        job_id: str,
        status: JobStatus,
        *,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> Job:
        """Move to a terminal status, clear the lease, stamp timings['finished']."""
        ...

    def requeue(self, job_id: str) -> Job:
        """Put a failed or running job back to QUEUED (a user's ``jobs resume``), attempts reset."""
        ...

    def dead_letters(self, *, project: str | None = None, limit: int = 100) -> list[Job]: ...

    # -- stages and checkpoints ---------------------------------------------------------------

    def get_stages(self, job_id: str) -> list[StageRecord]:
        """Every stage row of a job, ordered by (stage, segment)."""
        ...

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
        """Upsert one stage row and record its artifacts (and the job's progress and timestamps)
        in ONE transaction. ``timings`` are merged (seconds added per key); ``job_timings`` are
        merged into the job's timestamps (a key is replaced). ``sync`` says whether the commit
        waits for the disk (default: when a final or a failure is recorded). ``finish=True`` (the
        job's last stage segment) also makes the job SUCCEEDED, clears its lease and stamps
        ``finished`` — unless it was cancelled or already succeeded — and always commits synced."""
        ...

    # -- artifacts and retention --------------------------------------------------------------

    def get_artifacts(self, job_id: str) -> list[Artifact]: ...

    def expired_artifacts(self, now: float, limit: int = 1000) -> list[Artifact]:
        """Artifacts whose ``expires_at`` is set and ≤ now (never finals: their expires_at is None)."""
        ...

    def delete_artifacts(self, artifacts: Sequence[Artifact]) -> int: ...

    def blob_referenced(self, sha256: str) -> bool:
        """True while any artifact row references this blob (retention must not delete it)."""
        ...

    def close(self) -> None: ...


class BlobStore(Protocol):
    """Content-addressed bytes in two areas: ``scratch`` (intermediates) and ``durable`` (finals).

    Writes are atomic (temp file + rename): a reader never sees a partial blob. Durable blobs are
    fsynced before a write returns (or, inside ``sync_group()``, when the group exits).
    """

    def put_bytes(self, data: bytes, area: str, suffix: str = "") -> BlobRef: ...

    def sync_group(self) -> AbstractContextManager[None]:
        """Defer the fsyncs of the writes inside the block and run them together at its exit."""
        ...

    def unsynced(self) -> AbstractContextManager[None]:
        """Skip the fsyncs of the writes inside the block (durable too): `seal` them later."""
        ...

    def seal(self, refs: Sequence[BlobRef]) -> None:
        """Verify these blobs' bytes and fsync them together; a bad one is removed and raises
        ``NotFound`` / ``StorageError``."""
        ...

    def presync(self, refs: Sequence[BlobRef]) -> None:
        """Start flushing these blobs in the background (a hint ahead of `seal`; guarantees nothing)."""
        ...

    def put_file(self, path: Path, area: str, suffix: str = "") -> BlobRef:
        """Hash and move/copy a finished local file in (streaming; no whole-file read into memory)."""
        ...

    def open_writer(self, area: str, suffix: str = "") -> Any:
        """A context manager with ``.path`` (a temp path to write) and ``.ref`` after exit."""
        ...

    def path(self, ref: BlobRef) -> Path: ...

    def get_bytes(self, ref: BlobRef) -> bytes: ...

    def exists(self, ref: BlobRef) -> bool: ...

    def delete(self, ref: BlobRef) -> None: ...

    def iter_area(self, area: str) -> Iterator[BlobRef]: ...
