"""Operations: ``/metrics`` (Prometheus text), ``/healthz`` (the process answers), ``/readyz``
(the store answers and, when the server runs workers, at least one is alive)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from reelserve.core.errors import ReelserveError
from reelserve.store.stats import count_by_status

__all__ = ["router"]

router = APIRouter(tags=["ops"])


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
def metrics(request: Request) -> Response:
    """Queue depth, in flight, job and stage duration histograms, failures by code, HTTP traffic."""
    return Response(request.app.state.services.metrics.render(), media_type=CONTENT_TYPE_LATEST)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Not ready: the store or the workers are down"}})
def readyz(request: Request) -> Any:
    services = request.app.state.services
    checks: dict[str, Any] = {}
    try:
        checks["queued"] = count_by_status(services.store.engine)["queued"]
        checks["store"] = "ok"
    except ReelserveError as exc:
        checks["store"] = exc.code
    if services.backend is not None:
        checks["workers_alive"] = services.backend.alive()
    ready = checks["store"] == "ok" and (services.backend is None or checks["workers_alive"] > 0)
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", **checks}, status_code=200 if ready else 503
    )
