"""Model catalog, adapter registry and adapters (diffusers video pipelines, understanding models)."""

from __future__ import annotations

from reelserve.models.catalog import LatencyProfile, ModelCard, get_card, load_catalog, validate_request
from reelserve.models.registry import adapter_names, get_adapter, load_model, register

__all__ = [
    "LatencyProfile",
    "ModelCard",
    "adapter_names",
    "get_adapter",
    "get_card",
    "load_catalog",
    "load_model",
    "register",
    "validate_request",
]
