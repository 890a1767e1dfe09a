"""What a running stage sees: the job, its settings, storage, progress and the cancellation check."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np

from reelserve.core.errors import NotFound, StorageError
from reelserve.core.records import Artifact, BlobRef, GenerationSpec, Job, StageRecord, StageStatus
from reelserve.pipeline.progress import NullProgress, ProgressSink
from reelserve.store.base import BlobStore, Store

__all__ = ["MEMO_BYTES", "IntermediateLost", "StageContext"]

MEMO_BYTES = 256 << 20  #: arrays a run keeps in memory for its own later stages


class IntermediateLost(StorageError):
    """A scratch intermediate a DONE stage recorded is missing or corrupt (scratch blobs are not
    fsynced, so an OS crash can lose one; retention can expire one). The runner marks the stage
    segment that made it as pending and runs the job again from there."""

    code = "intermediate_lost"

    def __init__(self, message: str, *, stage: str, segment: int) -> None:
        super().__init__(message)
        self.stage = stage
        self.segment = segment


@dataclass
class StageContext:
    store: Store
    blobs: BlobStore
    job: Job
    #: Raises ``Cancelled`` (or a lost-lease error) when the job must stop at the next boundary.
    check: Callable[[], None]
    progress: ProgressSink = field(default_factory=NullProgress)
    device: str | None = None
    #: How long intermediates (checkpoints, frames) live after they are written.
    scratch_ttl_s: float = 7 * 24 * 3600.0
    records: dict[tuple[str, int], StageRecord] = field(default_factory=dict)
    #: Set by the runner while the last segment of a stage that stamps the job runs
    #: ("generated", "encoded"); the segment's DONE checkpoint takes it via `job_stamp`.
    stamp: str | None = None
    #: Set by the runner while the job's very last stage segment runs: its DONE checkpoint may take
    #: it via `finishes` and make the job SUCCEEDED in the same transaction (one synced commit less).
    last: bool = False
    #: True once a checkpoint took `finishes()`: the runner then writes no `finish_job`.
    finished: bool = False
    #: Arrays this run wrote, by blob sha256, so a later stage of the same run reads them from
    #: memory instead of reading and re-hashing the blob (bounded by ``MEMO_BYTES``).
    _arrays: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    #: The job's artifacts by name, read on first use and then kept current by `checkpoint`.
    _artifacts: dict[str, Artifact] | None = field(default=None, repr=False)

    def job_stamp(self) -> dict[str, float] | None:
        """``job_timings`` for a DONE checkpoint: the stage's job timestamp, when this segment is
        the stage's last (then the runner writes no separate transaction for it)."""
        if self.stamp is None:
            return None
        stamp, self.stamp = self.stamp, None
        return {stamp: time.time()}

    def finishes(self) -> bool:
        """``finish`` for a DONE checkpoint: True when this is the job's last stage segment (the
        checkpoint then also makes the job SUCCEEDED, and the runner does not finish it again)."""
        if not self.last:
            return False
        self.last, self.finished = False, True
        return True

    @cached_property
    def spec(self) -> GenerationSpec:
        """The job's settings as a generation spec, parsed on first use: job kinds that are not
        generation (an analysis) have their own spec shape and never ask for this one."""
        return GenerationSpec.from_dict(self.job.spec)

    def record(self, stage: str, segment: int = 0) -> StageRecord | None:
        return self.records.get((stage, segment))

    def artifact(self, name: str, ref: BlobRef, *, final: bool = False) -> Artifact:
        now = time.time()
        return Artifact(self.job.id, name, ref, now, None if final else now + self.scratch_ttl_s)

    def checkpoint(self, stage: str, segment: int, status: StageStatus, **kwargs: Any) -> StageRecord:
        """``Store.checkpoint`` for this job, keeping `records` and the artifacts this run sees
        current: while the runner holds the lease nothing else writes the job's stages, so a run
        reads them once instead of before every segment; the job's timestamps it writes are kept in
        `job` too. Stages checkpoint through here only."""
        record = self.store.checkpoint(self.job.id, stage, segment, status, **kwargs)
        self.records[(stage, segment)] = record
        if stamps := kwargs.get("job_timings"):
            self.stamped(stamps)
        if self._artifacts is not None:
            self._artifacts.update((a.name, a) for a in kwargs.get("artifacts", ()))
        return record

    def stamped(self, stamps: dict[str, float]) -> None:
        """Keep `job` current with job timestamps just written for it."""
        self.job = replace(self.job, timings={**self.job.timings, **stamps})

    def artifacts(self) -> dict[str, Artifact]:
        """The job's recorded artifacts by name (read once per run; see `checkpoint`)."""
        if self._artifacts is None:
            self._artifacts = {a.name: a for a in self.store.get_artifacts(self.job.id)}
        return self._artifacts

    def find_artifact(self, name: str) -> Artifact | None:
        return self.artifacts().get(name)

    def read_verified(self, ref: BlobRef) -> bytes:
        """A blob's bytes, checked against its recorded sha256 (a corrupt checkpoint is not used)."""
        from reelserve.core.ids import sha256_bytes

        data = self.blobs.get_bytes(ref)
        if sha256_bytes(data) != ref.sha256:
            raise StorageError(f"blob {ref.sha256[:12]} of job {self.job.id} is corrupt (hash mismatch)")
        return data

    def put_array(self, array: np.ndarray, area: str = "scratch") -> BlobRef:
        buf = io.BytesIO()
        np.save(buf, array, allow_pickle=False)
        ref = self.blobs.put_bytes(buf.getvalue(), area, suffix=".npy")
        while self._arrays and sum(a.nbytes for a in self._arrays.values()) + array.nbytes > MEMO_BYTES:
            self._arrays.pop(next(iter(self._arrays)))  # oldest first
        if array.nbytes <= MEMO_BYTES:
            self._arrays[ref.sha256] = array
        return ref

    def load_array(self, ref: BlobRef) -> np.ndarray:
        if (kept := self._arrays.get(ref.sha256)) is not None:
            return kept
        return np.load(io.BytesIO(self.read_verified(ref)), allow_pickle=False)

    def load_intermediate(self, name: str, stage: str, segment: int) -> np.ndarray:
        """The array artifact ``name`` that segment ``segment`` of ``stage`` made; raises
        `IntermediateLost` (so that segment runs again) when it is gone or corrupt."""
        art = self.find_artifact(name)
        try:
            if art is None:
                raise NotFound(f"no artifact {name!r}")
            return self.load_array(art.blob)
        except (NotFound, StorageError) as exc:
            message = f"{name} of job {self.job.id} is lost ({exc}); {stage} segment {segment} runs again"
            raise IntermediateLost(message, stage=stage, segment=segment) from exc

    def meta(self) -> dict[str, Any]:
        return {"job": self.job.id, "model": self.spec.model}
