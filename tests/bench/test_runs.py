"""The real harness over real HTTP on loopback against the fake endpoint."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from reelserve.bench.arrivals import poisson_schedule
from reelserve.bench.config import Api, Delivery, Scenario
from reelserve.bench.timeline import STAMPS

from .fake_server import FakeSettings
from .helpers import read_jsonl, run, small

_CLOCK_SLACK_S = 0.003  # server wall-clock stamps mapped onto the client's monotonic clock


def _ordered(row: dict) -> bool:
    present = [row["t"][name] for name in STAMPS if name in row["t"] and name != "scheduled"]
    return all(b >= a - _CLOCK_SLACK_S for a, b in itertools.pairwise(present))


def test_openai_single_stream_reports_every_interval_in_order(
    server: str, settings: FakeSettings, tmp_path: Path
) -> None:
    settings.model_delay_s, settings.encode_delay_s = 0.03, 0.01
    summary = run(small(server, tmp_path, api=Api.OPENAI, queries=4, warmup=1))
    perf = summary["performance"]
    assert (perf["queries"], perf["completed"], perf["failed"]) == (4, 4, 0)
    assert summary["warmup"] == {"queries": 1, "failed": 0}
    rows = [r for r in read_jsonl(tmp_path / "queries.jsonl") if r["phase"] == "performance"]
    assert len(rows) == 4
    for row in rows:
        assert _ordered(row), row["t"]
        stamps = {"issued", "queued", "started", "generated", "encoded", "finished", "ready", "complete"}
        assert set(row["t"]) >= stamps
        assert {"finalize", "deliver"} <= set(row["intervals"])
        assert row["intervals"]["model"] >= 0.03 - _CLOCK_SLACK_S
        assert row["intervals"]["encode"] >= 0.01 - _CLOCK_SLACK_S
        assert row["polls"] >= 1 and "server_delivery" in row["intervals"]
    answers = summary["answers"]
    assert answers["option_a_model_s"] < answers["option_b_e2e_s"]
    assert answers["cross_check"]["client_minus_server_s"] > -_CLOCK_SLACK_S
    assert summary["headline"]["mean_latency_s"] == pytest.approx(perf["latency_s"]["mean"])


def test_report_files_exist_and_parse(server: str, tmp_path: Path) -> None:
    run(
        small(
            server,
            tmp_path,
            api=Api.SYNC,
            scenario=Scenario.CONCURRENCY,
            concurrency=2,
            queries=6,
            plots=True,
        )
    )
    summary = json.loads((tmp_path / "result_summary.json").read_text())
    assert summary["config"]["api"] == "sync" and summary["environment"]["pyav"]
    for name in summary["files"]:
        assert (tmp_path / name).is_file(), name
    assert {"latency_cdf.png", "throughput.png", "stages.png"} <= set(summary["files"])
    assert (tmp_path / "latency_cdf.png").read_bytes()[:4] == b"\x89PNG"
    events = read_jsonl(tmp_path / "events.jsonl")
    assert [e["t"] for e in events] == sorted(e["t"] for e in events)
    assert sum(e["event"] == "query_ok" for e in events) == 6
    report = (tmp_path / "report.md").read_text()
    assert "videos/s" in report and "![latency_cdf.png](latency_cdf.png)" in report


def test_sync_delivery_modes_compared_on_bytes_and_time(server: str, tmp_path: Path) -> None:
    deliveries = (Delivery.BLOB, Delivery.RAW, Delivery.REFERENCE, Delivery.STREAM)
    summary = run(small(server, tmp_path, api=Api.SYNC, delivery=deliveries, queries=3, delivery_queries=2))
    table = summary["delivery_comparison"]
    assert set(table) == {"blob", "raw", "reference", "stream"}
    assert table["blob"]["completed"] == 3  # the main run keeps --queries
    assert all(table[mode]["completed"] == 2 for mode in ("raw", "reference", "stream"))
    rows = read_jsonl(tmp_path / "queries.jsonl")
    seeds = {r["phase"]: [x["seed"] for x in rows if x["phase"] == r["phase"]] for r in rows}
    assert seeds["delivery:raw"] == seeds["performance"][:2]  # the same queries, the first two
    assert table["raw"]["bytes_per_video"] == 9 * 64 * 64 * 3
    assert table["reference"]["bytes_per_video"] < 300 < table["blob"]["bytes_per_video"]
    assert summary["answers"]["raw_over_mp4"] > 1


def test_mlcommons_offline_in_both_response_formats(server: str, tmp_path: Path) -> None:
    cfg = small(server, tmp_path, api=Api.MLCOMMONS, scenario=Scenario.OFFLINE, queries=5)
    cfg_both = small(server, tmp_path, api=Api.MLCOMMONS, scenario=Scenario.OFFLINE, queries=5,
                     delivery=(Delivery.BLOB, Delivery.REFERENCE))  # fmt: skip
    assert cfg.delivery == (Delivery.BLOB,)
    summary = run(cfg_both)
    assert summary["performance"]["completed"] == 5
    assert summary["delivery_comparison"]["reference"]["completed"] == 5
    rows = [r for r in read_jsonl(tmp_path / "queries.jsonl") if r["phase"] == "performance"]
    assert all(r["t"]["scheduled"] == rows[0]["t"]["scheduled"] for r in rows)  # offline: all at t=0
    assert all("model" in r["intervals"] for r in rows)


def test_errors_mid_run_are_reported_per_query(server: str, settings: FakeSettings, tmp_path: Path) -> None:
    settings.fail_every = 3
    summary = run(small(server, tmp_path, api=Api.SYNC, queries=9))
    perf = summary["performance"]
    assert (perf["queries"], perf["completed"], perf["failed"]) == (9, 6, 3)
    assert list(perf["errors"].values()) == [3] and "500" in next(iter(perf["errors"]))
    errors = [e for e in read_jsonl(tmp_path / "events.jsonl") if e["event"] == "query_error"]
    assert len(errors) == 3 and all(e["status"] == 500 and "injected failure" in e["error"] for e in errors)


def test_failed_jobs_and_timeouts_are_reported(server: str, settings: FakeSettings, tmp_path: Path) -> None:
    settings.job_fail_every = 2
    summary = run(small(server, tmp_path / "a", api=Api.OPENAI, queries=4))
    assert summary["performance"]["failed"] == 2
    assert "injected job failure" in next(iter(summary["performance"]["errors"]))
    settings.job_fail_every, settings.model_delay_s = 0, 0.8
    summary = run(small(server, tmp_path / "b", api=Api.SYNC, queries=2, timeout_s=0.2))
    assert summary["performance"]["failed"] == 2
    assert "timed out after 0.2 s" in next(iter(summary["performance"]["errors"]))


def test_poisson_arrivals_are_deterministic_under_a_seed(server: str, tmp_path: Path) -> None:
    def scheduled(out: Path, seed: int) -> tuple[list[float], list[tuple[str, int]]]:
        run(small(server, out, api=Api.SYNC, scenario=Scenario.SERVER, rate=40.0, queries=8, seed=seed))
        rows = [r for r in read_jsonl(out / "queries.jsonl") if r["phase"] == "performance"]
        start = min(r["t"]["scheduled"] for r in rows)
        return [r["t"]["scheduled"] - start for r in rows], [(r["prompt_id"], r["seed"]) for r in rows]

    offsets, requests = scheduled(tmp_path / "a", seed=5)
    again, requests_again = scheduled(tmp_path / "b", seed=5)
    _, other_requests = scheduled(tmp_path / "c", seed=6)
    assert offsets == pytest.approx(poisson_schedule(8, 40.0, 5), abs=1e-6)
    assert again == pytest.approx(offsets, abs=1e-6)
    assert requests == requests_again != other_requests


def test_server_scenario_rate_search_over_http(server: str, settings: FakeSettings, tmp_path: Path) -> None:
    settings.model_delay_s = 0.02
    cfg = small(server, tmp_path, api=Api.SYNC, scenario=Scenario.SERVER, rate=10.0, queries=6,
                latency_bound_s=5.0, search_trials=2, search_queries=3)  # fmt: skip
    search = run(cfg)["rate_search"]
    assert [t["rate"] for t in search["trials"]] == [10.0, 20.0]
    assert search["best_rate"] == 20.0 and all(t["passed"] for t in search["trials"])
    rows = read_jsonl(tmp_path / "queries.jsonl")
    assert sum(r["phase"] == "performance" for r in rows) == 6  # the main run keeps --queries
    assert sum(r["phase"].startswith("search:") for r in rows) == 2 * 3  # each trial --search-queries


def test_offline_concurrency_caps_queries_in_flight(
    server: str, settings: FakeSettings, tmp_path: Path
) -> None:
    settings.model_delay_s = 0.1  # three rounds of two: 0.3 s in all, longer than the 0.25 s timeout
    summary = run(small(server, tmp_path, api=Api.SYNC, scenario=Scenario.OFFLINE, concurrency=2, queries=6,
                        timeout_s=0.25))  # fmt: skip
    assert settings.observed["max_in_flight"] == 2
    assert summary["performance"]["completed"] == 6  # waiting for a slot is not part of the timeout
    waits = summary["performance"]["intervals_s"]["issue_lag"]
    assert waits["max"] >= 0.2  # the last pair waited for two rounds
