"""HTTP routes, one module per resource. Every module listed in ``ROUTERS`` exposes ``router`` and
is mounted by ``create_app``; a new resource is one module plus one name here."""

from __future__ import annotations

__all__ = ["ROUTERS"]

ROUTERS: tuple[str, ...] = ("videos", "generations", "batches", "audit", "ops", "sessions", "analyses")
