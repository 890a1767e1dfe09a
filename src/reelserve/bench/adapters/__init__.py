"""API adapters, one per request shape, looked up by name."""

from __future__ import annotations

from reelserve.bench.adapters.base import AdapterContext, ApiAdapter, Payload, QueryFailed
from reelserve.bench.adapters.mlcommons import MLCommonsAdapter
from reelserve.bench.adapters.openai import OpenAIAdapter
from reelserve.bench.adapters.sync import SyncAdapter
from reelserve.bench.config import Api, Delivery
from reelserve.core.errors import InvalidInput

__all__ = ["AdapterContext", "ApiAdapter", "Payload", "QueryFailed", "get_adapter"]

_ADAPTERS: dict[Api, type[OpenAIAdapter] | type[SyncAdapter] | type[MLCommonsAdapter]] = {
    Api.OPENAI: OpenAIAdapter,
    Api.SYNC: SyncAdapter,
    Api.MLCOMMONS: MLCommonsAdapter,
}


def get_adapter(api: Api, deliveries: tuple[Delivery, ...] = ()) -> ApiAdapter:
    """The adapter for ``api``; InvalidInput when it cannot express one of ``deliveries``."""
    adapter: ApiAdapter = _ADAPTERS[api]()
    for delivery in deliveries:
        if delivery not in adapter.deliveries:
            valid = ", ".join(d.value for d in adapter.deliveries)
            raise InvalidInput(
                f"--api {api.value} cannot deliver {delivery.value!r}; it supports: {valid}",
                param="--delivery",
            )
    return adapter
