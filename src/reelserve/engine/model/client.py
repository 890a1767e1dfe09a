"""The parent's handle on one model worker process: calls return ``concurrent.futures.Future``s.

A reader thread resolves futures as answers arrive (in any order). When the process dies — SIGKILL,
a crash — the pipe reaches EOF and every pending call fails with ``WorkerLost`` (retryable), so the
caller can resume the work elsewhere from its last checkpoint.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from multiprocessing.process import BaseProcess
from typing import Any

from reelserve.core.errors import ReelserveError
from reelserve.engine.model.config import ModelWorkerConfig

__all__ = ["ModelWorkerClient", "RemoteError", "WorkerLost"]


class WorkerLost(ReelserveError):
    code = "worker_lost"
    retryable = True


class RemoteError(ReelserveError):
    """An error raised in the worker, carried over with its code."""

    def __init__(self, code: str, message: str, retryable: bool) -> None:
        super().__init__(message, code=code)
        self.retryable = retryable


#: imported once by the fork server; every model worker forks from it with torch and diffusers loaded
_PRELOAD = ["reelserve.engine.model.preload"]


def _context() -> Any:
    """``forkserver`` where there is one (Linux): a model worker starts in ~1 s instead of re-importing
    torch + diffusers (5-8 s here) — scale-out and replacing a lost worker get faster. The server is a
    clean single-threaded process that has imported but never run torch (no CUDA context, no thread
    pools), so forking it is safe. Elsewhere, or with ``REELSERVE_WORKER_START=spawn``, ``spawn``."""
    if os.environ.get("REELSERVE_WORKER_START") == "spawn" or "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(_PRELOAD)
    return ctx


class ModelWorkerClient:
    """Start with ``start()``; ``wait_ready()`` blocks until the model is loaded."""

    def __init__(self, cfg: ModelWorkerConfig) -> None:
        self.cfg = cfg
        self.id = cfg.worker_id
        self._ids = itertools.count(1)
        self._pending: dict[int, Future[Any]] = {}
        self._lock = threading.Lock()
        self._ready: Future[Any] = Future()
        self._proc: BaseProcess | None = None
        self._conn: Any = None
        self.lost = False

    def start(self, main: Callable[[ModelWorkerConfig, Any], None] | None = None) -> ModelWorkerClient:
        """``main``: the process body (default ``model_worker_main``; the chunk-path profile's is timed)."""
        from reelserve.engine.model.worker import model_worker_main  # torch: only the child needs it

        ctx = _context()
        parent, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=main or model_worker_main, args=(self.cfg, child), name=f"reelserve-{self.id}", daemon=True
        )
        self._proc.start()
        child.close()
        self._conn = parent
        self._pending[0] = self._ready
        threading.Thread(target=self._read, name=f"reader-{self.id}", daemon=True).start()
        return self

    def wait_ready(self, timeout: float = 120.0) -> ModelWorkerClient:
        self._ready.result(timeout)
        return self

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive() and not self.lost

    def call(self, op: str, **args: Any) -> Future[Any]:
        fut: Future[Any] = Future()
        with self._lock:
            if self.lost:
                fut.set_exception(WorkerLost(f"model worker {self.id} is gone"))
                return fut
            rid = next(self._ids)
            self._pending[rid] = fut
            try:
                self._conn.send((rid, op, args))
            except (OSError, ValueError):
                del self._pending[rid]
                fut.set_exception(WorkerLost(f"model worker {self.id} is gone"))
        return fut

    def _read(self) -> None:
        while True:
            try:
                rid, status, payload = self._conn.recv()
            except (EOFError, OSError):
                break
            with self._lock:
                fut = self._pending.pop(rid, None)
            # a caller may have cancelled its future (asyncio.wrap_future does on task cancellation)
            if fut is None or not fut.set_running_or_notify_cancel():
                continue
            if status == "ok":
                fut.set_result(payload)
            else:
                fut.set_exception(RemoteError(payload["code"], payload["message"], payload["retryable"]))
        with self._lock:
            self.lost = True
            pending, self._pending = self._pending, {}
        for fut in pending.values():
            if fut.set_running_or_notify_cancel():
                fut.set_exception(WorkerLost(f"model worker {self.id} exited while working"))

    def stop(self, drain: bool = True, timeout: float = 30.0) -> None:
        """Drain (finish running work, then exit) or kill at once."""
        proc = self._proc
        if proc is None:
            return
        if drain and proc.is_alive():
            proc.terminate()  # SIGTERM: the worker drains
        elif proc.is_alive():
            proc.kill()
        proc.join(timeout if drain else 5.0)
        if proc.is_alive():
            proc.kill()
            proc.join(5.0)
        deadline = time.monotonic() + 1.0
        while not self.lost and time.monotonic() < deadline:
            time.sleep(0.01)
