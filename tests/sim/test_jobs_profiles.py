"""The job-farm simulation (batch and DAG workloads) and profile loading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reelserve.core.errors import InvalidInput, UnknownName
from reelserve.sim.cluster import ClusterSpec
from reelserve.sim.jobs import run_jobs
from reelserve.sim.policies import resolve_policy
from reelserve.sim.profiles import DEFAULT_PROFILES, load_profile, profile_named
from reelserve.sim.workload import JobShape, WorkloadParams, build_workload

PROFILE = DEFAULT_PROFILES["wan-1.3b"]


def test_batch_jobs_all_finish_and_coalescing_shortens_the_makespan() -> None:
    wl = build_workload("batch", WorkloadParams(jobs=JobShape(count=200, deadline_h=1.0, submit_s=60)), 1)
    plain, _ = run_jobs(wl, ClusterSpec(gpus=4), resolve_policy("static"), PROFILE)
    batched, _ = run_jobs(wl, ClusterSpec(gpus=4), resolve_policy("static+coalescing"), PROFILE)
    assert plain["completed"] == batched["completed"] == 200 and plain["unfinished"] == 0
    assert batched["makespan_s"] < plain["makespan_s"]
    again, _ = run_jobs(wl, ClusterSpec(gpus=4), resolve_policy("static+coalescing"), PROFILE)
    assert again == batched


def test_dag_scenes_meet_more_deadlines_with_adaptive_quality_and_autoscaling() -> None:
    wl = build_workload("dag", WorkloadParams(jobs=JobShape(videos=3, minutes=2.0, ttff_s=20.0)), 2)
    tight = ClusterSpec(gpus=6, gpu="H100", startup_s=5.0)
    static, _ = run_jobs(wl, tight, resolve_policy("static"), DEFAULT_PROFILES["wan-14b"])
    quality, _ = run_jobs(wl, tight, resolve_policy("static+quality"), DEFAULT_PROFILES["wan-14b"])
    assert static["deadline_miss_rate"] > 0.2
    assert quality["deadline_miss_rate"] < static["deadline_miss_rate"] and quality["degraded"] > 0
    assert static["ttff_p50_s"] > 0
    auto, _world = run_jobs(wl, ClusterSpec(gpus=64, gpu="H100"), resolve_policy("autoscale"), PROFILE)
    assert auto["completed"] == len(wl.jobs) and auto["max_gpus"] > 1


def test_profiles_load_from_coefficients_or_measurements(tmp_path: Path) -> None:
    coef = tmp_path / "c.json"
    coef.write_text(json.dumps({"model": "m", "device": "H100", "step_fixed_ms": 5, "step_ms_per_mvoxel": 2}))
    assert load_profile(coef).step_ms(1000, 1000, 1) == pytest.approx(7.0)
    rows = [
        {
            "width": w,
            "height": h,
            "frames": 17,
            "batch": b,
            "step_ms": 4.0 + 3.0 * (w * h * 17 / 1e6) * b**0.8,
            "vae_decode_ms": 10.0 * w * h * 17 / 1e6 * b,
        }
        for w, h in ((256, 256), (512, 512))
        for b in (1, 2, 4)
    ]
    fit = tmp_path / "m.json"
    fit.write_text(json.dumps({"model": "tiny-wan", "device": "cpu", "measurements": rows}))
    p = load_profile(fit)
    assert p.batch_exponent == pytest.approx(0.8, abs=0.06)
    assert p.step_fixed_ms == pytest.approx(4.0, abs=0.5) and p.vae_decode_ms_per_mvoxel == pytest.approx(
        10.0
    )
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"model": "m", "speed": 3}))
    with pytest.raises(InvalidInput, match="missing or has unknown fields"):
        load_profile(bad)
    with pytest.raises(InvalidInput):
        load_profile(tmp_path / "nope.json")
    with pytest.raises(UnknownName, match=r"wan-1\.3b, wan-14b"):
        profile_named("sora")


def test_gpu_tables_load_and_reject_bad_numbers(tmp_path: Path) -> None:
    from reelserve.sim.profiles import load_gpu_types

    good = tmp_path / "g.json"
    good.write_text(
        json.dumps({"X1": {"speed": 1.5, "reserved_usd_h": 2.0, "spot_usd_h": 1.0, "memory_gb": 48}})
    )
    assert load_gpu_types(good)["X1"].price(spot=True) == 1.0
    bad = tmp_path / "b.json"
    bad.write_text(
        json.dumps({"X1": {"speed": -1, "reserved_usd_h": 2.0, "spot_usd_h": 1.0, "memory_gb": 48}})
    )
    with pytest.raises(InvalidInput, match="speed"):
        load_gpu_types(bad)
    with pytest.raises(InvalidInput, match="cannot read"):
        load_gpu_types(tmp_path / "missing.json")
