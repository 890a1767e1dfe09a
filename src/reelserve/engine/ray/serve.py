"""``reelserve serve --engine ray``: the backend from the command line's words, with a fix-it message
when Ray is not installed (this module imports Ray only after checking that it is there)."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING

from reelserve.core.errors import InvalidInput

if TYPE_CHECKING:
    from reelserve.engine.ray.backend import RayBackend

__all__ = ["serve_backend"]


def serve_backend(devices: str, workers: int, store_url: str, blob_root: str) -> RayBackend:
    """One actor per device entry; Ray's files under the data directory (``<data>/ray``)."""
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
    cfg = PoolConfig(devices=devs)
    cpus = sum(1 for d in devs if not d.startswith("cuda")) * max(1, cfg.threads) + 1
    runtime = RayRuntime(root=str(Path(blob_root).parent / "ray"), num_cpus=cpus)
    return RayBackend(cfg, store_url, blob_root, job_slots=max(1, workers) * 4, runtime=runtime)
