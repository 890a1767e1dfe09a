"""Fail fast on a bad setup, before any load: unreachable server, wrong API type, missing key.

The probe sends an empty JSON body to the route the chosen API must have. A 400/422 (validation error)
or a 2xx proves the route exists; 404/405 means the server speaks another API — the other known routes
are probed so the message can say which ``--api`` fits.
"""

from __future__ import annotations

from reelserve.bench.http1 import HttpClient, HttpError
from reelserve.core.errors import InvalidInput

__all__ = ["PROBES", "BenchSetupError", "preflight"]

#: api name → (method, path) of the route whose presence proves it
PROBES: dict[str, tuple[str, str]] = {
    "openai": ("POST", "/v1/videos"),
    "sync": ("POST", "/v1/videos/sync"),
    "mlcommons": ("POST", "/v1/videos/generations"),
    "streaming": ("POST", "/v1/sessions"),
}
_MISSING = (404, 405)


class BenchSetupError(InvalidInput):
    """The benchmark cannot start; the message says what to change."""

    code = "bench_setup"


async def preflight(client: HttpClient, api: str, headers: dict[str, str]) -> None:
    """Raise BenchSetupError unless the server answers on ``api``'s route."""
    status = await _probe(client, api, headers)
    if status in (401, 403):
        raise BenchSetupError(f"{client.base_url} answered {status}: pass an API key with --api-key")
    if status in _MISSING:
        candidates = [name for name in PROBES if name not in (api, "streaming")]
        others = [name for name in candidates if await _probe(client, name, headers) not in _MISSING]
        method, path = PROBES[api]
        hint = (
            f"; it does answer on the {', '.join(others)} route(s): try --api {others[0]}" if others else ""
        )
        raise BenchSetupError(
            f"{client.base_url} answered {status} to {method} {path}: it does not speak --api {api}{hint}"
        )


async def _probe(client: HttpClient, api: str, headers: dict[str, str]) -> int:
    method, path = PROBES[api]
    try:
        response = await client.request(method, path, json={}, headers=headers, timeout_s=10.0)
    except HttpError as exc:
        raise BenchSetupError(
            f"cannot reach {client.base_url}: {exc or type(exc).__name__} "
            "(is the server running, and is --url right?)"
        ) from None
    return response.status_code
