"""One real server for the engine tests: the API app (``create_app``) under uvicorn on loopback, with
two model worker processes (``cpu,cpu``) started once per test session, and an editor API key."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from websockets.sync.client import connect

from reelserve.api.app import create_app
from reelserve.api.settings import ApiSettings
from reelserve.engine.model.pool import PoolConfig
from reelserve.engine.sessions.manager import ManagerConfig, SessionManager
from reelserve.sched.placement import PlacementParams
from reelserve.store import default_url
from reelserve.store.governance import create_key

#: tiny sessions: 32x32, 4 new frames per chunk, 2 steps — a chunk is ~0.1-0.5 s on a busy CPU
SMALL: dict[str, Any] = {"size": "32x32", "chunk_frames": 4, "num_inference_steps": 2, "fps": 8}


@dataclass
class Server:
    url: str
    key: str
    app: Any
    loop: asyncio.AbstractEventLoop

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://")

    @property
    def manager(self) -> SessionManager:
        return self.app.state.sessions  # type: ignore[no-any-return]

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.key}"}, timeout=60)

    def create(self, **body: Any) -> dict[str, Any]:
        with self.client() as c:
            r = c.post("/v1/sessions", json={"prompt": "a red kite", **SMALL, **body})
            assert r.status_code == 201, r.text
            return r.json()  # type: ignore[no-any-return]

    def get(self, sid: str) -> dict[str, Any]:
        with self.client() as c:
            return c.get(f"/v1/sessions/{sid}").json()  # type: ignore[no-any-return]

    def run(self, coro: Any, timeout: float = 60) -> Any:
        """Run a coroutine on the server's event loop (to reach into the manager)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stream(self, sid: str, on_chunk: Any = None, timeout: float = 60) -> tuple[list[bytes], list[dict]]:
        """Read one stream to its end: (binary messages, text messages)."""
        binary: list[bytes] = []
        texts: list[dict[str, Any]] = []
        headers = {"Authorization": f"Bearer {self.key}"}
        with connect(f"{self.ws_url}/v1/sessions/{sid}/stream", additional_headers=headers) as ws:
            while True:
                msg = ws.recv(timeout=timeout)
                if isinstance(msg, bytes):
                    binary.append(msg)
                    continue
                texts.append(json.loads(msg))
                if texts[-1]["type"] == "chunk" and on_chunk is not None:
                    on_chunk(ws, texts[-1])
                if texts[-1]["type"] == "end":
                    return binary, texts


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Any, timeout: float = 90.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = Path(tmp_path_factory.mktemp("engine-api"))
    app = create_app(ApiSettings(data_dir=data))
    # the model workers also run the API's t2v jobs (job lane): 2 at a time each, 3 s leases
    lane = {"store_url": default_url(data), "blob_root": str(data / "blobs"), "job_slots": 2, "lease_s": 3.0}
    app.state.session_config = ManagerConfig(
        pool=PoolConfig(devices=("cpu", "cpu"), max_batch=4, max_wait_s=0.02, min_workers=2, **lane),
        placement=PlacementParams(offload_after_s=0.5),
        control_interval_s=0.1,
    )
    key, _ = create_key(app.state.services.store.engine, org="acme", project="film", role="editor")
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio")
    srv = uvicorn.Server(config)
    loops: list[asyncio.AbstractEventLoop] = []

    def run() -> None:
        loop = asyncio.new_event_loop()
        loops.append(loop)
        loop.run_until_complete(srv.serve())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    wait_for(lambda: srv.started, 30, "uvicorn")
    s = Server(f"http://127.0.0.1:{port}", key, app, loops[0])
    with s.client() as c:  # the first sessions call starts the model workers; wait until they are ready
        c.get("/v1/engine")
        wait_for(lambda: len(c.get("/v1/engine").json()["workers"]) == 2, 180, "two model workers")
    yield s
    srv.should_exit = True
    thread.join(60)
