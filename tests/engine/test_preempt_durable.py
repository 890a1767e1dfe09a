"""A job preempted at a step boundary writes its solver state to the store at once, so a worker killed
while the job waits loses no step: the job resumes elsewhere from exactly the preempted step and ends
with the same frames as an uninterrupted run (both ran alone in their batches: max batch 1)."""

from __future__ import annotations

import os
import signal
from typing import Any

from reelserve.core.records import GenerationSpec, Priority
from reelserve.pipeline.submit import submit_generation
from tests.engine.conftest import Server, wait_for

#: no periodic checkpoint before the end: the only mid-run checkpoint is the preemption's
SPEC = GenerationSpec("a slow pan over hills", width=32, height=32, num_frames=5, steps=300, seed=21,
                      checkpoint_every=1000, preset="ultrafast")  # fmt: skip


def _generate_state(server: Server, job_id: str) -> dict[str, Any]:
    rows = server.app.state.services.store.get_stages(job_id)
    return next((r.state for r in rows if r.stage == "generate"), {})


def _run(server: Server) -> str:
    job, _ = submit_generation(server.app.state.services.store, SPEC, project="film", priority=Priority.BATCH)
    return job.id


def _done(server: Server, job_id: str) -> bool:
    job = server.app.state.services.store.get_job(job_id)
    return job is not None and job.status.terminal


def _worker_of(server: Server, job_id: str) -> str | None:
    owner = server.app.state.services.store.get_job(job_id).lease_owner
    if owner is None:
        return None
    pid = int(owner.split(":")[1])
    pool = server.manager.pool
    return next((w for w in pool.live() if pool.client(w).pid == pid), None)


def _running(server: Server, worker: str) -> bool:
    return bool(server.manager.pool.client(worker).call("stats").result(30)["running"] > 0)


def test_a_worker_killed_while_its_job_is_preempted_loses_no_step(server: Server) -> None:
    pool = server.manager.pool
    wait_for(lambda: len(pool.live()) == 2, 240, "two model workers")
    reference = _run(server)
    wait_for(lambda: _done(server, reference), 240, "the reference job")
    expected = _generate_state(server, reference)
    assert expected["max_batch"] == 1 and expected["preemptions"] == 0

    job = _run(server)
    worker = wait_for(lambda: _worker_of(server, job), 120, "the job to be claimed")
    wait_for(lambda: _running(server, worker), 120, "its denoising steps to run")
    # a long interactive clip of another batch key on the same worker preempts the job at a step boundary
    urgent = {"prompt": "a fast cut", "width": 32, "height": 32, "frames": 9, "steps": 400}
    pool.client(worker).call("clip", clip_id="urgent-0", spec=urgent, priority="interactive")
    state = wait_for(lambda: (s := _generate_state(server, job)).get("preempted_at") and s, 120, "preemption")
    preempted_at = state["preempted_at"]
    assert state["step"] == preempted_at > 0 and state["worker"] == worker
    pid = pool.client(worker).pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)

    wait_for(lambda: _done(server, job), 240, "the job to finish on the other worker")
    final = _generate_state(server, job)
    assert server.app.state.services.store.get_job(job).status.value == "succeeded"
    assert final["resumed_from"] == preempted_at  # nothing after the preemption was lost ...
    assert final["steps_run"] == SPEC.steps - preempted_at  # ... and no step ran twice
    assert final["worker"] != worker and final["max_batch"] == 1
    assert final["frames_sha256"] == expected["frames_sha256"]
    # the job lane splits model time like the pipeline does: its batched steps, then the VAE decode
    rows = server.app.state.services.store.get_stages(job)
    timings = next(r.timings for r in rows if r.stage == "generate")
    assert timings["denoise"] > 0 and timings["vae_decode"] > 0 and "batch_wait" in timings
