"""The Ray backend: model workers as Ray actors running the local backend's job lane and worker ops.

One Ray runtime for the module (its files in a fresh short temp directory; 4 logical CPUs), one store
and one ``RayBackend`` with a single CPU actor that the tests share. Real Ray, real tiny-wan with
random weights, real SQLite, real PyAV, a real ``reelserve serve --engine ray`` over loopback HTTP.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray")

import av  # noqa: E402
import httpx  # noqa: E402
import numpy as np  # noqa: E402

from reelserve.core.errors import InvalidInput  # noqa: E402
from reelserve.core.records import GenerationSpec, JobStatus  # noqa: E402
from reelserve.engine.model.client import ModelWorkerClient, RemoteError, WorkerLost  # noqa: E402
from reelserve.engine.model.config import ModelWorkerConfig  # noqa: E402
from reelserve.engine.model.pool import ModelPool, PoolConfig  # noqa: E402
from reelserve.engine.ray import RayRuntime, ensure_ray, shutdown_ray  # noqa: E402
from reelserve.engine.ray.actor import ThreadWorkerClient  # noqa: E402
from reelserve.engine.ray.backend import RayBackend  # noqa: E402
from reelserve.engine.ray.client import RayWorkerClient, actor_options  # noqa: E402
from reelserve.engine.sessions.manager import ManagerConfig, SessionManager  # noqa: E402
from reelserve.engine.sessions.spec import SessionSpec  # noqa: E402
from reelserve.pipeline.runner import JobRunner  # noqa: E402
from reelserve.pipeline.submit import submit_generation  # noqa: E402
from reelserve.store import FsBlobStore, Store, default_url, open_store  # noqa: E402
from tests.engine.conftest import wait_for  # noqa: E402

SPEC = GenerationSpec("a lighthouse at dusk", width=32, height=32, num_frames=5, steps=6, checkpoint_every=2,
                      preset="ultrafast", seed=11)  # fmt: skip


@dataclass
class Lane:
    store: Store
    blobs: FsBlobStore
    backend: RayBackend

    def submit(self, **changes: Any) -> str:
        spec = GenerationSpec.from_dict({**SPEC.to_dict(), **changes})
        return submit_generation(self.store, spec)[0].id

    def finish(self, ids: list[str], timeout: float = 180.0) -> list[dict[str, Any]]:
        """Wait for the jobs to end; the generate stage's state of each (succeeded ones)."""

        def ended() -> bool:
            return all(j is not None and j.status.terminal for j in map(self.store.get_job, ids))

        wait_for(ended, timeout, "jobs to end")
        jobs = [self.store.get_job(i) for i in ids]
        assert [j.status for j in jobs if j] == [JobStatus.SUCCEEDED] * len(ids), [
            j.error_message for j in jobs if j
        ]
        return [generate_state(self.store, i) for i in ids]

    def client(self) -> RayWorkerClient:
        wait_for(lambda: self.backend.alive() == 1, 300, "the model actor")
        client = self.backend.pool.client(self.backend.pool.live()[0])
        assert isinstance(client, RayWorkerClient)
        return client


def generate_state(store: Store, job_id: str) -> dict[str, Any]:
    return next((r.state for r in store.get_stages(job_id) if r.stage == "generate"), {})


@pytest.fixture(scope="module")
def runtime() -> Iterator[str]:
    """One Ray runtime for the module; yields its GCS address (a serve process joins it)."""
    root = tempfile.mkdtemp(prefix="rs-ray-")
    before = dict(os.environ)
    assert ensure_ray(RayRuntime(root=root, num_cpus=4))
    assert os.environ["RAY_TMPDIR"] == root and os.environ["HOME"] == before["HOME"]
    yield str(ray.get_runtime_context().gcs_address)
    shutdown_ray()
    ours = ("RAY_TMPDIR", "RAY_AUTH_TOKEN_PATH", "XDG_CACHE_HOME", "RAY_worker_niceness", "HOME")
    assert {k: os.environ.get(k) for k in ours} == {k: before.get(k) for k in ours}  # restored
    assert Path(root, "home", ".ray", "auth_token").exists()  # Ray's HOME was ours, not ~
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def lane(runtime: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lane]:
    data = Path(tmp_path_factory.mktemp("ray-lane"))
    url, blob_root = default_url(data), data / "blobs"
    # one actor, two job slots; 0.3 s batch wait so that two jobs submitted together share a batch
    pool = PoolConfig(devices=("cpu",), max_wait_s=0.3, lease_s=2.0)
    backend = RayBackend(pool, url, str(blob_root), job_slots=2, supervise_s=0.2)
    backend.start()
    store = open_store(url)
    yield Lane(store, FsBlobStore(blob_root), backend)
    backend.stop(drain=True)
    assert backend.alive() == 0
    store.close()


def test_a_job_has_the_same_frames_as_on_the_local_backend(lane: Lane, tmp_path: Path) -> None:
    import torch

    ray_job = lane.submit()
    # the local backend's worker (engine/local.py) runs JobRunner on a claimed job: do exactly that here
    store = open_store(default_url(tmp_path))
    job = submit_generation(store, SPEC)[0]
    runner = JobRunner(store, FsBlobStore(tmp_path / "blobs"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the actor's worker runs (PoolConfig.threads)
    try:
        claimed = store.claim_job(runner.worker_id, 30.0)
        assert claimed is not None and claimed.id == job.id
        runner.run(claimed)
    finally:
        torch.set_num_threads(threads)
    local = generate_state(store, job.id)
    store.close()
    state = lane.finish([ray_job])[0]
    assert state["frames"] == local["frames"] == 5
    assert state["frames_sha256"] == local["frames_sha256"]
    assert state["steps_run"] == 6 and state["resumed_from"] == 0


def test_two_jobs_share_batched_steps_on_one_actor(lane: Lane) -> None:
    lane.client()
    ids = [lane.submit(seed=20), lane.submit(seed=21)]
    states = lane.finish(ids)
    assert [s["max_batch"] for s in states] == [2, 2]
    assert all(s["steps_run"] == 6 and s["frames"] == 5 for s in states)
    assert states[0]["frames_sha256"] != states[1]["frames_sha256"]  # two seeds, two clips
    video = next(a for a in lane.store.get_artifacts(ids[0]) if a.name == "video")
    with av.open(io.BytesIO(lane.blobs.get_bytes(video.blob))) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 5 and frames[0].shape == (32, 32, 3)


def test_a_model_error_fails_that_request_and_leaves_the_actor_healthy(lane: Lane) -> None:
    client = lane.client()
    clip = {"prompt": "a fox", "width": 32, "height": 32, "frames": 5, "steps": 2, "seed": 1}
    with pytest.raises(RemoteError) as err:  # 8x8: a 1x1 latent, the 2x2 patch embedding fails
        client.call("clip", clip_id="bad-0", spec={**clip, "width": 8, "height": 8}).result(120)
    assert err.value.code == "model_error"
    with pytest.raises(RemoteError) as err2:
        client.call("clip", clip_id="bad-1", spec={}).result(60)
    assert err2.value.code == "internal_error"
    good = client.call("clip", clip_id="good", spec=clip).result(120)
    assert good["frames"].shape == (5, 32, 32, 3) and good["frames"].dtype == np.uint8
    assert client.alive() and lane.backend.alive() == 1
    assert client.call("stats").result(30)["pid"] == client.pid


def test_a_killed_actor_s_job_resumes_from_its_checkpoint_with_no_step_redone(lane: Lane) -> None:
    old = lane.client()
    steps = 200
    vid = lane.submit(steps=steps, checkpoint_every=5, seed=5)
    wait_for(lambda: generate_state(lane.store, vid).get("step", 0) >= 10, 120, "a checkpoint")
    job = lane.store.get_job(vid)
    assert job is not None and job.lease_owner is not None
    assert int(job.lease_owner.split(":")[1]) == old.pid
    ray.kill(old.actor)  # the actor's process dies mid-job
    wait_for(lambda: not old.alive(), 30, "the parent to notice")
    state = lane.finish([vid], timeout=240)[0]
    assert state["resumed_from"] >= 10
    assert state["steps_run"] == steps - state["resumed_from"]  # no step ran twice
    new = lane.client()  # the supervisor replaced the actor; the replacement ran the rest
    assert new.pid != old.pid


class _InProcessPool(ModelPool):
    """The local model worker's loop (``engine/model/worker.py``) on a thread of this process."""

    def _new_client(self) -> ModelWorkerClient:
        return ThreadWorkerClient(super()._new_client().cfg)


async def _session_frames(pool: ModelPool, spec: SessionSpec) -> tuple[str, int]:
    mgr = SessionManager(ManagerConfig(), pool=pool)
    await mgr.start()
    s = await mgr.create(spec)
    mgr.begin(s)
    assert s.task is not None
    await asyncio.wait_for(s.task, 120)
    await mgr.stop()
    assert s.status.value == "finished", s.describe()
    return str(s.describe()["frames_sha256"]), len(s.records)


def test_a_session_s_chunks_come_from_the_actor_with_the_local_worker_s_frames(lane: Lane) -> None:
    import torch

    lane.client()
    spec = SessionSpec("a kite over dunes", width=32, height=32, chunk_frames=4, max_chunks=2, seed=3)
    on_ray = asyncio.run(_session_frames(lane.backend.pool, spec))  # the session manager shares the pool
    local = _InProcessPool(PoolConfig(devices=("cpu",)))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        local.start()
        on_local = asyncio.run(_session_frames(local, spec))
    finally:
        local.stop()
        torch.set_num_threads(threads)
    assert on_ray == on_local and on_ray[1] == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path


@pytest.fixture(scope="module", autouse=True)
def served(runtime: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``reelserve serve --engine ray``, started first so that its actor loads while the other tests run."""
    data = Path(tmp_path_factory.mktemp("ray-serve"))
    port = _free_port()
    env = {**os.environ, "RAY_ADDRESS": runtime}  # join the module's runtime (token: RAY_AUTH_TOKEN_PATH)
    cli = str(Path(sys.executable).parent / "reelserve")
    cmd = [cli, "serve", "--engine", "ray", "--devices", "cpu", "--port", str(port), "--data", str(data)]
    log = data / "serve.log"  # a file, not a pipe: a full pipe would block the server
    with log.open("w") as err:
        proc = subprocess.Popen(cmd, env=env, stderr=err, stdout=subprocess.DEVNULL)
    yield Served(proc, port, log)
    if proc.poll() is None:
        proc.kill()
        proc.wait(30)


def test_serve_with_engine_ray_makes_a_playable_mp4_over_http(served: Served) -> None:
    proc, log = served.proc, served.log
    try:
        # the first admin key is printed once, before the server starts
        key = wait_for(lambda: _first_key(log.read_text()) or proc.poll() is not None, 120, "the first key")
        assert isinstance(key, str), log.read_text()[-2000:]
        base = f"http://127.0.0.1:{served.port}"
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as c:
            wait_for(lambda: _ready(c), 300, "serve --engine ray to be ready")
            body = {"prompt": "waves on a rock", "size": "32x32", "num_frames": 5, "num_inference_steps": 3}
            r = c.post("/v1/videos", json=body)
            assert r.status_code in (200, 201, 202), r.text
            vid = r.json()["id"]
            ended = ("completed", "failed")
            wait_for(lambda: c.get(f"/v1/videos/{vid}").json()["status"] in ended, 180, "the job")
            assert c.get(f"/v1/videos/{vid}").json()["status"] == "completed"
            mp4 = c.get(f"/v1/videos/{vid}/content")
            assert mp4.status_code == 200 and mp4.headers["content-type"].startswith("video/mp4")
        with av.open(io.BytesIO(mp4.content)) as container:
            frames = list(container.decode(video=0))
        assert len(frames) == 5 and (frames[0].width, frames[0].height) == (32, 32)
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C: uvicorn stops, then the backend drains its actors
        proc.wait(120)
    assert proc.returncode in (0, 130), log.read_text()[-3000:]  # 130: the Ctrl-C convention
    assert '"msg": "ray backend stopped"' in log.read_text()
    wait_for(lambda: ray.available_resources().get("CPU", 0) >= 3, 60, "the serve actor's CPU back")


def _first_key(text: str) -> str | None:
    m = re.search(r"first admin key .*: (\S+)", text)
    return m.group(1) if m else None


def _ready(c: httpx.Client) -> bool:
    try:
        return c.get("/readyz").status_code == 200
    except httpx.TransportError:
        time.sleep(0.2)
        return False


def test_engine_ray_without_ray_installed_says_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import reelserve.engine.ray.serve as serve_mod

    monkeypatch.setattr(serve_mod, "find_spec", lambda name: None)  # as if the `ray` extra were missing
    with pytest.raises(InvalidInput, match="needs Ray: install reelserve's `ray` extra") as err:
        serve_mod.serve_backend("cpu", 1, default_url(tmp_path), str(tmp_path / "blobs"))
    assert "--engine model" in err.value.message


def test_cuda_devices_ask_ray_for_one_gpu_per_actor() -> None:
    cfg, res = actor_options(ModelWorkerConfig("mw-1", device="cuda:1"))
    assert res == {"num_gpus": 1, "num_cpus": 1}
    assert cfg.device == "cuda:0"  # Ray sets CUDA_VISIBLE_DEVICES to the one GPU it placed the actor on
    cfg, res = actor_options(ModelWorkerConfig("mw-0", device="cpu", threads=2))
    assert res == {"num_gpus": 0, "num_cpus": 2} and cfg.device == "cpu"


def test_an_actor_whose_model_cannot_load_fails_to_start_with_the_reason(runtime: str) -> None:
    client = RayWorkerClient(ModelWorkerConfig("mw-bad", model="no-such-model"))
    with pytest.raises(WorkerLost, match=r"did not start.*no-such-model"):
        client.start().wait_ready(300)
    assert not client.alive()
    client.stop(drain=False)
