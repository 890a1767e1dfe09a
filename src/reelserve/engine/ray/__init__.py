"""The Ray backend: model workers as Ray actors, one per device, behind the local backend's seams.

``RayBackend`` (``engine/ray/backend.py``) is selected by ``reelserve serve --engine ray``. Only this
package imports Ray (``pip install 'reelserve[ray]'``).
"""

from __future__ import annotations

from reelserve.engine.ray.backend import RayBackend, RayPool, serve_backend
from reelserve.engine.ray.runtime import RayRuntime, ensure_ray, shutdown_ray

__all__ = ["RayBackend", "RayPool", "RayRuntime", "ensure_ray", "serve_backend", "shutdown_ray"]
