"""``reelserve serve --plan``: a plan file from the real ``reelserve plan`` becomes the model workers.

The live test runs ``reelserve serve --engine model --plan`` as a real process (tiny-wan on CPU
devices standing for the plan's H100s, real SQLite, real PyAV) and talks to it over loopback HTTP.
Bad input goes through the real command in-process and must end in one line and exit status 2.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
from typer.testing import CliRunner

from reelserve.api.cli import app as serve_app
from reelserve.core.errors import InvalidInput
from reelserve.engine.model.client import ModelWorkerClient
from reelserve.engine.model.pool import PoolConfig
from reelserve.engine.plan import PlannedPool, PlannedWorker, build_engine_plan, load_plan
from reelserve.sim.cli import app as plan_app
from tests.api.live import free_port
from tests.engine.conftest import wait_for

runner = CliRunner()
TINY = "wan2.1-t2v-14b=tiny-wan"


def make_plan(path: Path, *extra: str) -> Path:
    """The real ``reelserve plan``: 500 480p ads within 1 h on reserved H100s (the greedy asks 8)."""
    args = ["plan", "--preset", "ads", "--count", "500", "--resolution", "480p", "--deadline-h", "1"]
    res = runner.invoke(plan_app, [*args, "--gpu-types", "H100", "--no-spot", *extra, "--out", str(path)])
    assert res.exit_code == 0, res.output
    return path


@pytest.fixture(scope="module")
def plan_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_plan(tmp_path_factory.mktemp("plan") / "plan.json", "--method", "greedy")


def test_the_plan_file_holds_an_engine_section_serve_can_read(plan_file: Path) -> None:
    name, cfg = load_plan(plan_file, "chosen")
    (group,) = cfg["engine"]["workers"]
    assert name == "greedy" and (group["gpu"], group["replicas"], group["model"]) == (
        "H100",
        8,
        "wan2.1-t2v-14b",
    )


def test_devices_are_shared_out_in_plan_order_and_every_gap_is_one_line() -> None:
    group = {
        "stage": "clips", "variant": "wan-14b-480p", "model": "wan2.1-t2v-14b", "gpu": "H100", "spot": False,
        "replicas": 2, "gpus_per_replica": 1, "resolution": "480p", "size": "832x480", "quality": "medium",
        "max_batch": 1, "units": 10, "unit_s": 22.5,
    }  # fmt: skip
    spot = {**group, "spot": True, "replicas": 3}
    a100 = {**group, "gpu": "A100", "gpus_per_replica": 2}
    llm = {
        "stage": "script", "variant": "llm-8b", "kind": "LLM",
        "pools": [{"gpu": "H100", "spot": False, "replicas": 1}],
        "reason": "LLM 'llm-8b': no model of this engine serves it; served elsewhere",
    }  # fmt: skip
    cfg = {"workload": "w", "engine": {"workers": [group, spot, a100], "served_elsewhere": [llm]}}
    devices = {"H100": ("cuda:0", "cuda:1", "cuda:2"), "B200": ("cuda:3",)}
    plan = build_engine_plan("p.json", "milp", cfg, devices, {"wan2.1-t2v-14b": "tiny-wan"})
    assert [(w.device, w.model, w.spot) for w in plan.workers] == [
        ("cuda:0", "tiny-wan", False), ("cuda:1", "tiny-wan", False), ("cuda:2", "tiny-wan", True),
    ]  # fmt: skip
    short = plan.shortfalls
    assert len(short) == 4 and short[0].startswith("stage script: LLM 'llm-8b'")
    assert "1 H100 device(s) mapped; 2 replicas short" in short[1]
    assert "a replica needs 2 GPUs; a model worker here uses one device" in short[2]
    assert "--device-map gives no A100 devices; none started" in short[3]
    assert any("cuda:3 unused" in n for n in plan.notes) and any("planned as spot" in n for n in plan.notes)
    assert plan.info()["served_elsewhere"] == ["script (LLM llm-8b)"]
    unmapped = build_engine_plan("p.json", "milp", cfg, devices, {})
    assert not unmapped.workers and all("needs a weights directory" in s for s in unmapped.shortfalls[1:])


class _Started(ModelWorkerClient):
    """A worker whose process is not needed here: the pool's slot accounting is under test."""

    def start(self) -> _Started:
        return self

    def wait_ready(self, timeout: float = 0.0) -> _Started:
        return self

    def alive(self) -> bool:
        return True

    def stop(self, drain: bool = True, timeout: float = 0.0) -> None:
        return None


class _SlotPool(PlannedPool):
    def _client(self, client: ModelWorkerClient, slot: PlannedWorker) -> ModelWorkerClient:
        return _Started(client.cfg)


def test_the_pool_keeps_the_plan_s_shape_when_asked_for_more_and_after_a_loss() -> None:
    slots = (
        PlannedWorker("cpu", "tiny-wan", "H100", False, "g"),
        PlannedWorker("cpu", "small-wan", "A100", True, "g"),
    )
    pool = _SlotPool(PoolConfig(devices=("cuda:7",), model="wan2.1-t2v-14b"), slots)
    assert pool.cfg.devices == ("cpu", "cpu") and pool.max_workers == 2
    first, second = pool.start()
    assert [(pool.workers[w].cfg.device, pool.workers[w].cfg.model) for w in (first, second)] == [
        ("cpu", "tiny-wan"), ("cpu", "small-wan"),
    ]  # fmt: skip
    assert pool.start(1) == [] and len(pool.workers) == 2  # e.g. a session manager's min_workers: no third
    pool.remove(first, drain=False)  # lost: its slot is free again
    (third,) = pool.start(3)
    assert (
        third not in (first, second)
        and pool.workers[third].cfg.model == "tiny-wan"
        and pool.slot_of[third] == 0
    )
    assert sorted(pool.slot_of.values()) == [0, 1]


def _infeasible(tmp: Path) -> Path:
    path = tmp / "infeasible.json"
    doc = {"chosen": "greedy", "methods": {"greedy": {"method": "greedy", "feasible": False}}}
    path.write_text(json.dumps(doc))
    return path


def _old(tmp: Path, plan_file: Path) -> Path:
    doc = json.loads(plan_file.read_text())
    del doc["methods"]["greedy"]["engine"]
    (tmp / "old.json").write_text(json.dumps(doc))
    return tmp / "old.json"


BAD: dict[str, tuple[list[str], str]] = {
    "missing file": (["--plan", "{tmp}/nope.json"], "cannot read the plan"),
    "not json": (["--plan", "{tmp}/garbage.json"], "is not JSON"),
    "infeasible": (["--plan", "{infeasible}"], "is infeasible: nothing to start"),
    "older plan": (["--plan", "{old}"], "has no engine section"),
    "unknown method": (["--plan", "{plan}", "--method", "best"], "valid plan methods: chosen, greedy, milp"),
    "method not in file": (
        ["--plan", "{plan}", "--method", "milp"],
        "unknown plan method 'milp'; valid plan methods: chosen, greedy",
    ),
    "unknown gpu": (["--plan", "{plan}", "--device-map", "H900=cpu"], "unknown GPU type 'H900'"),
    "bad device": (["--plan", "{plan}", "--device-map", "H100=gpu0"], "'gpu0' is not a device"),
    "no equals": (["--plan", "{plan}", "--device-map", "H100"], "is not TYPE=DEVICE"),
    "cuda twice": (["--plan", "{plan}", "--device-map", "H100=cuda:0;A100=cuda:0"], "cuda:0 more than once"),
    "unknown model": (
        ["--plan", "{plan}", "--device-map", "H100=cpu", "--model-map", "x=tiny-wan"],
        "unknown model 'x'",
    ),
    "needs weights": (["--plan", "{plan}", "--device-map", "H100=cpu"], "needs a weights directory"),
    "strict": (
        ["--plan", "{plan}", "--device-map", "H100=cpu", "--model-map", TINY, "--strict"],
        "7 replicas short",
    ),
    "engine local": (["--plan", "{plan}", "--engine", "local"], "use --engine model or --engine ray"),
    "devices too": (["--plan", "{plan}", "--devices", "cpu"], "not --devices"),
    "map without plan": (["--device-map", "H100=cpu"], "go with --plan"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_and_exit_2(case: str, plan_file: Path, tmp_path: Path) -> None:
    (tmp_path / "garbage.json").write_text("{not json")
    names = {"tmp": str(tmp_path), "plan": str(plan_file), "infeasible": str(_infeasible(tmp_path))}
    names["old"] = str(_old(tmp_path, plan_file))
    args, message = BAD[case]
    engine = [] if "--engine" in args or case == "not json" else ["--engine", "model"]  # --plan: model
    data = tmp_path / "data"
    res = runner.invoke(
        serve_app, ["serve", *engine, *(a.format(**names) for a in args), "--data", str(data)]
    )
    assert res.exit_code == 2, res.output
    text = " ".join(res.stderr.split())  # rich wraps long lines
    assert message in text and "Traceback" not in res.output
    assert not data.exists()  # checked before the data directory is opened or a key is made


def test_plan_from_cli_refuses_a_plan_with_nothing_to_start(tmp_path: Path) -> None:
    from reelserve.engine.plan import plan_from_cli

    path = tmp_path / "pod.json"
    res = runner.invoke(
        plan_app, ["plan", "--preset", "podcast", "--minutes", "1", "--method", "greedy", "--out", str(path)]
    )
    assert res.exit_code == 0, res.output
    with pytest.raises(InvalidInput, match="no model worker of the greedy plan can start") as err:
        plan_from_cli(path, "chosen", "B300=cpu", None, False)
    assert all(
        s in err.value.message
        for s in ("stage script: LLM", "stage speech: TTS", "stage video: talking-head")
    )


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path


@pytest.fixture(scope="module")
def served(plan_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``serve --engine model --plan`` with two CPU devices standing for the plan's eight H100s."""
    data = tmp_path_factory.mktemp("serve-plan")
    port = free_port()
    cli = str(Path(sys.executable).parent / "reelserve")
    plan = ["--plan", str(plan_file), "--device-map", "H100=cpu,cpu", "--model-map", TINY]
    cmd = [cli, "serve", "--engine", "model", *plan, "--port", str(port), "--data", str(data)]
    log = data / "serve.log"  # a file, not a pipe: a full pipe would block the server
    with log.open("w") as err:
        proc = subprocess.Popen(cmd, stderr=err, stdout=subprocess.DEVNULL, env=dict(os.environ))
    yield Served(proc, f"http://127.0.0.1:{port}", log)
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)


def _first_key(text: str) -> str | None:
    m = re.search(r"first admin key .*: (\S+)", text)
    return m.group(1) if m else None


def _engine(c: httpx.Client) -> dict[str, Any] | None:
    try:
        r = c.get("/v1/engine")
    except httpx.TransportError:
        return None
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_serve_plan_starts_the_planned_workers_and_a_job_succeeds_over_http(served: Served) -> None:
    proc, log = served.proc, served.log
    key = wait_for(lambda: _first_key(log.read_text()) or proc.poll() is not None, 120, "the first key")
    assert isinstance(key, str), log.read_text()[-2000:]
    text = log.read_text()
    assert (
        "warning: stage generate (wan-14b-480p -> tiny-wan) on 8 x H100" in text
        and "6 replicas short" in text
    )
    assert "plan greedy of" in text and "2 model workers" in text
    with httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as c:
        info = wait_for(
            lambda: (e := _engine(c)) is not None and len(e["workers"]) == 2 and e, 300, "two workers"
        )
        plan = info["plan"]
        assert plan["method"] == "greedy" and len(plan["workers"]) == 2
        assert {(w["device"], w["model"], w["gpu"]) for w in plan["workers"]} == {("cpu", "tiny-wan", "H100")}
        assert len(plan["shortfalls"]) == 1 and "6 replicas short" in plan["shortfalls"][0]
        body = {"prompt": "a kite over a beach", "size": "32x32", "num_frames": 5, "num_inference_steps": 2}
        r = c.post("/v1/videos", json=body)
        assert r.status_code in (200, 201, 202), r.text
        vid = r.json()["id"]
        done = wait_for(
            lambda: (v := c.get(f"/v1/videos/{vid}").json())["status"] in ("completed", "failed") and v,
            300,
            "the job",
        )
        assert done["status"] == "completed", done
        assert done["engine"]["devices"] == ["cpu"] and done["engine"]["workers"][0] in info["workers"]
        after = _engine(c)
        assert after is not None and sorted(after["workers"]) == sorted(info["workers"])  # no third worker
        mp4 = c.get(f"/v1/videos/{vid}/content")
    with av.open(io.BytesIO(mp4.content)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 5 and (frames[0].width, frames[0].height) == (32, 32)
    proc.send_signal(signal.SIGINT)
    proc.wait(120)
    assert proc.returncode in (0, 130), log.read_text()[-3000:]


def test_ray_actors_of_a_plan_request_its_accelerator_type(plan_file: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray")
    from reelserve.engine.plan import plan_from_cli
    from reelserve.engine.ray import serve_backend
    from reelserve.engine.ray.backend import PlannedRayPool
    from reelserve.engine.ray.client import RayWorkerClient

    plan = plan_from_cli(plan_file, "greedy", "H100=cpu,cpu", TINY, False)
    backend = serve_backend("cpu", 1, f"sqlite:///{tmp_path}/db", str(tmp_path / "blobs"), plan)
    assert isinstance(backend.pool, PlannedRayPool)
    # a runtime this process starts declares one H100 per planned worker (the device map stands for them)
    assert backend.pool.runtime.resources == (("accelerator_type:H100", 2.0),)
    client = backend.pool._new_client()  # its constructor starts nothing
    assert isinstance(client, RayWorkerClient) and client.accelerator_type == "H100"
    assert (client.cfg.device, client.cfg.model) == ("cpu", "tiny-wan")


@pytest.fixture()
def ray_cluster() -> Iterator[Any]:
    """A local Ray node with one ``accelerator_type:H100`` resource, its files in a fresh temp dir."""
    ray = pytest.importorskip("ray")
    import shutil
    import tempfile

    from reelserve.engine.ray import RayRuntime, ensure_ray, shutdown_ray

    root = tempfile.mkdtemp(prefix="rs-ray-")  # Ray's ~/.ray and /tmp/ray go here (ensure_ray)
    assert ensure_ray(RayRuntime(root=root, num_cpus=3, resources=(("accelerator_type:H100", 1.0),)))
    yield ray
    shutdown_ray()
    shutil.rmtree(root, ignore_errors=True)


def test_serve_plan_on_ray_places_the_actor_on_the_declared_accelerator(
    ray_cluster: Any, plan_file: Path, tmp_path: Path
) -> None:
    ray, h100 = ray_cluster, "accelerator_type:H100"
    assert ray.cluster_resources()[h100] == 1.0
    port, data = free_port(), tmp_path / "data"
    env = {**os.environ, "RAY_ADDRESS": str(ray.get_runtime_context().gcs_address)}  # join this node
    cli = str(Path(sys.executable).parent / "reelserve")
    plan = ["--plan", str(plan_file), "--device-map", "H100=cpu", "--model-map", TINY]
    data.mkdir()
    log = data / "serve.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [cli, "serve", "--engine", "ray", *plan, "--port", str(port), "--data", str(data)],
            env=env, stderr=err, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        key = wait_for(lambda: _first_key(log.read_text()) or proc.poll() is not None, 120, "the first key")
        assert isinstance(key, str), log.read_text()[-2000:]
        assert "7 replicas short" in log.read_text()
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}
        ) as c:
            wait_for(lambda: (e := _engine(c)) is not None and len(e["workers"]) == 1, 300, "the actor")
            # the actor holds Ray's accelerator_type request (0.001 of the node's one H100)
            assert ray.available_resources().get(h100, 0.0) == pytest.approx(0.999)
            body = {"prompt": "a lighthouse", "size": "32x32", "num_frames": 5, "num_inference_steps": 2}
            vid = c.post("/v1/videos", json=body, timeout=60).json()["id"]
            ended = ("completed", "failed")
            done = wait_for(
                lambda: (v := c.get(f"/v1/videos/{vid}").json())["status"] in ended and v, 300, "job"
            )
            assert done["status"] == "completed", done
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(120)
    assert proc.returncode in (0, 130), log.read_text()[-3000:]
    wait_for(lambda: ray.available_resources().get(h100, 0.0) == 1.0, 60, "the H100 back")
