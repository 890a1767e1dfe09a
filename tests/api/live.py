"""A real server for tests: uvicorn on a free loopback port in a thread, with real worker processes."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from reelserve.api.app import create_app
from reelserve.api.settings import ApiSettings
from reelserve.engine.local import LocalBackend, WorkerConfig
from reelserve.store import default_url

__all__ = ["LiveServer", "free_port", "start_live"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    data: Path
    app: object
    server: uvicorn.Server
    thread: threading.Thread
    backend: LocalBackend

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.backend.stop(drain=True)
        self.app.state.services.close()  # type: ignore[attr-defined]


def start_live(data: Path, workers: int = 1, **settings: object) -> LiveServer:
    url = default_url(data)
    backend = LocalBackend(
        WorkerConfig(store_url=url, blob_root=str(data / "blobs"), idle_sleep_s=0.05), workers
    )
    backend.start()
    app = create_app(ApiSettings(data_dir=data, poll_after_ms=100, **settings), backend)  # type: ignore[arg-type]
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    return LiveServer(f"http://127.0.0.1:{port}", data, app, server, thread, backend)
