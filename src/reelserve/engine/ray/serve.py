"""``reelserve serve --engine ray``: the backend from the command line's words, with a fix-it message
when Ray is not installed (this module imports Ray only after checking that it is there)."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING

from reelserve.core.errors import InvalidInput

if TYPE_CHECKING:
    from reelserve.engine.plan import EnginePlan
    from reelserve.engine.ray.backend import RayBackend

__all__ = ["serve_backend"]


def serve_backend(
    devices: str, workers: int, store_url: str, blob_root: str, plan: EnginePlan | None = None
) -> RayBackend:
    """One actor per device entry (or per planned worker); Ray's files under ``<data>/ray``.

    With a plan, each actor requests its GPU type as Ray's ``accelerator_type`` (the custom resource
    ``accelerator_type:<type>``). A runtime this process starts declares one such resource per planned
    worker of that type, since the device map names this node's devices for it; a joined cluster's nodes
    must carry them (GPU nodes report their type; ``ray start --resources`` declares it otherwise).
    """
    if find_spec("ray") is None:
        raise InvalidInput(
            "--engine ray needs Ray: install reelserve's `ray` extra (Ray 2.60.0 with Serve), "
            "or choose --engine model for the same model workers as local processes",
            param="engine",
        )
    from reelserve.engine.model.pool import PoolConfig
    from reelserve.engine.ray.backend import RayBackend
    from reelserve.engine.ray.runtime import RayRuntime

    devs = tuple(d.strip() for d in devices.split(",") if d.strip())
    if plan is not None:
        devs = tuple(w.device for w in plan.workers)
    cfg = PoolConfig(devices=devs)
    cpus = sum(1 for d in devs if not d.startswith("cuda")) * max(1, cfg.threads) + 1
    declared: dict[str, float] = {}
    for w in plan.workers if plan is not None else ():
        declared[f"accelerator_type:{w.gpu}"] = declared.get(f"accelerator_type:{w.gpu}", 0.0) + 1.0
    root = str(Path(blob_root).parent / "ray")
    runtime = RayRuntime(root=root, num_cpus=cpus, resources=tuple(sorted(declared.items())))
    backend = RayBackend(cfg, store_url, blob_root, job_slots=max(1, workers) * 4, runtime=runtime)
    if plan is not None:
        from reelserve.engine.ray.backend import PlannedRayPool

        backend.pool = PlannedRayPool(backend.pool.cfg, plan.workers, runtime)
    return backend
