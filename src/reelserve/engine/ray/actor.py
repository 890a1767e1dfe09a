"""A model worker as a Ray actor: the local backend's worker loop, on threads of the actor's process.

``ModelActor`` runs exactly the code of a local model worker process (``engine/model/worker.py``:
the loaded model, held sessions, the ``Batcher``'s step-level batching and preemption, the job lane's
store-claimed jobs with their checkpoints) — only the transport differs. Where the local parent talks
to its child over a pipe, the actor talks to the loop over an in-process pipe, and Ray carries each
call: ``call(op, args)`` answers ``("ok", result)`` or ``("error", {"code", "message", "retryable"})``
when the loop does, so calls are answered in completion order, as locally (an async actor: many calls
wait at once). ``drain()`` is SIGTERM's twin: claim no more, finish the work in hand, then return.
``watch()`` returns when the loop has ended; a killed actor fails it, which is how the parent learns.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from reelserve.core.errors import InvalidInput, ReelserveError
from reelserve.engine.model.client import ModelWorkerClient, RemoteError
from reelserve.engine.model.config import ModelWorkerConfig

__all__ = ["ModelActor", "ThreadWorkerClient"]


class ThreadWorkerClient(ModelWorkerClient):
    """``ModelWorkerClient``'s futures over the worker loop run on a thread here, not in a child process."""

    def __init__(self, cfg: ModelWorkerConfig) -> None:
        super().__init__(cfg)
        self._term = [False]  #: the worker loop's SIGTERM flag
        self._thread: threading.Thread | None = None

    def start(self, main: Callable[[ModelWorkerConfig, Any], None] | None = None) -> ThreadWorkerClient:
        if main is not None:  # the chunk-path profile's timed process body: local processes only
            raise InvalidInput("a custom worker body runs in a local model worker process, not here")
        parent, child = mp.Pipe()
        self._conn = parent
        self._pending[0] = self._ready
        self._thread = threading.Thread(target=self._body, args=(child,), name=f"loop-{self.id}", daemon=True)
        self._thread.start()
        threading.Thread(target=self._read, name=f"reader-{self.id}", daemon=True).start()
        return self

    def _body(self, conn: Connection) -> None:
        # The worker class is private to the local backend's module; this is its second transport.
        from reelserve.engine.model.worker import _Worker

        try:
            try:
                worker = _Worker(self.cfg, conn, self._term)
            except Exception as exc:  # the model did not load: the actor's constructor reports it
                conn.send((0, "error", {"code": "model_error", "message": f"{type(exc).__name__}: {exc}",
                                        "retryable": False}))  # fmt: skip
                return
            conn.send((0, "ok", {"ready": self.id, "pid": os.getpid()}))
            if worker.lane is not None:
                worker.lane.start()
            worker.run()
        finally:
            conn.close()  # the reader sees EOF: pending calls fail with WorkerLost

    @property
    def pid(self) -> int | None:
        return os.getpid()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self.lost

    def stop(self, drain: bool = True, timeout: float = 30.0) -> None:
        """Drain: claim no more work, finish what is in hand, end the loop (a thread cannot be killed)."""
        self._term[0] = True
        if self._thread is not None and drain:
            self._thread.join(timeout)


def _error(exc: ReelserveError) -> tuple[str, Any]:
    return "error", {"code": exc.code, "message": exc.message, "retryable": exc.retryable}


class ModelActor:
    """One device, one loaded model; created by ``RayWorkerClient`` as an async Ray actor."""

    def __init__(self, cfg: ModelWorkerConfig) -> None:
        import torch

        if cfg.threads and cfg.device.startswith("cpu"):
            torch.set_num_threads(cfg.threads)
        self.cfg = cfg
        self.worker = ThreadWorkerClient(cfg).start()
        try:
            self.worker.wait_ready(timeout=900.0)
        except RemoteError as exc:  # the actor fails to start with the worker's message
            msg = f"model worker {cfg.worker_id} could not load {cfg.model}: {exc.message}"
            raise RuntimeError(msg) from None

    async def ready(self) -> dict[str, Any]:
        return {"worker": self.cfg.worker_id, "pid": os.getpid(), "device": self.cfg.device}

    async def call(self, op: str, args: dict[str, Any]) -> tuple[str, Any]:
        try:
            return "ok", await asyncio.wrap_future(self.worker.call(op, **args))
        except ReelserveError as exc:  # RemoteError (the worker's own answer) or WorkerLost
            return _error(exc)

    async def drain(self, timeout: float = 30.0) -> None:
        await asyncio.to_thread(self.worker.stop, True, timeout)

    async def watch(self) -> None:
        while self.worker.alive():
            await asyncio.sleep(0.5)
