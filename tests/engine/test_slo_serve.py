"""``serve --chunk-target-ms / --ttff-target-s`` and a ``closed-loop+slo`` plan reach the session
manager, and ``GET /v1/engine`` reports them; bad values and bad combinations exit 2.

The real ``reelserve plan`` writes the plans, the real ``serve`` command parses flags and plans
in-process and builds the real app and backend; only the listening socket and the model worker
processes are left out (``test_serve_scheduling.served``), and ``GET /v1/engine`` runs over the app.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from reelserve.api.cli import app as serve_app
from reelserve.engine.plan import load_plan, plan_from_cli
from reelserve.sched.provision.engine_config import Scheduling
from tests.engine import test_serve_scheduling
from tests.engine.test_serve_plan import TINY, make_plan, runner

#: the apps ``serve`` would run (no socket, no model worker process)
served = test_serve_scheduling.served
#: ``serve --plan`` on a node with one CPU standing for the plan's GPUs
PLANNED = ["--plan", "{plan}", "--device-map", "{gpu}=cpu", "--model-map", TINY]


@pytest.fixture(scope="module")
def slo_plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``closed-loop+slo`` plan of a workload with a 30-s TTFF limit."""
    path = tmp_path_factory.mktemp("plan") / "slo.json"
    return make_plan(path, "--method", "greedy", "--policy", "closed-loop+slo", "--ttff", "30")


@pytest.fixture(scope="module")
def closed_loop_plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_plan(tmp_path_factory.mktemp("plan") / "closed.json", "--method", "greedy")


def _gpu(plan: Path) -> str:
    _, cfg = load_plan(plan)
    return str(cfg["engine"]["workers"][0]["gpu"])


def _argv(args: list[str], plan: Path) -> list[str]:
    return [a.format(plan=plan, gpu=_gpu(plan)) for a in args]


def test_the_slo_plan_carries_the_workload_s_ttff_and_an_older_plan_loads_without_targets(
    slo_plan: Path, tmp_path: Path
) -> None:
    keys = ("policy", "ordering", "headroom", "chunk_target_ms", "ttff_target_s")
    section = load_plan(slo_plan)[1]["engine"]
    assert [section[k] for k in keys] == ["closed-loop+slo", "edf", 1, 0.0, 30.0]
    plan = plan_from_cli(slo_plan, "chosen", f"{_gpu(slo_plan)}=cpu", TINY, False)
    assert plan.scheduling == Scheduling("edf", 1, 0.0, 30.0) and plan.info()["ttff_target_s"] == 30.0
    doc = json.loads(slo_plan.read_text())
    for key in ("chunk_target_ms", "ttff_target_s"):
        del doc["methods"]["greedy"]["engine"][key]
    (tmp_path / "old.json").write_text(json.dumps(doc))
    old = plan_from_cli(tmp_path / "old.json", "chosen", f"{_gpu(slo_plan)}=cpu", TINY, False)
    assert old.scheduling == Scheduling("edf", 1) and not old.scheduling.slo


def _serve(served: list[Any], argv: list[str], data: Path) -> tuple[Any, dict[str, Any], str]:
    """Run ``serve``; (the app, ``GET /v1/engine``, stderr)."""
    res = runner.invoke(serve_app, ["serve", *argv, "--data", str(data)])
    assert res.exit_code == 0, res.output
    (app,) = served
    key = re.search(r"first admin key .*: (\S+)", res.stderr)
    assert key is not None, res.stderr
    return app, test_serve_scheduling._engine_state(app, key.group(1)), res.stderr


@pytest.mark.parametrize(
    ("args", "chunk_ms", "ttff_s"),
    [
        (PLANNED, 0.0, 30.0),  # the plan's targets
        ([*PLANNED, "--chunk-target-ms", "400", "--ttff-target-s", "0"], 400.0, 0.0),  # flags override
        (["--engine", "model", "--chunk-target-ms", "250.5", "--ttff-target-s", "3"], 250.5, 3.0),
        (["--engine", "model"], 0.0, 0.0),  # no plan, no flags: off
    ],
)
def test_serve_runs_the_targets_and_the_engine_reports_them(
    served: list[Any], slo_plan: Path, tmp_path: Path, args: list[str], chunk_ms: float, ttff_s: float
) -> None:
    app, state, stderr = _serve(served, _argv(args, slo_plan), tmp_path / "data")
    cfg = app.state.session_config
    assert (cfg.placement.admit_ms, cfg.chunk_target_ms, cfg.ttff_target_s) == (chunk_ms, chunk_ms, ttff_s)
    assert app.state.services.backend.pool.cfg.ordering == cfg.pool.ordering == "edf"
    on = chunk_ms > 0 or ttff_s > 0
    assert state["slo"] == {"on": on, "chunk_target_ms": chunk_ms, "ttff_target_s": ttff_s}
    assert state["scheduling"]["ordering"] == "edf"
    line = f"chunk target {chunk_ms:g} ms, TTFF target {ttff_s:g} s"
    assert (line in stderr) == on
    if "--plan" in args:
        assert state["plan"]["policy"] == "closed-loop+slo" and state["plan"]["ttff_target_s"] == 30.0
        assert state["scheduling"]["headroom"] == 1


BAD = {
    "negative chunk target": (
        ["--chunk-target-ms", "-5"],
        "chunk_target_ms must be a number of milliseconds",
    ),
    "chunk target not a number": (["--chunk-target-ms", "fast"], "Invalid value for '--chunk-target-ms'"),
    "negative TTFF target": (["--ttff-target-s", "-1"], "ttff_target_s must be a number of seconds >= 0"),
    "TTFF target not a number": (["--ttff-target-s", "soon"], "Invalid value for '--ttff-target-s'"),
    "TTFF target nan": (["--ttff-target-s", "nan"], "ttff_target_s must be a number of seconds >= 0"),
    "chunk target inf": (["--chunk-target-ms", "inf"], "chunk_target_ms must be a number of milliseconds"),
    "targets with streams-first": (
        ["--ordering", "streams-first", "--ttff-target-s", "3"],
        "use ordering edf with them, or set both targets to 0",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_targets_exit_2_before_anything_starts(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(test_serve_scheduling, "BAD", BAD)  # the flags test's checks, on these cases
    test_serve_scheduling.test_bad_scheduling_flags_exit_2_before_anything_starts(case, tmp_path)


def test_a_target_on_a_streams_first_plan_needs_ordering_edf(closed_loop_plan: Path, tmp_path: Path) -> None:
    argv = _argv([*PLANNED, "--chunk-target-ms", "400"], closed_loop_plan)
    res = runner.invoke(serve_app, ["serve", *argv, "--data", str(tmp_path / "data")])
    assert res.exit_code == 2 and "replaces streams-first's hold" in " ".join(res.stderr.split())


@pytest.mark.parametrize("value", [-1, "soon", True])
def test_a_plan_with_a_bad_target_exits_2(slo_plan: Path, tmp_path: Path, value: object) -> None:
    doc = json.loads(slo_plan.read_text())
    doc["methods"]["greedy"]["engine"]["ttff_target_s"] = value
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    argv = _argv(PLANNED, slo_plan)
    argv[1] = str(tmp_path / "bad.json")
    res = runner.invoke(serve_app, ["serve", *argv, "--data", str(tmp_path / "data")])
    text = " ".join(res.stderr.split())
    assert res.exit_code == 2 and "engine section is malformed (ttff_target_s must be" in text
