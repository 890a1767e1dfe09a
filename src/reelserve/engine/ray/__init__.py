"""The Ray backend: model workers as Ray actors, one per device, behind the local backend's seams.

``RayBackend`` (``engine/ray/backend.py``) is selected by ``reelserve serve --engine ray``. Only this
package imports Ray (``pip install 'reelserve[ray]'``); importing the package itself does not, so that
``serve_backend`` can tell a user without Ray how to get it. Import ``RayBackend`` and ``RayPool`` from
``reelserve.engine.ray.backend``.
"""

from __future__ import annotations

from reelserve.engine.ray.runtime import RayRuntime, ensure_ray, shutdown_ray
from reelserve.engine.ray.serve import serve_backend

__all__ = ["RayRuntime", "ensure_ray", "serve_backend", "shutdown_ray"]
