"""API keys → principals, and role checks (RBAC).

``Authorization: Bearer <key>``. A missing, unknown or revoked key is 401. Every resource belongs
to one project scope (``org/project``); another scope's resource is 404, exactly as a missing one
(its existence is not revealed). Roles: viewer reads; editor and service also write; admin also
reads the audit log. Lookups are cached for ``key_cache_s`` (a revoked key stops working within it).
"""

from __future__ import annotations

import threading
import time
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from reelserve.core.errors import Forbidden, Unauthorized
from reelserve.store.governance import Principal, Role, hash_key, lookup_key

__all__ = ["Admin", "KeyCache", "Reader", "Writer", "authenticate"]

_bearer = HTTPBearer(auto_error=False, description="An API key from `reelserve keys create`.")


class KeyCache:
    """A small TTL cache of key hash → principal (or None for an unknown key)."""

    def __init__(self, ttl_s: float, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._items: dict[str, tuple[float, Principal | None]] = {}

    def get(self, digest: str) -> tuple[bool, Principal | None]:
        with self._lock:
            hit = self._items.get(digest)
        if hit is None or hit[0] < time.monotonic():
            return False, None
        return True, hit[1]

    def put(self, digest: str, principal: Principal | None) -> None:
        with self._lock:
            if len(self._items) >= self.max_entries:
                self._items.clear()
            self._items[digest] = (time.monotonic() + self.ttl_s, principal)


async def authenticate(
    request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The caller's principal; 401 without a live key. A cache hit costs no thread hop and no query."""
    if creds is None or creds.scheme.lower() != "bearer" or not creds.credentials:
        raise Unauthorized(
            "missing API key; send `Authorization: Bearer <key>` (see `reelserve keys create`)"
        )
    key = creds.credentials.strip()
    if len(key) > 200:
        raise Unauthorized("unknown or revoked API key")
    services = request.app.state.services
    cache: KeyCache = services.key_cache
    digest = hash_key(key)
    found, principal = cache.get(digest)
    if not found:
        principal = await run_in_threadpool(lookup_key, services.store.engine, key)
        cache.put(digest, principal)
    if principal is None:
        raise Unauthorized("unknown or revoked API key")
    request.state.principal = principal
    return principal


async def _writer(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
    if not principal.role.can_write:
        raise Forbidden(
            f"role {principal.role.value} is read-only; an editor, service or admin key can write"
        )
    return principal


async def _admin(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
    if principal.role is not Role.ADMIN:
        raise Forbidden(f"role {principal.role.value} may not do this; it needs an admin key")
    return principal


Reader = Annotated[Principal, Depends(authenticate)]
Writer = Annotated[Principal, Depends(_writer)]
Admin = Annotated[Principal, Depends(_admin)]
