"""Scratch blobs are not fsynced (docs/durability.md): after an OS crash one may be gone or cut short.
The pipeline then redoes just the stage segment that made it, and the result is the same clip."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from reelserve.core.records import JobStatus, StageStatus
from reelserve.pipeline.runner import Drained, JobRunner
from reelserve.pipeline.submit import submit_generation
from reelserve.store import FsBlobStore, SqlStore
from tests.pipeline.conftest import kill_at_step, tiny_spec


def _frames_hash(store: SqlStore, blobs: FsBlobStore, job_id: str) -> str:
    art = {a.name: a for a in store.get_artifacts(job_id)}["manifest"]
    return str(json.loads(blobs.get_bytes(art.blob))["frames_sha256"])


def _cut_short(blobs: FsBlobStore, store: SqlStore, job_id: str, name: str) -> None:
    """What a power loss does to a blob that was renamed into place but never fsynced."""
    art = {a.name: a for a in store.get_artifacts(job_id)}[name]
    path = blobs.path(art.blob)
    path.write_bytes(path.read_bytes()[:10])


def _run_all(store: SqlStore, runner: JobRunner, job_id: str) -> JobStatus:
    store.requeue(job_id)
    claimed = store.claim_job(runner.worker_id, runner.lease_s, job_id=job_id)
    assert claimed is not None
    return runner.run(claimed).status


def test_lost_frames_redo_only_their_segment(
    store: SqlStore, blobs: FsBlobStore, runner: JobRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tiny_spec(num_frames=17, segment_frames=9)
    reference, _ = submit_generation(store, spec)
    assert _run_all(store, runner, reference.id) is JobStatus.SUCCEEDED
    job, _ = submit_generation(store, spec)

    def generated() -> bool:  # stop the worker once both segments are done, before encoding
        return (
            sum(r.stage == "generate" and r.status is StageStatus.DONE for r in store.get_stages(job.id)) == 2
        )

    stopping = JobRunner(store, blobs, lease_s=10.0, should_stop=generated)
    claimed = store.claim_job(stopping.worker_id, stopping.lease_s, job_id=job.id)
    with pytest.raises(Drained):
        stopping.run(claimed)  # type: ignore[arg-type]
    _cut_short(blobs, store, job.id, "frames/0")

    from reelserve.pipeline import generate as generate_mod

    real = generate_mod.run_generate_segment
    calls: list[int] = []
    monkeypatch.setattr(
        "reelserve.pipeline.t2v.run_generate_segment", lambda c, s, n: (calls.append(s.index), real(c, s, n))
    )
    assert _run_all(store, runner, job.id) is JobStatus.SUCCEEDED
    assert calls == [0]  # only the segment whose frames were lost ran again
    assert _frames_hash(store, blobs, job.id) == _frames_hash(store, blobs, reference.id)


def test_a_lost_solver_checkpoint_restarts_the_segment(
    store: SqlStore, blobs: FsBlobStore, runner: JobRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference, _ = submit_generation(store, tiny_spec(steps=4))
    assert _run_all(store, runner, reference.id) is JobStatus.SUCCEEDED
    job, _ = submit_generation(store, tiny_spec(steps=4))
    kill_at_step(store, runner, job.id, 3, monkeypatch)
    _cut_short(blobs, store, job.id, "ckpt/0")
    assert _run_all(store, runner, job.id) is JobStatus.SUCCEEDED
    gen = next(r for r in store.get_stages(job.id) if r.stage == "generate")
    assert gen.state["resumed_from"] == 0  # the corrupt checkpoint was not used
    assert _frames_hash(store, blobs, job.id) == _frames_hash(store, blobs, reference.id)


def test_only_durable_blobs_are_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    blobs = FsBlobStore(tmp_path)
    blobs.put_bytes(b"intermediate", "scratch")
    assert synced == []
    blobs.put_bytes(b"final", "durable")
    assert len(synced) == 2  # the file, then its directory
    strict = FsBlobStore(tmp_path / "strict", sync_areas=("scratch", "durable"))
    with strict.open_writer("scratch", ".bin") as writer:
        writer.path.write_bytes(b"x" * 100)
    assert len(synced) == 4


def test_a_job_waits_for_the_disk_once(
    store: SqlStore, blobs: FsBlobStore, runner: JobRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From claim to success a job makes exactly one synced commit — the finalize checkpoint that
    also makes it SUCCEEDED — and one group of fsyncs (its four finals, file and directory), right
    before that commit (docs/durability.md §3)."""
    import reelserve.store.sql as sql_mod

    log: list[str] = []
    real_tx, real_fsync = sql_mod.transaction, os.fsync

    def spy_tx(engine, *, write, sync=True):  # type: ignore[no-untyped-def]
        if write:
            log.append("commit-synced" if sync else "commit")
        return real_tx(engine, write=write, sync=sync)

    monkeypatch.setattr(sql_mod, "transaction", spy_tx)
    monkeypatch.setattr(os, "fsync", lambda fd: (log.append("fsync"), real_fsync(fd))[1])
    job, _ = submit_generation(store, tiny_spec())
    log.clear()
    assert _run_all(store, runner, job.id) is JobStatus.SUCCEEDED
    synced = [i for i, e in enumerate(log) if e == "commit-synced"]
    fsyncs = [i for i, e in enumerate(log) if e == "fsync"]
    assert len(synced) == 2  # the test's own `requeue`, then the job's one synced commit
    assert synced[0] == 0 and len(fsyncs) == 8 and max(fsyncs) < synced[1]
    assert log[synced[1] + 1 :] == []  # nothing after it: no separate finish_job
    assert store.get_job(job.id).timings["finished"] > 0  # type: ignore[union-attr]


def test_a_run_reads_its_stages_and_artifacts_once(
    store: SqlStore, blobs: FsBlobStore, runner: JobRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stages checkpoint through the context, which keeps the run's records and artifacts current,
    so a run reads each once (it read the stages before every segment, and finalize read both
    again); the manifest's timings still match the stored stage rows."""
    from reelserve.pipeline.manifest import timing_split

    calls: list[str] = []
    for name in ("get_stages", "get_artifacts"):
        real = getattr(store, name)
        monkeypatch.setattr(store, name, lambda job_id, _n=name, _r=real: (calls.append(_n), _r(job_id))[1])
    job, _ = submit_generation(store, tiny_spec(num_frames=17, segment_frames=9))
    assert _run_all(store, runner, job.id) is JobStatus.SUCCEEDED
    assert calls.count("get_stages") == 1 and calls.count("get_artifacts") == 1
    monkeypatch.undo()
    rows = [r for r in store.get_stages(job.id) if r.stage != "finalize"]
    assert len([r for r in rows if r.stage == "generate"]) > 1  # several segments ran
    manifest_ref = {a.name: a for a in store.get_artifacts(job.id)}["manifest"].blob
    manifest = json.loads(blobs.get_bytes(manifest_ref))
    assert manifest["timings_s"] == pytest.approx(timing_split(rows))
    stored = store.get_job(job.id).timings  # type: ignore[union-attr]
    assert {"queued", "started", "generated", "encoded"} <= set(manifest["job_timestamps"])
    assert manifest["job_timestamps"] == {k: v for k, v in stored.items() if k != "finished"}


def test_a_final_an_os_crash_broke_makes_the_encode_run_again(
    store: SqlStore, blobs: FsBlobStore, runner: JobRunner, caplog: pytest.LogCaptureFixture
) -> None:
    """The encode stage's MP4 is not fsynced until finalize seals it; if an OS crash cut it short
    after the encode checkpoint, finalize finds out and the encode runs again, to the same bytes."""
    spec = tiny_spec()
    reference, _ = submit_generation(store, spec)
    assert _run_all(store, runner, reference.id) is JobStatus.SUCCEEDED
    ref_video = {a.name: a for a in store.get_artifacts(reference.id)}["video"].blob
    blobs.delete(ref_video)  # so the job below makes its own copy of the same content
    job, _ = submit_generation(store, spec)

    def encoded() -> bool:
        return any(r.stage == "encode" and r.status is StageStatus.DONE for r in store.get_stages(job.id))

    stopping = JobRunner(store, blobs, lease_s=10.0, should_stop=encoded)
    claimed = store.claim_job(stopping.worker_id, stopping.lease_s, job_id=job.id)
    with pytest.raises(Drained):
        stopping.run(claimed)  # type: ignore[arg-type]
    _cut_short(blobs, store, job.id, "video")
    assert _run_all(store, runner, job.id) is JobStatus.SUCCEEDED
    video = {a.name: a for a in store.get_artifacts(job.id)}["video"].blob
    assert video.sha256 == ref_video.sha256
    assert hashlib.sha256(blobs.get_bytes(video)).hexdigest() == ref_video.sha256
    assert _frames_hash(store, blobs, job.id) == _frames_hash(store, blobs, reference.id)
    redone = [r for r in caplog.records if r.getMessage() == "redoing a stage whose output was lost"]
    assert len(redone) == 1  # the encode stage ran a second time, nothing else did
