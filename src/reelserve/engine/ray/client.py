"""The parent's handle on one ``ModelActor``: the ``ModelWorkerClient`` contract over Ray.

``call(op, **args)`` is ``actor.call.remote(op, args)`` wrapped in a ``concurrent.futures.Future``
that resolves to the worker's result or raises its ``RemoteError`` (same codes as locally). When the
actor dies — killed, its node lost, the process crashed — Ray fails its pending calls and the
``watch`` call; each becomes ``WorkerLost`` (retryable) and ``alive()`` turns false, so the pool and
the session manager treat it exactly like a local worker whose pipe reached EOF.

Placement: ``num_gpus=1`` per actor on ``cuda`` devices (Ray then sets ``CUDA_VISIBLE_DEVICES``, so the
actor's device is ``cuda:0``), ``num_cpus`` = its torch threads on CPU devices.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayError

from reelserve.core.errors import InvalidInput, ReelserveError
from reelserve.engine.model.client import ModelWorkerClient, RemoteError, WorkerLost
from reelserve.engine.model.config import ModelWorkerConfig

__all__ = ["RayWorkerClient", "actor_options"]

log = logging.getLogger("reelserve.engine.ray")


def actor_options(cfg: ModelWorkerConfig) -> tuple[ModelWorkerConfig, dict[str, Any]]:
    """The actor's own config (its device as the actor sees it) and its Ray resource request."""
    if cfg.device.startswith("cuda"):
        return replace(cfg, device="cuda:0"), {"num_gpus": 1, "num_cpus": 1}
    return cfg, {"num_gpus": 0, "num_cpus": max(1, cfg.threads)}


class RayWorkerClient(ModelWorkerClient):
    """Start with ``start()``; ``wait_ready()`` blocks until the actor has loaded its model."""

    def __init__(self, cfg: ModelWorkerConfig) -> None:
        super().__init__(cfg)
        self.actor: Any = None
        self.info: dict[str, Any] = {}
        self.accelerator_type: str | None = None  #: e.g. "H100": Ray places the actor on such a node
        self._stopping = False

    def start(self, main: Callable[[ModelWorkerConfig, Any], None] | None = None) -> RayWorkerClient:
        if main is not None:  # the chunk-path profile's timed process body: local processes only
            raise InvalidInput("a custom worker body runs in a local model worker process, not here")
        from reelserve.engine.ray.actor import ModelActor

        cfg, resources = actor_options(self.cfg)
        if self.accelerator_type is not None:  # Ray's own option: requests "accelerator_type:<type>"
            resources["accelerator_type"] = self.accelerator_type
        cls = ray.remote(ModelActor).options(max_restarts=0, max_concurrency=1000, **resources)
        self.actor = cls.remote(cfg)  # type: ignore[attr-defined]
        self.actor.ready.remote().future().add_done_callback(self._on_ready)
        self.actor.watch.remote().future().add_done_callback(self._on_end)
        return self

    def wait_ready(self, timeout: float = 900.0) -> RayWorkerClient:
        self._ready.result(timeout)
        return self

    def _on_ready(self, ref: Future[Any]) -> None:
        try:
            self.info = ref.result()
        except Exception as exc:  # the constructor failed (the model did not load), or Ray did
            self._ready.set_exception(WorkerLost(f"model actor {self.id} did not start: {_cause(exc)}"))
        else:
            self._ready.set_result(self.info)

    def _on_end(self, _: Future[Any]) -> None:
        if not (self.lost or self._stopping):
            log.warning("model actor ended", extra={"worker": self.id})
        self.lost = True

    @property
    def pid(self) -> int | None:
        return self.info.get("pid")

    def alive(self) -> bool:
        return self.actor is not None and self._ready.done() and bool(self.info) and not self.lost

    def call(self, op: str, **args: Any) -> Future[Any]:
        fut: Future[Any] = Future()
        if self.lost or self.actor is None:
            fut.set_exception(WorkerLost(f"model worker {self.id} is gone"))
            return fut
        ref = self.actor.call.remote(op, args)
        ref.future().add_done_callback(lambda done: self._settle(fut, done))
        return fut

    def _settle(self, fut: Future[Any], done: Future[Any]) -> None:
        # a caller may have cancelled its future (asyncio.wrap_future does on task cancellation)
        if not fut.set_running_or_notify_cancel():
            return
        try:
            status, payload = done.result()
        except RayActorError:
            self.lost = True
            fut.set_exception(WorkerLost(f"model worker {self.id} exited while working"))
        except RayError as exc:  # e.g. arguments that Ray could not serialize
            fut.set_exception(ReelserveError(f"ray call failed: {type(exc).__name__}"))
        else:
            if status == "ok":
                fut.set_result(payload)
            elif payload["code"] == WorkerLost.code:  # the actor lives but its worker loop has ended
                self.lost = True
                fut.set_exception(WorkerLost(payload["message"]))
            else:
                fut.set_exception(RemoteError(payload["code"], payload["message"], payload["retryable"]))

    def stop(self, drain: bool = True, timeout: float = 30.0) -> None:
        """Drain (finish running work, then end) or kill at once; the actor's resources are freed."""
        if self.actor is None:
            return
        self._stopping = True
        if drain and not self.lost:
            try:
                ray.get(self.actor.drain.remote(timeout), timeout=timeout + 5.0)
            except (RayError, GetTimeoutError):
                log.warning("model actor did not drain in time", extra={"worker": self.id})
        self.lost = True
        with contextlib.suppress(RayError):  # already gone
            ray.kill(self.actor, no_restart=True)


def _cause(exc: BaseException) -> str:
    """The first line of Ray's error text (its full text carries a traceback)."""
    text = str(exc).strip().splitlines()
    return text[-1][:300] if text else type(exc).__name__
