"""``ModelBackend``: store-claimed t2v jobs on a model worker (leases, the pipeline's checkpoints, batched
steps), and a session manager sharing the same worker."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path

import av

from reelserve.core.records import GenerationSpec, JobStatus, Priority
from reelserve.engine.model.backend import ModelBackend
from reelserve.engine.model.pool import PoolConfig
from reelserve.engine.sessions.manager import ManagerConfig, SessionManager
from reelserve.engine.sessions.spec import SessionSpec
from reelserve.pipeline.submit import submit_generation
from reelserve.store import FsBlobStore, default_url, open_store


async def one_session_on(backend: ModelBackend) -> list[str]:
    mgr = SessionManager(ManagerConfig(), pool=backend.pool)
    await mgr.start()
    s = await mgr.create(SessionSpec("a kite", width=32, height=32, chunk_frames=4, max_chunks=2))
    mgr.begin(s)
    assert s.task is not None
    await asyncio.wait_for(s.task, 120)
    await mgr.stop()
    assert s.status.value == "finished" and len(s.records) == 2
    return [str(s.describe()["frames_sha256"])]


def test_jobs_share_batched_steps_and_finish_with_playable_videos(tmp_path: Path) -> None:
    url, blobs_root = default_url(tmp_path), tmp_path / "blobs"
    store, blobs = open_store(url), FsBlobStore(blobs_root)
    spec = GenerationSpec("a lighthouse", width=32, height=32, num_frames=5, steps=6, checkpoint_every=2,
                          preset="ultrafast")  # fmt: skip
    jobs = [
        submit_generation(
            store, GenerationSpec.from_dict({**spec.to_dict(), "seed": k}), priority=Priority.BATCH
        )[0]
        for k in range(3)
    ]
    backend = ModelBackend(PoolConfig(devices=("cpu",), max_wait_s=0.2), url, str(blobs_root), job_slots=3)
    backend.start()
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            done = [store.get_job(j.id) for j in jobs]
            if all(d is not None and d.status.terminal for d in done):
                break
            time.sleep(0.2)
        assert backend.alive() == 1
        hashes = asyncio.run(one_session_on(backend))
        assert len(hashes) == 1 and hashes[0]  # a session shares the backend's model worker
    finally:
        backend.stop(drain=True)
    done = [store.get_job(j.id) for j in jobs]
    assert [d.status for d in done if d is not None] == [JobStatus.SUCCEEDED] * 3, [
        d.error_message for d in done if d
    ]
    generate = [next(r for r in store.get_stages(j.id) if r.stage == "generate") for j in jobs]
    assert max(r.state["max_batch"] for r in generate) >= 2  # their steps shared batched forwards
    assert all(r.state["steps_run"] == 6 and r.state["frames"] == 5 for r in generate)
    video = next(a for a in store.get_artifacts(jobs[0].id) if a.name == "video")
    with av.open(io.BytesIO(blobs.get_bytes(video.blob))) as container:
        assert len(list(container.decode(video=0))) == 5
    assert backend.alive() == 0
    store.close()
