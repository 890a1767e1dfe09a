"""API jobs (``POST /v1/videos``) on the model workers' job lane: preemption and kill -9 resume.

The shared server's model workers claim the API's t2v jobs (2 slots each, 3 s leases); their steps go
through the same batcher as session chunks.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from tests.engine.conftest import Server, wait_for


def submit(server: Server, **body: Any) -> str:
    base = {"prompt": "a slow pan over hills", "size": "32x32", "num_frames": 5, "num_inference_steps": 30}
    with server.client() as c:
        r = c.post("/v1/videos", json={**base, **body})
        assert r.status_code in (200, 201, 202), r.text
        return str(r.json()["id"])


def video(server: Server, vid: str) -> dict[str, Any]:
    with server.client() as c:
        return c.get(f"/v1/videos/{vid}").json()  # type: ignore[no-any-return]


def generate_state(server: Server, vid: str) -> dict[str, Any]:
    rows = server.app.state.services.store.get_stages(vid)
    return next((r.state for r in rows if r.stage == "generate"), {})


def finished(server: Server, ids: list[str]) -> bool:
    return all(video(server, v)["status"] in ("completed", "failed") for v in ids)


def test_interactive_job_preempts_batch_jobs_which_resume_without_redoing_steps(server: Server) -> None:
    # long batch jobs (300 steps, ~2 s even when idle): still running when the interactive one arrives
    # and is claimed (0.2 s polls); 3 jobs on 2 workers x 2 slots leave one slot free, beside a batch job
    batch = [submit(server, priority="batch", seed=k, num_inference_steps=300) for k in range(3)]
    wait_for(lambda: all(generate_state(server, v).get("step", 0) >= 2 for v in batch), 120, "batch jobs")
    urgent = submit(server, priority="interactive", num_frames=9, num_inference_steps=2)
    wait_for(lambda: finished(server, [*batch, urgent]), 240, "all jobs")
    assert all(video(server, v)["status"] == "completed" for v in [*batch, urgent])
    states = [generate_state(server, v) for v in batch]
    assert sum(s["preemptions"] for s in states) >= 1, (states, generate_state(server, urgent))
    assert all(s["steps_run"] == 300 - s["resumed_from"] for s in states)  # no step ran twice
    first_batch = min(video(server, v)["timings"]["generated"] for v in batch)
    assert video(server, urgent)["timings"]["generated"] < first_batch


def test_job_of_a_killed_worker_resumes_from_its_checkpoint_on_another(server: Server) -> None:
    vid = submit(server, priority="batch", num_inference_steps=40, seed=3)
    wait_for(lambda: generate_state(server, vid).get("step", 0) >= 4, 120, "a checkpoint")
    owner = server.app.state.services.store.get_job(vid).lease_owner
    os.kill(int(owner.split(":")[1]), signal.SIGKILL)
    wait_for(lambda: finished(server, [vid]), 240, "the job to finish elsewhere")
    state = generate_state(server, vid)
    assert video(server, vid)["status"] == "completed"
    assert state["resumed_from"] >= 4 and state["steps_run"] == 40 - state["resumed_from"]
    with server.client() as c:
        mp4 = c.get(f"/v1/videos/{vid}/content")
    assert mp4.status_code == 200 and mp4.content[4:8] == b"ftyp"
    # the pool replaces the lost worker (min_workers = 2) in the background while other tests run
