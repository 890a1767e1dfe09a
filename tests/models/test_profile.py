"""``reelserve profile``: a real tiny-wan run on the CPU, and the log-log fit on known exponents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reelserve.models.profile import fit_latency_profile, grid, tokens
from reelserve.models.profile_cli import app
from reelserve.sim.profiles import load_profile


def test_fit_recovers_known_exponents() -> None:
    rows = []
    for w, h, f, b in [(64, 64, 9, 1), (128, 128, 9, 1), (64, 64, 17, 1), (64, 64, 9, 2), (64, 64, 9, 4)]:
        scale = tokens(w, h, f) / tokens(64, 64, 9)
        rows.append({"width": w, "height": h, "frames": f, "batch": b, "step_ms": 20 * scale**0.8 * b**0.6,
                     "text_ms": 3.0, "vae_decode_ms": 50 * scale * b, "encode_ms": 2.0 * f * b})  # fmt: skip
    fit = fit_latency_profile(rows, "cpu")
    assert fit["step_ms"] == pytest.approx(20, rel=1e-3)
    assert fit["token_exponent"] == pytest.approx(0.8, abs=1e-3)
    assert fit["batch_exponent"] == pytest.approx(0.6, abs=1e-3)
    assert fit["vae_decode_ms"] == pytest.approx(50, rel=1e-3)
    assert fit["encode_ms_per_frame"] == pytest.approx(2.0, rel=1e-3)


def test_grid_covers_sizes_at_batch_one_and_batches_at_the_extremes() -> None:
    points = grid([(32, 32), (64, 64)], [5, 9], [1, 2])
    assert sum(p.batch == 1 for p in points) == 4
    assert {(p.width, p.frames) for p in points if p.batch == 2} == {(32, 5), (64, 9)}


def test_profile_command_measures_tiny_wan_and_writes_what_load_profile_reads(tmp_path: Path) -> None:
    out = tmp_path / "tiny.json"
    args = ["--sizes", "32x32,64x64", "--frames", "5", "--batches", "1,2", "--steps", "2", "--repeats", "1"]
    result = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    raw = json.loads(out.read_text())
    assert raw["model"] == "tiny-wan" and raw["device"] == "cpu"
    assert len(raw["measurements"]) == 4
    for row in raw["measurements"]:
        assert row["step_ms"] > 0 and row["vae_decode_ms"] > 0 and row["encode_ms"] > 0 and row["text_ms"] > 0
    assert raw["latency_profile"]["step_ms"] > 0
    prof = load_profile(out)
    assert prof.device == "cpu" and prof.step_ms(64, 64, 5, 2) > 0


def test_profile_command_refuses_bad_sizes(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--sizes", "30x30", "--out", str(tmp_path / "x.json")])
    assert result.exit_code == 2
    assert "multiple of 16" in result.output


def test_chunk_path_times_the_engines_own_per_chunk_work_and_feeds_the_simulator(tmp_path: Path) -> None:
    from reelserve.sim.streaming import ChunkCost

    out = tmp_path / "path.json"
    args = ["--sizes", "32x32", "--frames", "5", "--batches", "1,2", "--steps", "2", "--repeats", "1"]
    result = CliRunner().invoke(app, [*args, "--chunk-path", "--rounds", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    path = json.loads(out.read_text())["chunk_path"]
    assert path["version"] == 2 and path["max_batch"] == 2
    assert (path["width"], path["frames"], path["chunk_frames"], path["steps"]) == (32, 5, 4, 2)
    # each session makes 2 chunks at each running-set size (1 + 2 sessions), plus any run that had to
    # be repeated to form a size: every chunk took 2 steps and one decode, whatever sets formed
    chunks = len(path["encode_ms"])
    assert chunks >= 2 * 1 + 2 * 2
    assert sum(int(b) * len(v) for b, v in path["step_ms"].items()) == 2 * chunks
    assert sum(int(k) * len(v) for k, v in path["decode_ms"].items()) == chunks
    assert sorted(path["step_ms"]) == sorted(path["decode_ms"]) == ["1", "2"]  # both sizes formed
    for key in ("admit_ms", "finish_ms", "reply_ms"):
        assert len(path[key]) == chunks and min(path[key]) >= 0, key
    assert min(path["finish_ms"]) > 0 and min(path["encode_ms"]) > 0  # state export, fMP4 segment
    # transit samples only for requests sent while the worker polled: each run's first ones at least
    assert 3 <= len(path["request_ms"]) <= chunks
    assert len(path["open_ms"]) == 2 and min(path["open_ms"]) > 0  # a new session's prompt encoding
    # a lone session's chunk (b = 1, 2 rounds) waits the 10 ms for company it never gets, every time;
    # how late each wait ended is a duration, never negative
    assert len(path["wake_late_ms"]) >= 2 and min(path["wake_late_ms"]) >= 0
    hand_backs = path["deliver_ms"]
    assert sum(len(v) for v in hand_backs.values()) == chunks
    assert all(len(v) % int(k) == 0 for k, v in hand_backs.items())  # whole hand-backs of k
    # the same chunks timed from the end of the step that finished them
    assert {k: len(v) for k, v in path["handback_ms"].items()} == {k: len(v) for k, v in hand_backs.items()}
    cost = ChunkCost.from_chunk_path(path)
    assert cost.steps == 2 and cost.path is not None and cost.decode_ms(2) > 0


def test_the_chunk_path_worker_is_a_process_of_its_own() -> None:
    import os

    from reelserve.engine.model.chunk_profile import ChunkPathProfiler
    from reelserve.engine.sessions.spec import SessionSpec

    spec = SessionSpec("a fox", width=32, height=32, chunk_frames=4, steps=2)
    with ChunkPathProfiler.start(max_batch=1) as profiler:
        pid = profiler.client.pid
        assert pid is not None and pid != os.getpid() and profiler.client.alive()
        first = profiler.measure(spec, rounds=1)
        again = profiler.measure(spec, rounds=1)  # the same worker, fresh sessions
    assert not profiler.client.alive()
    for path in (first, again):
        assert {b: len(v) for b, v in path["step_ms"].items()} == {"1": 2}  # 1 chunk × 2 steps, alone
        assert len(path["encode_ms"]) == 1 and path["deliver_ms"] == {"1": path["deliver_ms"]["1"]}


def test_chunk_path_refuses_a_chunk_length_the_engine_would_refuse(tmp_path: Path) -> None:
    args = ["--sizes", "32x32", "--frames", "1", "--batches", "1,2", "--chunk-path"]  # a 0-frame chunk
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "x.json")])
    assert result.exit_code == 2
    assert "chunk_frames" in result.output
