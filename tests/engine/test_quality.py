"""Adaptive quality applied live on real model workers: a session whose chunks would miss their deadline
at the requested steps runs them with fewer (recorded per chunk, in the session and in /metrics); a
strict session, or an adaptive one whose ``min_steps`` cannot meet the deadline, is refused with 409.

The cost profile is fixed here (100 ms per step, nothing else, no calibration) so that every decision
is known in advance; the workers, the stream and the frames are real."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from reelserve.engine.quality import CostModel
from reelserve.sched.latency import Profile
from tests.engine.conftest import Server

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
