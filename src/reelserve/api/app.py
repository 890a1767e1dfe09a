"""The app factory: ``create_app(settings) -> FastAPI``.

``create_app`` opens the store and blob store, starts the audit writer and the background loop
(metrics scan, batch completion, webhooks) and mounts every router named in ``routes.ROUTERS``.
Closing: the lifespan's shutdown, or ``app.state.services.close()`` when no server runs the app.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI

from reelserve import __version__
from reelserve.api.auditlog import AuditWriter
from reelserve.api.auth import KeyCache
from reelserve.api.errors import install_error_handlers
from reelserve.api.metrics import Metrics
from reelserve.api.middleware import ObserveAndLimit
from reelserve.api.openapi import install_openapi
from reelserve.api.routes import ROUTERS
from reelserve.api.settings import ApiSettings
from reelserve.api.webhooks import WebhookSender
from reelserve.engine.base import Backend
from reelserve.store import FsBlobStore, SqlStore, default_url, open_store

__all__ = ["Services", "create_app"]

log = logging.getLogger("reelserve.api")


@dataclass
class Services:
    """What routes use, on ``app.state.services``."""

    settings: ApiSettings
    store: SqlStore
    blobs: FsBlobStore
    audit: AuditWriter
    metrics: Metrics
    key_cache: KeyCache
    webhooks: WebhookSender
    backend: Backend | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _ticker: threading.Thread | None = None

    def workers_alive(self) -> int:
        return self.backend.alive() if self.backend is not None else 0

    def start(self) -> None:
        self.audit.start()
        self._ticker = threading.Thread(target=self._tick_loop, name="api-ticker", daemon=True)
        self._ticker.start()

    def _tick_loop(self) -> None:
        while not self._stop.wait(self.settings.tick_s):
            for name, step in (("metrics", self.metrics.tick), ("webhooks", self.webhooks.tick)):
                try:
                    step()
                except Exception:  # the loop must outlive a busy database or a bad receiver
                    log.exception("background step failed", extra={"event": name})

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=10)
        self.audit.stop()
        self.webhooks.close()
        self.store.close()


def open_services(settings: ApiSettings, backend: Backend | None = None) -> Services:
    """Open the store and blob store; nothing runs until ``Services.start``."""
    data = Path(settings.data_dir)
    store = open_store(settings.store_url or default_url(data))
    metrics = Metrics(store.engine, lambda: backend.alive() if backend is not None else 0)
    return Services(
        settings=settings,
        store=store,
        blobs=FsBlobStore(data / "blobs"),
        audit=AuditWriter(store.engine),
        metrics=metrics,
        key_cache=KeyCache(settings.key_cache_s),
        webhooks=WebhookSender(
            store.engine,
            timeout_s=settings.webhook_timeout_s,
            attempts=settings.webhook_attempts,
            backoff_s=settings.webhook_backoff_s,
        ),
        backend=backend,
    )


def create_app(settings: ApiSettings, backend: Backend | None = None) -> FastAPI:
    services = open_services(settings, backend)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        services.close()

    app = FastAPI(
        title="reelserve",
        version=__version__,
        summary="OpenAI-Videos-compatible video generation service, with batches, audit and metrics.",
        lifespan=lifespan,
    )
    app.state.services = services
    install_error_handlers(app)
    for module in ROUTERS:
        app.include_router(importlib.import_module(f"reelserve.api.routes.{module}").router)
    install_openapi(app)
    app.add_middleware(ObserveAndLimit, services=services)
    services.start()
    return app
