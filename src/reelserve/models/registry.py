"""The adapter registry: model adapters keyed by name, chosen by the catalog's ``adapter`` field."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from reelserve.core.errors import UnknownName

__all__ = ["adapter_names", "get_adapter", "load_model", "register"]

_ADAPTERS: dict[str, Any] = {}
_LOADED: dict[tuple[str, str | None, str | None], Any] = {}

T = TypeVar("T")


def register(name: str) -> Callable[[T], T]:
    """Class decorator: make an adapter available under ``name``."""

    def deco(cls: T) -> T:
        _ADAPTERS[name] = cls
        return cls

    return deco


def adapter_names() -> list[str]:
    _import_builtin()
    return sorted(_ADAPTERS)


def get_adapter(name: str) -> Any:
    _import_builtin()
    if name not in _ADAPTERS:
        raise UnknownName("adapter", name, list(_ADAPTERS))
    return _ADAPTERS[name]


def load_model(model: str, weights: Path | None = None, device: str | None = None) -> Any:
    """The loaded model for a catalog name; cached so a worker keeps its model between jobs."""
    from reelserve.models.catalog import get_card

    key = (model, None if weights is None else str(weights.resolve()), device)
    if key not in _LOADED:
        card = get_card(model)
        _LOADED[key] = get_adapter(card.adapter).load(card, weights=weights, device=device)
    return _LOADED[key]


def _import_builtin() -> None:
    # Adapters register themselves on import; importing here keeps torch out of ``import reelserve``.
    from reelserve.models import wan  # noqa: F401
