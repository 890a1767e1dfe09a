"""Understanding tasks keyed by name: ``register("labels")`` on an adapter class, ``load_task`` to build one.

An adapter class has ``load(weights: Path | None, device: str | None, batch_size: int, **options)``;
``weights=None`` builds its built-in ``tiny-*`` model. Loaded models are cached per
(task, weights, device, batch size, options) so a worker keeps them between videos and jobs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from reelserve.core.errors import UnknownName

__all__ = ["load_task", "register", "task_names"]

_TASKS: dict[str, Any] = {}
_LOADED: dict[tuple[Any, ...], Any] = {}
_LOCK = threading.Lock()

T = TypeVar("T")


def register(name: str) -> Callable[[T], T]:
    """Class decorator: make an understanding adapter available as task ``name``."""

    def deco(cls: T) -> T:
        _TASKS[name] = cls
        return cls

    return deco


def _import_builtin() -> None:
    # Adapters register on import; importing here keeps torch/transformers out of `import reelserve`.
    from reelserve.models.understanding import (  # noqa: F401
        captions,
        classify,
        embeddings,
        objects,
        shots,
    )


def task_names() -> list[str]:
    _import_builtin()
    return sorted(_TASKS)


def load_task(
    task: str,
    weights: Path | None = None,
    device: str | None = None,
    batch_size: int = 8,
    **options: Any,
) -> Any:
    """The loaded adapter for ``task`` (cached); unknown tasks raise and list the valid ones."""
    _import_builtin()
    if task not in _TASKS:
        raise UnknownName("task", task, list(_TASKS), param="tasks")
    key = (
        task,
        None if weights is None else str(weights.resolve()),
        device,
        batch_size,
        *sorted(options.items()),
    )
    with _LOCK:
        if key not in _LOADED:
            _LOADED[key] = _TASKS[task].load(weights=weights, device=device, batch_size=batch_size, **options)
        return _LOADED[key]
