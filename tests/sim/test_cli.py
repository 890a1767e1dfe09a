"""``reelserve sim`` and ``reelserve plan`` through Typer's runner: outputs and clean errors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from reelserve.sim.cli import app

runner = CliRunner()


def test_sim_writes_summary_and_report(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["sim", "--gpus", "6", "--sessions", "60", "--hours", "0.05", "--seed", "1", "--burstiness", "2"]
    result = runner.invoke(app, [*args, "--policies", "static,closed-loop", "--out", str(out), "--no-plots"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    for name in ("static", "closed-loop"):
        for key in (
            "worst_chunk_latency_s",
            "p99_chunk_latency_s",
            "deadline_miss_rate",
            "gpu_hours",
            "cost_usd",
        ):
            assert isinstance(summary[name][key], (int, float))
    assert summary["_run"]["seed"] == 1
    assert "| static |" in (out / "report.md").read_text()
    again = runner.invoke(
        app, [*args, "--policies", "static,closed-loop", "--out", str(tmp_path / "b"), "--no-plots"]
    )
    assert again.exit_code == 0
    second = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert {k: v for k, v in second.items() if k != "_run"} == {
        k: v for k, v in summary.items() if k != "_run"
    }


def test_sim_bad_input_exits_2_without_a_traceback(tmp_path: Path) -> None:
    cases = [
        ["--gpus", "0"],
        ["--gpu-type", "V100"],
        ["--sessions", "-5"],
        ["--policies", "static,teleport"],
        ["--workload", "nope"],
        ["--frontier", "8,-1"],
    ]
    for extra in cases:
        result = runner.invoke(
            app, ["sim", "--sessions", "10", "--hours", "0.01", "--out", str(tmp_path), *extra]
        )
        assert result.exit_code == 2, (extra, result.output)
        assert "error" in result.output and "Traceback" not in result.output


def test_plan_writes_a_config_and_rejects_impossible_deadlines(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    result = runner.invoke(
        app,
        [
            "plan",
            "--preset",
            "ads",
            "--count",
            "40",
            "--deadline-h",
            "1",
            "--method",
            "both",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["chosen"] in ("greedy", "milp") and doc["plan"]["feasible"]
    assert doc["methods"]["milp"]["mip_gap"] is not None
    assert {"replicas_by_gpu", "spot_share", "expected_cost_usd", "makespan_s", "ttff_s"} <= set(doc["plan"])
    for extra in (
        ["--deadline-h", "0.001"],
        ["--gpu-types", "A100,TPU"],
        ["--count", "0"],
        ["--method", "magic"],
    ):
        bad = runner.invoke(app, ["plan", "--preset", "ads", "--count", "40", "--method", "greedy", *extra])
        assert bad.exit_code == 2, (extra, bad.output)
        assert "Traceback" not in bad.output
    wf = tmp_path / "w.json"
    wf.write_text(json.dumps({"name": "x", "stages": []}))
    empty = runner.invoke(app, ["plan", "--workload-file", str(wf), "--out", str(out)])
    assert empty.exit_code == 2 and "empty" in empty.output


def test_plan_policy_sets_the_engine_switches(tmp_path: Path) -> None:
    args = ["plan", "--preset", "ads", "--count", "40", "--deadline-h", "1", "--method", "greedy"]
    for policy, ordering, headroom in (("closed-loop", "streams-first", 1), ("static", "edf", 0)):
        out = tmp_path / f"{policy}.json"
        result = runner.invoke(app, [*args, "--policy", policy, "--out", str(out)])
        assert result.exit_code == 0, result.output
        engine = json.loads(out.read_text())["plan"]["engine"]
        assert (engine["policy"], engine["ordering"], engine["headroom"]) == (policy, ordering, headroom)
    bad = runner.invoke(app, [*args, "--policy", "magic", "--out", str(tmp_path / "bad.json")])
    assert bad.exit_code == 2 and "closed-loop" in bad.output and "Traceback" not in bad.output
    assert not (tmp_path / "bad.json").exists()


def test_plan_policy_closed_loop_slo_takes_the_workload_s_ttff_as_its_target(tmp_path: Path) -> None:
    args = ["plan", "--preset", "ads", "--count", "40", "--deadline-h", "1", "--method", "greedy"]
    out = tmp_path / "slo.json"
    result = runner.invoke(app, [*args, "--policy", "closed-loop+slo", "--ttff", "30", "--out", str(out)])
    assert result.exit_code == 0, result.output
    engine = json.loads(out.read_text())["plan"]["engine"]
    assert (engine["policy"], engine["ordering"], engine["headroom"]) == ("closed-loop+slo", "edf", 1)
    assert (engine["chunk_target_ms"], engine["ttff_target_s"]) == (0.0, 30.0)
    # the ads workload has no TTFF limit of its own: an slo plan without a target is refused
    bad = runner.invoke(app, [*args, "--policy", "closed-loop+slo", "--out", str(tmp_path / "bad.json")])
    assert bad.exit_code == 2 and "--ttff" in bad.output and "Traceback" not in bad.output
    assert not (tmp_path / "bad.json").exists()
