"""The fidelity benchmark's verdict and diagnostics (pure functions, synthetic rounds; no engine run)."""

from __future__ import annotations

from typing import Any

import numpy as np
from benchmarks import sim_fidelity as fid


def _round(
    p50: float, p99: float, *, drift: float = 1.0, cpu: float = 1.0, speed: float = 1.0
) -> dict[str, Any]:
    ratios = {"p50": {"ratio": p50}, "p99": {"ratio": p99}}
    rng = np.random.default_rng(int(p50 * 1000))
    engine = list(rng.uniform(100.0, 300.0, 80))
    return {
        "profile_drift": {"step_ms": drift, "vae_decode_ms": 1.0, "encode_ms": 1.0},
        "worker": {"busy_s": 10.0, "cpu_s": 10.0 * cpu},
        "engine_over_profile": {"worker": speed},
        "engine_latency_ms": engine,
        "sim_latency_ms": {"continuous_chunk_path": [v * p50 for v in engine]},
        "continuous_chunk_path": ratios,
    }


def test_verdict_is_the_median_of_all_rounds_and_needs_five() -> None:
    rounds = [_round(1.0, 1.05), _round(0.97, 0.95), _round(1.3, 1.4), _round(0.6, 0.7), _round(1.02, 1.08)]
    v = fid.verdict(rounds)
    assert v["p50"]["median"] == 1.0 and v["p99"]["median"] == 1.05
    assert (v["p50"]["min"], v["p50"]["max"]) == (0.6, 1.3)
    assert v["met"] is True
    assert fid.verdict(rounds[:4])["met"] is False  # fewer than 5 rounds never passes


def test_verdict_fails_on_either_percentile_and_keeps_unsteady_rounds() -> None:
    rounds = [_round(1.0, 1.2, drift=0.5) for _ in range(3)] + [_round(1.0, 1.0) for _ in range(2)]
    v = fid.verdict(rounds)
    assert v["met"] is False  # p99's median over all rounds is 1.2: the steady rounds do not rescue it
    assert v["steady_rounds"] == 2 and v["p99"]["steady_median"] == 1.0


def test_matched_rounds_are_those_whose_engine_ran_at_the_profiles_speed() -> None:
    rounds = [_round(1.3, 1.3, speed=1.3) for _ in range(3)] + [
        _round(1.0, 0.98, speed=1.05) for _ in range(2)
    ]
    v = fid.verdict(rounds)
    assert v["matched_rounds"] == 2 and v["p50"]["matched_median"] == 1.0
    assert v["met"] is False


def test_steady_needs_both_agreeing_slices_and_the_workers_core() -> None:
    assert fid.is_steady(_round(1.0, 1.0))
    assert not fid.is_steady(_round(1.0, 1.0, drift=1.2))
    assert not fid.is_steady(_round(1.0, 1.0, cpu=0.6))


def test_engine_over_profile_weights_by_the_engines_counts() -> None:
    worker = {
        "step_ms": {1: {"steps": 30, "wall": 12.0, "cpu": 11.0}, 2: {"steps": 10, "wall": 8.0, "cpu": 8.0}},
        "decode_ms": {1: {"decodes": 5, "wall": 150.0}, 3: {"decodes": 1, "wall": 300.0}},
    }
    path = {"step_ms": {"1": [6.0, 6.0], "2": [8.0]}, "decode_ms": {"1": [100.0], "2": [200.0]}}
    out = fid.engine_over_profile(worker, path)
    assert out["step"]["by_size"] == {"1": 2.0, "2": 1.0}
    assert out["step"]["overall"] == round((30 * 12 + 10 * 8) / (30 * 6 + 10 * 8), 3)
    assert out["decode"]["by_size"] == {"1": 1.5}  # no profile samples for 3 chunks together: left out
    assert out["decode"]["overall"] == 1.5
    assert out["worker"] == round((30 * 12 + 10 * 8 + 5 * 150) / (30 * 6 + 10 * 8 + 5 * 100), 3)


def test_drift_is_after_over_before_at_batch_one() -> None:
    before = {"step_ms": {"1": [5.0, 5.0, 7.0]}, "decode_ms": {"1": [100.0]}, "encode_ms": [10.0]}
    after = {"step_ms": {"1": [6.0]}, "decode_ms": {"1": [80.0]}, "encode_ms": [10.0, 12.0, 14.0]}
    assert fid.drift(before, after) == {"step_ms": 1.2, "vae_decode_ms": 0.8, "encode_ms": 1.2}


def test_cpu_shares_split_the_machines_time_and_show_steal() -> None:
    #         user nice system idle iowait irq softirq steal
    before = [100, 50, 20, 500, 5, 0, 0, 10]
    after = [160, 90, 30, 570, 5, 0, 0, 30]  # 200 ticks: 70 ours, 40 niced, 70 idle, 20 stolen
    assert fid.cpu_shares(before, after) == {"busy": 0.35, "nice": 0.2, "idle": 0.35, "steal": 0.1}
    assert len(fid.cpu_jiffies()) == 8  # this machine's /proc/stat


def test_within_slice_is_the_second_half_of_batch_one_steps_over_the_first() -> None:
    assert fid.within_slice({"step_ms": {"1": [4.0, 4.0, 6.0, 6.0]}}) == 1.5
    assert fid.within_slice({"step_ms": {"1": [4.0]}}) is None


def test_conditions_report_ranges_over_slices_and_engine_runs() -> None:
    def cpu(steal: float) -> dict[str, float]:
        return {"busy": 0.5, "nice": 0.1, "idle": 0.4 - steal, "steal": steal}

    slices = [{"cpu": cpu(0.0), "load_avg_1min": 1.0, "path": {"step_ms": {"1": [4.0, 8.0]}}}]
    rounds = [{"cpu": {"engine": cpu(0.02)}, "load_avg_1min": [1.0, 3.5, 1.2]}]
    out = fid.conditions(slices, rounds)
    assert out["load_avg_1min"] == [1.0, 3.5] and out["steal"] == [0.0, 0.02]
    assert out["within_slice"] == [2.0, 2.0]


def test_path_medians_skip_a_part_without_samples() -> None:
    path = {"steps": 2, "step_ms": {"1": [4.0, 6.0]}, "wake_late_ms": [], "encode_ms": [8.0, 9.0, 30.0]}
    assert fid.path_medians(path) == {"step_ms": {"1": 5.0}, "encode_ms": 9.0}
