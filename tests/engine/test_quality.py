"""Adaptive quality applied live on real model workers: a session whose chunks would miss their deadline
at the requested steps runs them with fewer (recorded per chunk, in the session and in /metrics); a
strict session, or an adaptive one whose ``min_steps`` cannot meet the deadline, is refused with 409.

The cost profile is fixed here (100 ms per step, nothing else, no calibration) so that every decision
is known in advance; the workers, the stream and the frames are real."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from reelserve.cli import app as cli
from reelserve.engine.quality import CostModel
from reelserve.sched.latency import Profile
from tests.engine.conftest import Server, wait_for

STEP_100MS = Profile("tiny-wan", "cpu", step_fixed_ms=100.0, step_ms_per_mvoxel=0.0)
ASK: dict[str, Any] = {"num_inference_steps": 8, "deadline_ms": 500, "max_chunks": 2, "seed": 5}


@pytest.fixture
def fixed_cost(server: Server) -> Iterator[None]:
    mgr = server.manager
    before, mgr.cost = mgr.cost, CostModel(STEP_100MS, calibrate=False)
    yield
    mgr.cost = before


def test_adaptive_session_runs_its_chunks_with_fewer_steps(server: Server, fixed_cost: None) -> None:
    info = server.create(**ASK, quality="adaptive", min_steps=2)
    assert info["admission"]["degraded"] and info["admission"]["steps"] == 4
    _, texts = server.stream(info["id"])
    chunks = [t for t in texts if t["type"] == "chunk"]
    assert len(chunks) == 2
    # 8 steps = 800 ms, 6 = 600 ms: too slow for 500 ms; 4 steps = 400 ms is the highest rung that fits
    assert all(c["steps"] == 4 and c["quality"]["rung"] == 2 and c["quality"]["degraded"] for c in chunks)
    assert "degraded to 32x32, 4 steps" in chunks[0]["quality"]["reason"]
    done = server.get(info["id"])
    assert done["degraded_chunks"] == 2 and done["last_quality"]["steps"] == 4
    with server.client() as c:
        metrics = c.get("/metrics").text
    assert 'reelserve_quality_degraded_total{kind="chunk"}' in metrics


def test_best_effort_session_runs_as_asked(server: Server, fixed_cost: None) -> None:
    info = server.create(**ASK)
    _, texts = server.stream(info["id"])
    assert [t["steps"] for t in texts if t["type"] == "chunk"] == [8, 8]
    assert server.get(info["id"])["degraded_chunks"] == 0


@pytest.mark.parametrize(
    ("settings", "why"),
    [
        ({"quality": "strict"}, "deadline cannot be met"),
        ({"quality": "adaptive", "min_steps": 6}, "even the lowest quality finishes"),
    ],
)
def test_unmeetable_deadline_is_refused_with_409(
    server: Server, fixed_cost: None, settings: dict[str, Any], why: str
) -> None:
    with server.client() as c:
        r = c.post(
            "/v1/sessions", json={"prompt": "a kite", "size": "32x32", "chunk_frames": 4, **ASK, **settings}
        )
    assert r.status_code == 409, r.text
    assert why in r.text and settings["quality"] in r.text


def test_bad_quality_settings_are_422_or_400(server: Server) -> None:
    with server.client() as c:
        bad_mode = c.post("/v1/sessions", json={"prompt": "a kite", "quality": "fast"})
        bad_min = c.post("/v1/sessions", json={"prompt": "a kite", "num_inference_steps": 2, "min_steps": 3})
    assert bad_mode.status_code == 422
    assert bad_min.status_code == 400 and "min_steps must be between 1" in bad_min.text


#: 100 ms per step at 32x32x5, proportional to voxels (16x16x5: 25 ms): size rungs pay off
PER_VOXEL = Profile("tiny-wan", "cpu", step_fixed_ms=0.0, step_ms_per_mvoxel=100.0 / (32 * 32 * 5 / 1e6))
JOB: dict[str, Any] = {"prompt": "a slow pan", "size": "32x32", "num_frames": 5, "num_inference_steps": 8}


def _job(server: Server, **body: Any) -> Any:
    with server.client() as c:
        return c.post("/v1/videos", json={**JOB, "deadline": time.time() + 0.5, **body})


def _wait_done(server: Server, vid: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        with server.client() as c:
            v = c.get(f"/v1/videos/{vid}").json()
        return v if v["status"] in ("completed", "failed") else None

    return wait_for(done, 240, "the job")  # type: ignore[no-any-return]


def test_adaptive_job_runs_at_a_smaller_size_and_says_so(server: Server) -> None:
    mgr = server.manager
    before, mgr.cost = mgr.cost, CostModel(PER_VOXEL, calibrate=False)
    try:
        r = _job(server, quality="adaptive", min_steps=8)  # no step rung: the size rung must do it
    finally:
        mgr.cost = before
    assert r.status_code in (200, 201, 202), r.text
    video = r.json()
    q = video["engine"]["quality"]
    assert video["size"] == "16x16" and video["num_inference_steps"] == 8
    assert q["degraded"] and q["size"] == "16x16" and q["asked"]["size"] == "32x32"
    final = _wait_done(server, video["id"])
    assert final["status"] == "completed" and final["engine"]["steps_run"] == 8
    assert final["engine"]["workers"] and final["engine"]["devices"] == ["cpu"]
    assert final["engine"]["max_batch"] >= 1 and final["engine"]["queue_wait_s"] >= 0
    data = str(server.app.state.services.settings.data_dir)
    res = CliRunner().invoke(cli, ["jobs", "show", video["id"], "--json", "--data", data])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["engine"]["quality"]["size"] == "16x16"
    text = CliRunner().invoke(cli, ["jobs", "show", video["id"], "--data", data]).output
    assert "engine: worker mw-" in text and "quality adaptive: degraded to 16x16" in text


def test_strict_job_with_an_unmeetable_deadline_is_refused(server: Server, fixed_cost: None) -> None:
    r = _job(server, quality="strict")
    assert r.status_code == 409 and "deadline cannot be met" in r.text
    late = _job(server, quality="adaptive", deadline=time.time() - 5)
    assert late.status_code == 409 and "job rejected (adaptive quality)" in late.text


def test_adaptive_job_with_fewer_steps_runs_those_steps(server: Server, fixed_cost: None) -> None:
    r = _job(server, quality="adaptive", min_steps=2)
    assert r.status_code in (200, 201, 202), r.text
    video = r.json()
    steps = video["num_inference_steps"]
    assert 2 <= steps < 8 and video["engine"]["quality"]["steps"] == steps
    final = _wait_done(server, video["id"])
    assert final["status"] == "completed" and final["engine"]["steps_run"] == steps
