"""Helpers for the API benchmarks: a real ``reelserve serve`` process on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from reelserve.local import open_data_dir
from reelserve.store.governance import create_key

__all__ = ["Server", "serve"]


@dataclass(frozen=True, slots=True)
class Server:
    url: str
    key: str  #: an editor key of project default/default
    data: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(
    data: Path, *, store_url: str | None = None, workers: int = 0, timeout_s: float = 120
) -> Iterator[Server]:
    """Start ``reelserve serve`` on ``data`` (and ``store_url``); yields when ``/readyz`` answers 200."""
    with open_data_dir(data, store_url) as dd:
        key, _ = create_key(dd.store.engine, org="default", project="default", role="editor", name="bench")
    port = _free_port()
    cmd = [sys.executable, "-m", "reelserve", "serve", "--port", str(port), "--workers", str(workers)]
    cmd += ["--data", str(data)] + (["--store", store_url] if store_url else [])
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=dict(os.environ))
    threading.Thread(target=lambda: proc.stderr and proc.stderr.read(), daemon=True).start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the server did not become ready")
            time.sleep(0.1)
        yield Server(url, key, data)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
