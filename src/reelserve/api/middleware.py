"""One ASGI middleware around every request: the body-size limit, metrics and the JSON access log."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reelserve.core.errors import LimitExceeded

__all__ = ["ObserveAndLimit"]

log = logging.getLogger("reelserve.api.access")


class ObserveAndLimit:
    def __init__(self, app: ASGIApp, services: Any) -> None:
        self.app = app
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.services.settings.max_body_bytes
        start = time.perf_counter()
        status = [500]
        if _declared_length(scope) > limit:
            await _reply(send, 413, "limit_exceeded", f"the request body is over {limit} bytes", "body")
            self._observe(scope, 413, start)
            return
        if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b"").lower():
            # No id or cursor contains NUL, and PostgreSQL cannot even compare text with one.
            await _reply(send, 400, "invalid_input", "the URL must not contain NUL characters", "url")
            self._observe(scope, 400, start)
            return
        seen = [0]

        async def limited_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                seen[0] += len(message.get("body", b""))
                if seen[0] > limit:
                    raise LimitExceeded(f"the request body is over the limit of {limit} bytes", param="body")
            return message

        async def observed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, limited_receive, observed_send)
        finally:
            self._observe(scope, status[0], start)

    def _observe(self, scope: Scope, status: int, start: float) -> None:
        seconds = time.perf_counter() - start
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        self.services.metrics.observe_request(scope["method"], route, status, seconds)
        principal = (scope.get("state") or {}).get("principal")
        log.info(
            "request",
            extra={
                "method": scope["method"],
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 3),
                "key_id": getattr(principal, "key_id", None),
            },
        )


def _declared_length(scope: Scope) -> int:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


async def _reply(send: Send, status: int, code: str, message: str, param: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message, "param": param}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
