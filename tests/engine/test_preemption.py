"""Preemption on a real model worker: an interactive clip stops batch clips at a step boundary; they
resume from their checkpoints without redoing a step and produce the same frames."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

import numpy as np
import pytest

from reelserve.engine.model.client import RemoteError
from tests.engine.conftest import Server, wait_for

#: 60 steps: long enough (~0.4 s idle) that the stats poll sees them running before they finish
BATCH_SPEC: dict[str, Any] = {"prompt": "a quiet harbour", "width": 32, "height": 32, "frames": 5,
                              "steps": 60}  # fmt: skip
INTERACTIVE_SPEC: dict[str, Any] = {"prompt": "a fox", "width": 32, "height": 32, "frames": 9, "steps": 2}


def submit(server: Server, worker: str, tag: str, priority: str, spec: dict[str, Any]) -> Future[Any]:
    return server.manager.pool.client(worker).call("clip", clip_id=tag, spec=spec, priority=priority)


def test_interactive_clip_preempts_batch_clips_which_resume_without_redoing_steps(server: Server) -> None:
    worker = server.manager.pool.live()[0]
    client = server.manager.pool.client(worker)
    refs = [submit(server, worker, f"ref-{k}", "batch", {**BATCH_SPEC, "seed": k}) for k in range(3)]
    expected = [f.result(120)["frames"] for f in refs]
    before = client.call("stats").result(30)["preempted"]

    batch = [submit(server, worker, f"b-{k}", "batch", {**BATCH_SPEC, "seed": k}) for k in range(3)]
    wait_for(lambda: client.call("stats").result(30)["running"] > 0, 60, "batch clips to start")
    urgent = submit(server, worker, "i-0", "interactive", INTERACTIVE_SPEC).result(120)
    done = [f.result(120) for f in batch]

    assert client.call("stats").result(30)["preempted"] - before >= 1
    assert urgent["generated"] < min(d["generated"] for d in done)
    assert urgent["preemptions"] == 0 and urgent["frames"].shape == (9, 32, 32, 3)
    preempted = [d for d in done if d["preemptions"]]
    assert preempted, "no batch clip was preempted"
    assert all(d["steps_run"] == BATCH_SPEC["steps"] for d in done)  # not one step redone
    for d, ref in zip(done, expected, strict=True):
        diff = np.abs(d["frames"].astype(int) - ref.astype(int)).max()
        assert diff <= 1  # same clip: batched matmuls may reassociate, so allow one grey level


def test_a_model_error_fails_that_clip_and_leaves_the_worker_healthy(server: Server) -> None:
    worker = server.manager.pool.live()[0]
    broken = {**INTERACTIVE_SPEC, "width": 8, "height": 8}  # a 1x1 latent: the 2x2 patch embedding fails
    with pytest.raises(RemoteError) as err:
        submit(server, worker, "bad-0", "interactive", broken).result(120)
    assert err.value.code == "model_error"
    with pytest.raises(RemoteError) as err2:
        server.manager.pool.client(worker).call("clip", clip_id="bad-1", spec={}).result(60)
    assert err2.value.code == "internal_error"
    ok = submit(server, worker, "ok-0", "interactive", INTERACTIVE_SPEC).result(120)
    assert ok["frames"].shape == (9, 32, 32, 3) and server.manager.pool.client(worker).alive()
