from __future__ import annotations

from pathlib import Path

import pytest

from reelserve.bench.config import Scenario
from reelserve.bench.streaming import SessionRecord, playback_stalls

from .fake_server import FakeSettings
from .helpers import read_jsonl, run, small


def test_playback_stalls_when_the_buffer_runs_dry() -> None:
    # 16 frames at 16 fps = 1 s per chunk. Chunks every 0.5 s never stall; a 2.5 s gap stalls 1.5 s.
    assert playback_stalls([0.0, 0.5, 1.0, 1.5], [16] * 4, fps=16) == []
    assert playback_stalls([0.0, 2.5, 3.0], [16] * 3, fps=16) == pytest.approx([1.5])
    # late twice: the second stall counts from where playback resumed
    assert playback_stalls([0.0, 2.0, 4.0], [16] * 3, fps=16) == pytest.approx([1.0, 1.0])


def test_session_metrics() -> None:
    record = SessionRecord("streaming-00000", issued_ns=0)
    record.chunk_ns = [200_000_000, 700_000_000, 1_200_000_000]
    record.chunk_frames, record.chunk_bytes = [8, 8, 8], [100, 100, 100]
    metrics = record.metrics(fps=16)
    assert metrics["time_to_first_chunk_s"] == pytest.approx(0.2)
    assert metrics["chunk_gaps_s"] == pytest.approx([0.5, 0.5])
    assert metrics["steady_fps"] == pytest.approx(16.0)
    assert metrics["delivered_fps"] == pytest.approx(20.0)
    assert metrics["stalls"] == 0 and metrics["frames"] == 24


def test_streaming_sessions_over_websocket(server: str, tmp_path: Path) -> None:
    cfg = small(server, tmp_path, scenario=Scenario.STREAMING, queries=3, concurrency=2, stream_chunks=4,
                chunk_frames=8, fps=8)  # fmt: skip
    stream = run(cfg)["streaming"]
    assert (stream["sessions"], stream["completed"], stream["failed"]) == (3, 3, 0)
    assert all(s["frames"] == 32 and s["bytes"] > 0 for s in stream["per_session"])
    assert stream["time_to_first_chunk_s"]["count"] == 3
    assert stream["stalls_per_session"]["mean"] == 0  # chunks every ~5 ms, each worth 1 s
    assert stream["realtime_sessions"] == 3
    events = read_jsonl(tmp_path / "events.jsonl")
    assert (
        sum(e["event"] == "chunk" for e in events) == 12
        and sum(e["event"] == "session_ok" for e in events) == 3
    )


def test_slow_chunks_show_up_as_stalls(server: str, settings: FakeSettings, tmp_path: Path) -> None:
    settings.chunk_delay_s = 0.15  # each chunk is 2 frames at 32 fps = 62.5 ms of video
    cfg = small(server, tmp_path, scenario=Scenario.STREAMING, queries=1, stream_chunks=3, chunk_frames=2,
                fps=32)  # fmt: skip
    stream = run(cfg)["streaming"]
    assert stream["completed"] == 1
    assert stream["per_session"][0]["stalls"] == 2 and stream["realtime_sessions"] == 0


def test_streaming_errors_are_reported(server: str, settings: FakeSettings, tmp_path: Path) -> None:
    settings.fail_every = 2  # the 2nd session create answers 500 (the empty preflight probe gets a 422)
    cfg = small(server, tmp_path, scenario=Scenario.STREAMING, queries=3, stream_chunks=2)
    stream = run(cfg)["streaming"]
    assert (stream["sessions"], stream["completed"], stream["failed"]) == (3, 2, 1)
    assert all(e["status"] == 500 and "injected failure" in e["error"] for e in stream["errors"])
