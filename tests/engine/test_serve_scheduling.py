"""``serve --ordering / --headroom`` and a closed-loop plan's switches reach the batchers and placement.

The real ``reelserve plan`` writes the plan, the real ``serve`` command parses it in-process and
builds the real app and backend; only the listening socket and the model worker processes are left
out (``uvicorn.Server.run`` hands the app back; ``ModelBackend.start`` starts nothing), so the test
reads what the workers and the session manager would be started with, and ``GET /v1/engine``.
"""

from __future__ import annotations

import json
import re
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient

from reelserve.api.cli import app as serve_app
from reelserve.engine.model.backend import ModelBackend
from reelserve.engine.plan import load_plan, plan_from_cli
from reelserve.engine.sessions.manager import SessionManager
from reelserve.sched.provision.engine_config import Scheduling
from tests.engine.test_serve_plan import TINY, make_plan, runner


@pytest.fixture(scope="module")
def closed_loop_plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_plan(tmp_path_factory.mktemp("plan") / "plan.json", "--method", "greedy")


def test_a_plan_is_made_for_the_closed_loop_and_an_older_one_keeps_the_defaults(
    closed_loop_plan: Path, tmp_path: Path
) -> None:
    _, cfg = load_plan(closed_loop_plan)
    engine = cfg["engine"]
    assert (engine["policy"], engine["ordering"], engine["headroom"]) == ("closed-loop", "streams-first", 1)
    plan = plan_from_cli(closed_loop_plan, "chosen", "H100=cpu", TINY, False)
    assert plan.scheduling == Scheduling("streams-first", 1) and plan.info()["ordering"] == "streams-first"
    doc = json.loads(closed_loop_plan.read_text())
    for key in ("policy", "ordering", "headroom"):
        del doc["methods"]["greedy"]["engine"][key]
    (tmp_path / "old.json").write_text(json.dumps(doc))
    old = plan_from_cli(tmp_path / "old.json", "chosen", "H100=cpu", TINY, False)
    assert old.policy is None and old.scheduling == Scheduling("edf", 0)


@pytest.fixture()
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """The apps ``serve`` would run; no socket, no model worker process, no SIGTERM handler here."""
    apps: list[Any] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: apps.append(self.config.app))
    monkeypatch.setattr(ModelBackend, "start", lambda self: None)
    monkeypatch.setattr(signal, "signal", lambda *args: None)
    yield apps
    for app in apps:
        app.state.services.close()


def _engine_state(app: Any, key: str) -> dict[str, Any]:
    """``GET /v1/engine`` with the session manager ``serve``'s settings make (not started)."""
    backend = app.state.services.backend
    app.state.sessions = SessionManager(app.state.session_config, pool=backend.pool)
    try:
        r = TestClient(app).get("/v1/engine", headers={"Authorization": f"Bearer {key}"})
    finally:
        app.state.sessions.encode_pool.shutdown(wait=False)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


PLANNED = ["--plan", "{plan}", "--device-map", "H100=cpu", "--model-map", TINY]


@pytest.mark.parametrize(
    ("args", "ordering", "headroom"),
    [
        (PLANNED, "streams-first", 1),  # the plan's switches
        ([*PLANNED, "--ordering", "edf", "--headroom", "0"], "edf", 0),  # explicit flags override
        (["--engine", "model"], "edf", 0),  # no plan, no flags: unchanged
        (["--engine", "model", "--headroom", "2"], "edf", 2),
    ],
)
def test_serve_configures_the_batchers_and_the_placement(
    served: list[Any], closed_loop_plan: Path, tmp_path: Path, args: list[str], ordering: str, headroom: int
) -> None:
    argv = [a.format(plan=closed_loop_plan) for a in args]
    res = runner.invoke(serve_app, ["serve", *argv, "--data", str(tmp_path / "data")])
    assert res.exit_code == 0, res.output
    (app,) = served
    backend = app.state.services.backend
    assert backend.pool.cfg.ordering == ordering  # every model worker's batcher (ModelWorkerConfig)
    cfg = app.state.session_config
    assert (cfg.pool.ordering, cfg.placement.headroom) == (ordering, headroom)
    key = re.search(r"first admin key .*: (\S+)", res.stderr)
    assert key is not None, res.stderr
    state = _engine_state(app, key.group(1))
    assert state["scheduling"] == {"ordering": ordering, "headroom": headroom}
    if "--plan" in args:
        assert state["plan"]["policy"] == "closed-loop" and state["plan"]["headroom"] == 1


BAD = {
    "unknown ordering": (["--ordering", "sjf"], "valid orderings: edf, streams-first"),
    "negative headroom": (["--headroom", "-1"], "headroom must be a whole number of batch slots >= 0"),
    "headroom not a number": (["--headroom", "one"], "Invalid value for '--headroom'"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_scheduling_flags_exit_2_before_anything_starts(case: str, tmp_path: Path) -> None:
    args, message = BAD[case]
    data = tmp_path / "data"
    res = runner.invoke(serve_app, ["serve", "--engine", "model", *args, "--data", str(data)])
    assert res.exit_code == 2, res.output
    assert message in " ".join(res.stderr.split()) and "Traceback" not in res.output
    assert not data.exists()


def test_a_plan_with_a_bad_ordering_exits_2(closed_loop_plan: Path, tmp_path: Path) -> None:
    doc = json.loads(closed_loop_plan.read_text())
    doc["methods"]["greedy"]["engine"]["ordering"] = "sjf"
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    args = ["serve", "--plan", str(tmp_path / "bad.json"), "--device-map", "H100=cpu", "--model-map", TINY]
    res = runner.invoke(serve_app, [*args, "--data", str(tmp_path / "data")])
    text = " ".join(res.stderr.split())  # rich wraps long lines
    assert res.exit_code == 2 and "engine section is malformed (unknown ordering 'sjf'" in text
