"""Retention: expired scratch goes; finals and still-referenced blobs stay."""

from __future__ import annotations

import os
import time

import pytest

from reelserve.core.records import Artifact, BlobRef, StageStatus
from reelserve.store import FsBlobStore, SqlStore, retention, sweep, sweep_orphans


def _art(job_id: str, name: str, ref: BlobRef, expires_at: float | None) -> Artifact:
    return Artifact(job_id=job_id, name=name, blob=ref, created_at=0.0, expires_at=expires_at)


def test_sweep_deletes_expired_scratch_and_keeps_finals(store: SqlStore, blobs: FsBlobStore) -> None:
    job, _ = store.create_job(project="p", kind="t2v", spec={})
    latents = blobs.put_bytes(b"latents", "scratch", ".npy")
    frames = blobs.put_bytes(b"frames", "scratch", ".npy")
    video = blobs.put_bytes(b"video", "durable", ".mp4")
    store.checkpoint(
        job.id,
        "encode",
        0,
        StageStatus.DONE,
        artifacts=[
            _art(job.id, "latents/s0", latents, expires_at=100.0),
            _art(job.id, "frames/s0", frames, expires_at=500.0),  # not yet expired
            _art(job.id, "video", video, expires_at=None),
        ],
    )
    assert sweep(store, blobs, now=200.0) == 1
    assert not blobs.exists(latents)
    assert blobs.exists(frames) and blobs.exists(video)
    assert [a.name for a in store.get_artifacts(job.id)] == ["frames/s0", "video"]

    assert sweep(store, blobs, now=10_000.0) == 1
    assert [a.name for a in store.get_artifacts(job.id)] == ["video"]
    assert blobs.exists(video)
    assert sweep(store, blobs, now=10_000.0) == 0


def test_sweep_keeps_a_blob_another_artifact_references(store: SqlStore, blobs: FsBlobStore) -> None:
    a, _ = store.create_job(project="p", kind="t2v", spec={})
    b, _ = store.create_job(project="p", kind="t2v", spec={})
    shared = blobs.put_bytes(b"same latents", "scratch", ".npy")
    store.checkpoint(a.id, "denoise", 0, StageStatus.DONE, artifacts=[_art(a.id, "latents", shared, 100.0)])
    store.checkpoint(b.id, "denoise", 0, StageStatus.DONE, artifacts=[_art(b.id, "latents", shared, 900.0)])
    assert sweep(store, blobs, now=200.0) == 1
    assert blobs.exists(shared)  # b still references it
    assert sweep(store, blobs, now=1_000.0) == 1
    assert not blobs.exists(shared)


def test_sweep_never_touches_the_durable_area(store: SqlStore, blobs: FsBlobStore) -> None:
    job, _ = store.create_job(project="p", kind="t2v", spec={})
    final = blobs.put_bytes(b"final", "durable", ".mp4")
    # Even a (mis)recorded expiry on a durable blob does not delete it.
    store.checkpoint(job.id, "encode", 0, StageStatus.DONE, artifacts=[_art(job.id, "video", final, 1.0)])
    assert store.expired_artifacts(now=1e12) == []
    assert sweep(store, blobs, now=1e12) == 0
    assert blobs.exists(final) and len(store.get_artifacts(job.id)) == 1


def test_sweep_works_in_batches(store: SqlStore, blobs: FsBlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retention, "_BATCH", 10)
    job, _ = store.create_job(project="p", kind="t2v", spec={})
    refs = [blobs.put_bytes(str(i).encode(), "scratch") for i in range(25)]
    arts = [_art(job.id, f"chunk/{i}", ref, 50.0) for i, ref in enumerate(refs)]
    store.checkpoint(job.id, "decode", 0, StageStatus.DONE, artifacts=arts)
    assert sweep(store, blobs, now=100.0) == 25
    assert list(blobs.iter_area("scratch")) == []


def test_sweep_orphans_collects_old_unreferenced_scratch_only(store: SqlStore, blobs: FsBlobStore) -> None:
    job, _ = store.create_job(project="p", kind="t2v", spec={})
    recorded = blobs.put_bytes(b"recorded", "scratch")
    latents = _art(job.id, "latents", recorded, 9e9)
    store.checkpoint(job.id, "denoise", 0, StageStatus.DONE, artifacts=[latents])
    orphan = blobs.put_bytes(b"crashed before its checkpoint", "scratch")
    fresh = blobs.put_bytes(b"about to be recorded", "scratch")
    final = blobs.put_bytes(b"final", "durable")
    old = time.time() - 7200
    for ref in (recorded, orphan, fresh, final):
        os.utime(blobs.path(ref), (old, old))
    blobs.put_bytes(b"about to be recorded", "scratch")  # a rewrite resets the age
    assert sweep_orphans(store, blobs, now=time.time(), grace_s=3600) == 1
    assert not blobs.exists(orphan)
    assert blobs.exists(recorded) and blobs.exists(fresh) and blobs.exists(final)
