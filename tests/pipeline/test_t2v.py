"""Text-to-video end to end through the runner, on SQLite and PostgreSQL, with the real tiny model."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from reelserve.core.errors import StorageError
from reelserve.core.records import JobStatus, StageStatus
from reelserve.media.decode import decode_frames
from reelserve.media.probe import probe
from reelserve.pipeline import generate as generate_mod
from reelserve.pipeline.runner import JobRunner
from reelserve.pipeline.submit import submit_generation
from reelserve.store import FsBlobStore, SqlStore, sweep
from tests.pipeline.conftest import kill_at_step, tiny_spec


def _run(store: SqlStore, runner: JobRunner, spec_kwargs: dict[str, object] | None = None, **kw: object):  # type: ignore[no-untyped-def]
    job, _ = submit_generation(store, tiny_spec(**(spec_kwargs or {})), **kw)  # type: ignore[arg-type]
    claimed = store.claim_job(runner.worker_id, runner.lease_s, job_id=job.id)
    assert claimed is not None
    return runner.run(claimed)


def _manifest(store: SqlStore, blobs: FsBlobStore, job_id: str) -> dict[str, object]:
    art = {a.name: a for a in store.get_artifacts(job_id)}["manifest"]
    return json.loads(blobs.get_bytes(art.blob))


def test_generates_a_real_mp4_thumbnail_and_manifest(
    store: SqlStore, blobs: FsBlobStore, runner: JobRunner, out_dir: Path
) -> None:
    target = out_dir / "clip.mp4"
    job = _run(store, runner, output_path=target)
    assert job.status is JobStatus.SUCCEEDED, job.error_message
    info = probe(target)
    assert (info.width, info.height, info.frames) == (64, 64, 9)
    assert info.codec == "h264"
    arts = {a.name: a for a in store.get_artifacts(job.id)}
    assert {"video", "thumbnail", "spritesheet", "manifest"} <= set(arts)
    assert all(arts[n].expires_at is None for n in ("video", "thumbnail", "spritesheet", "manifest"))
    assert blobs.get_bytes(arts["thumbnail"].blob)[:2] == b"\xff\xd8"  # a JPEG
    manifest = _manifest(store, blobs, job.id)
    assert manifest["model"]["id"] == "tiny-wan" and len(manifest["model"]["weights_sha256"]) == 64
    assert manifest["seed"] == 7 and manifest["settings"]["steps"] == 3
    assert manifest["outputs"]["video"]["sha256"] == arts["video"].blob.sha256
    timings = manifest["timings_s"]
    assert timings["denoise"] > 0 and timings["vae_decode"] > 0 and timings["encode"] > 0
    # The recorded frame hash is the hash of the raw frames the model produced.
    frames = np.load(blobs.path(arts["frames/0"].blob))
    assert hashlib.sha256(frames.tobytes()).hexdigest() == manifest["frames_sha256"]
    assert set(job.timings) >= {"started", "generated", "encoded", "finished"}
    assert target.with_suffix(".manifest.json").is_file()


def test_same_seed_same_frames_other_seed_other_frames(
    store: SqlStore, blobs: FsBlobStore, runner: JobRunner
) -> None:
    a = _run(store, runner)
    b = _run(store, runner)
    c = _run(store, runner, {"seed": 8})
    ha, hb, hc = (_manifest(store, blobs, j.id)["frames_sha256"] for j in (a, b, c))
    assert ha == hb != hc


def test_idempotency_key_returns_the_same_job(store: SqlStore) -> None:
    first, created = submit_generation(store, tiny_spec(), idempotency_key="k1")
    again, created_again = submit_generation(store, tiny_spec(), idempotency_key="k1")
    other, _ = submit_generation(store, tiny_spec(), idempotency_key="k1", project="p2")
    assert created and not created_again and first.id == again.id != other.id
    assert len(store.list_jobs(project="default")) == 1


def test_long_clip_is_generated_as_continuing_segments(
    store: SqlStore, blobs: FsBlobStore, runner: JobRunner, out_dir: Path
) -> None:
    target = out_dir / "long.mp4"
    job = _run(store, runner, {"num_frames": 17, "segment_frames": 9}, output_path=target)
    assert job.status is JobStatus.SUCCEEDED, job.error_message
    segs = [r for r in store.get_stages(job.id) if r.stage == "generate"]
    assert [(r.segment, r.state["frames"]) for r in sorted(segs, key=lambda r: r.segment)] == [(0, 9), (1, 8)]
    assert probe(target).frames == 17
    decoded = [f.rgb for f in decode_frames(target)]
    assert len(decoded) == 17


def test_crash_between_segments_resumes_only_the_unfinished_segment(
    store: SqlStore, blobs: FsBlobStore, runner: JobRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = _run(store, runner, {"num_frames": 17, "segment_frames": 9})
    ref_hash = _manifest(store, blobs, reference.id)["frames_sha256"]

    real = generate_mod.run_generate_segment
    calls: list[int] = []

    def crash_on_second(ctx, seg, n):  # type: ignore[no-untyped-def]
        calls.append(seg.index)
        if seg.index == 1:
            raise KeyboardInterrupt  # like a kill: nothing after this point runs
        real(ctx, seg, n)

    monkeypatch.setattr("reelserve.pipeline.t2v.run_generate_segment", crash_on_second)
    job, _ = submit_generation(store, tiny_spec(num_frames=17, segment_frames=9))
    claimed = store.claim_job(runner.worker_id, runner.lease_s, job_id=job.id)
    with pytest.raises(KeyboardInterrupt):
        runner.run(claimed)  # type: ignore[arg-type]
    done_before = {r.segment: r for r in store.get_stages(job.id) if r.stage == "generate"}
    assert done_before[0].status is StageStatus.DONE

    calls.clear()
    monkeypatch.setattr(
        "reelserve.pipeline.t2v.run_generate_segment", lambda c, s, n: (calls.append(s.index), real(c, s, n))
    )
    store.requeue(job.id)
    claimed = store.claim_job(runner.worker_id, runner.lease_s, job_id=job.id)
    finished = runner.run(claimed)  # type: ignore[arg-type]
    assert finished.status is JobStatus.SUCCEEDED
    assert calls == [1]  # segment 0 was not redone
    assert _manifest(store, blobs, job.id)["frames_sha256"] == ref_hash


def test_resume_from_a_latent_checkpoint_is_bit_identical(
    store: SqlStore, blobs: FsBlobStore, runner: JobRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = _run(store, runner, {"steps": 4})
    ref_hash = _manifest(store, blobs, reference.id)["frames_sha256"]
    job, _ = submit_generation(store, tiny_spec(steps=4))
    kill_at_step(store, runner, job.id, 3, monkeypatch)  # after the checkpoint of step 3 was recorded
    store.requeue(job.id)
    finished = runner.run(store.claim_job(runner.worker_id, runner.lease_s, job_id=job.id))  # type: ignore[arg-type]
    assert finished.status is JobStatus.SUCCEEDED
    gen = next(r for r in store.get_stages(job.id) if r.stage == "generate")
    assert gen.state["resumed_from"] == 3
    assert _manifest(store, blobs, job.id)["frames_sha256"] == ref_hash


def test_cancel_stops_the_model_at_the_next_step(
    store: SqlStore, runner: JobRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reelserve.models.wan import WanT2V

    job, _ = submit_generation(store, tiny_spec(steps=50, checkpoint_every=0))
    claimed = store.claim_job(runner.worker_id, runner.lease_s, job_id=job.id)
    real_step = WanT2V.step
    seen: list[int] = []

    def step(self, state, cond):  # type: ignore[no-untyped-def]
        seen.append(state.step)
        if state.step == 2:
            threading.Thread(target=store.finish_job, args=(job.id, JobStatus.CANCELLED)).start()
        time.sleep(0.01)  # a step as long as a real model's smallest: the status is read every 0.1 s
        return real_step(self, state, cond)

    monkeypatch.setattr(WanT2V, "step", step)
    result = runner.run(claimed)  # type: ignore[arg-type]
    assert result.status is JobStatus.CANCELLED
    assert len(seen) < 50


def test_retryable_errors_retry_and_permanent_ones_dead_letter(
    store: SqlStore, runner: JobRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reelserve.core.errors import MediaError
    from reelserve.pipeline.jobkinds import _KINDS, stages_for

    stages = stages_for("t2v")
    encode = stages[1]
    failures = [StorageError("disk hiccup")]

    def flaky(ctx, seg):  # type: ignore[no-untyped-def]
        if failures:
            raise failures.pop()
        encode.run(ctx, seg)

    monkeypatch.setitem(_KINDS, "t2v", [stages[0], replace(encode, run=flaky), stages[2]])
    ok = _run(store, runner)
    assert ok.status is JobStatus.SUCCEEDED and not failures

    def broken(ctx, seg):  # type: ignore[no-untyped-def]
        raise MediaError("codec exploded")

    monkeypatch.setitem(_KINDS, "t2v", [stages[0], replace(encode, run=broken), stages[2]])
    bad = _run(store, runner)
    assert bad.status is JobStatus.FAILED and bad.error_code == "media_error"
    assert bad.id in {j.id for j in store.dead_letters()}


def test_retention_expires_intermediates_but_never_finals(
    store: SqlStore, blobs: FsBlobStore, runner: JobRunner
) -> None:
    job = _run(store, runner)
    arts = {a.name: a for a in store.get_artifacts(job.id)}
    removed = sweep(store, blobs, now=10**12)
    assert removed >= 2
    left = {a.name for a in store.get_artifacts(job.id)}
    assert {"video", "thumbnail", "spritesheet", "manifest"} <= left
    assert "frames/0" not in left
    assert blobs.exists(arts["video"].blob) and not blobs.exists(arts["frames/0"].blob)


def test_a_resume_computes_with_the_thread_count_the_segment_started_with(
    store: SqlStore, blobs: FsBlobStore, runner: JobRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sums split over another number of threads may round differently (250 steps at 64x64 give two
    frame hashes for 1 and 2 threads), so a CPU segment resumes with the count it was checkpointed
    with, and the process gets its own back afterwards."""
    import torch

    from reelserve.models.wan import WanT2V

    own = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        reference = _run(store, runner, {"steps": 6})
        job, _ = submit_generation(store, tiny_spec(steps=6))
        kill_at_step(store, runner, job.id, 3, monkeypatch)
        torch.set_num_threads(1)  # another process, or a worker configured otherwise, resumes it
        real_step = WanT2V.step
        seen: list[int] = []
        monkeypatch.setattr(
            WanT2V,
            "step",
            lambda self, s, c: (seen.append(torch.get_num_threads()), real_step(self, s, c))[1],
        )
        store.requeue(job.id)
        finished = runner.run(store.claim_job(runner.worker_id, runner.lease_s, job_id=job.id))  # type: ignore[arg-type]
        assert finished.status is JobStatus.SUCCEEDED
        assert seen and set(seen) == {2}  # every resumed step ran with the checkpoint's count
        assert torch.get_num_threads() == 1  # and the process has its own back
        gen = next(r for r in store.get_stages(job.id) if r.stage == "generate")
        assert gen.state["threads"] == 2 and gen.state["resumed_from"] == 3
        ref_hash = _manifest(store, blobs, reference.id)["frames_sha256"]
        assert _manifest(store, blobs, job.id)["frames_sha256"] == ref_hash
    finally:
        torch.set_num_threads(own)
