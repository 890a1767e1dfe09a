"""What a running stage sees: the job, its settings, storage, progress and the cancellation check."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reelserve.core.errors import StorageError
from reelserve.core.records import Artifact, BlobRef, GenerationSpec, Job, StageRecord
from reelserve.pipeline.progress import NullProgress, ProgressSink
from reelserve.store.base import BlobStore, Store

__all__ = ["StageContext"]


@dataclass
class StageContext:
    store: Store
    blobs: BlobStore
    job: Job
    spec: GenerationSpec
    #: Raises ``Cancelled`` (or a lost-lease error) when the job must stop at the next boundary.
    check: Callable[[], None]
    progress: ProgressSink = field(default_factory=NullProgress)
    device: str | None = None
    #: How long intermediates (checkpoints, frames) live after they are written.
    scratch_ttl_s: float = 7 * 24 * 3600.0
    records: dict[tuple[str, int], StageRecord] = field(default_factory=dict)

    def record(self, stage: str, segment: int = 0) -> StageRecord | None:
        return self.records.get((stage, segment))

    def artifact(self, name: str, ref: BlobRef, *, final: bool = False) -> Artifact:
        now = time.time()
        return Artifact(self.job.id, name, ref, now, None if final else now + self.scratch_ttl_s)

    def find_artifact(self, name: str) -> Artifact | None:
        for art in self.store.get_artifacts(self.job.id):
            if art.name == name:
                return art
        return None

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
        return self.blobs.put_bytes(buf.getvalue(), area, suffix=".npy")

    def load_array(self, ref: BlobRef) -> np.ndarray:
        return np.load(io.BytesIO(self.read_verified(ref)), allow_pickle=False)

    def meta(self) -> dict[str, Any]:
        return {"job": self.job.id, "model": self.spec.model}
