"""Streaming generation sessions: ``POST /v1/sessions``, control routes, the WebSocket stream, a player.

WebSocket ``/v1/sessions/{id}/stream`` (API key as ``Authorization: Bearer`` or, for browsers, which
cannot set headers on a WebSocket, ``?api_key=``). Server → client, in order:

    text   {"type": "init", "mime": 'video/mp4; codecs="avc1.…"', "width", "height", "fps", ...}
    binary the fMP4 initialisation segment (ftyp + moov)
    then per chunk: binary media segment (moof + mdat), text {"type": "chunk", "index", timings, ...}
    text   {"type": "end", "status", "chunks", "error"} when the session ends

The binary messages concatenated are a playable MP4. Client → server (text JSON, any time):
``{"type": "prompt", "prompt": "..."}`` (from the next chunk), ``{"type": "pause"}``,
``{"type": "resume"}``, ``{"type": "close"}``. The session's model workers start with the first
session (lazily: an app that never streams never loads a model for it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from reelserve.api.auth import Reader, Writer
from reelserve.api.errors import responses
from reelserve.core.errors import InvalidInput, ReelserveError, Unauthorized
from reelserve.engine.metrics import EngineMetrics
from reelserve.engine.model.pool import ModelPool
from reelserve.engine.sessions.manager import SessionManager, config_from_env
from reelserve.engine.sessions.session import Session
from reelserve.engine.sessions.spec import SessionSpec
from reelserve.models.catalog import get_card
from reelserve.pipeline.submit import parse_size
from reelserve.store.governance import Principal, hash_key, lookup_key

__all__ = ["SessionCreate", "router"]


class SessionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(..., min_length=1, max_length=4000)
    model: str = Field("tiny-wan", max_length=100)
    size: str = Field("64x64", max_length=20, description='"WIDTHxHEIGHT"')
    chunk_frames: int = Field(8, ge=4, le=80, description="New frames per chunk, a multiple of 4.")
    max_chunks: int | None = Field(None, ge=1, le=100_000)
    fps: int = Field(16, ge=1, le=240)
    deadline_ms: float = Field(2000.0, ge=1, le=3_600_000, description="Each chunk is due this long after.")
    num_inference_steps: int | None = Field(None, ge=1, le=1000)
    seed: int = Field(0, ge=0, le=2**63 - 1)
    guidance_scale: float = Field(1.0, ge=0, le=50)
    quality: Literal["best_effort", "adaptive", "strict"] = Field(
        "best_effort",
        description="adaptive: fewer steps per chunk when a deadline would be missed (409 if even "
        "min_steps cannot meet it); strict: 409 unless the requested steps meet it; best_effort: neither.",
    )
    min_steps: int = Field(1, ge=1, le=1000, description="Adaptive quality never goes below this.")


class PromptChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str = Field(..., min_length=1, max_length=4000)


async def manager_of(app: Any) -> SessionManager:
    """The app's session manager; its model workers start loading (in the background) on first use.

    Sessions created before a worker is ready simply wait for it; ``GET /v1/engine`` lists ready workers.
    """
    mgr: SessionManager | None = getattr(app.state, "sessions", None)
    if mgr is None:
        services = getattr(app.state, "services", None)
        registry = getattr(getattr(services, "metrics", None), "registry", None)
        cfg = getattr(app.state, "session_config", None) or config_from_env()
        # a ModelBackend's model workers run the API's jobs; sessions then share them (one model per device)
        shared = getattr(getattr(services, "backend", None), "pool", None)
        store = getattr(getattr(services, "store", None), "engine", None)
        pool = shared if isinstance(shared, ModelPool) else None
        mgr = SessionManager(cfg, EngineMetrics(registry), pool, store)
        mgr.restore_open()  # sessions a previous process left open (persist.py): before serving any
        app.state.sessions = mgr
        app.state.sessions_start = asyncio.create_task(mgr.start())
    return mgr


def _principal_for_key(app: Any, key: str) -> Principal:
    """The same check as ``api.auth.authenticate``, for a key that came without an HTTP request."""
    if not key or len(key) > 200:
        raise Unauthorized("missing API key; send `Authorization: Bearer <key>` or `?api_key=`")
    services = app.state.services
    digest = hash_key(key)
    found, principal = services.key_cache.get(digest)
    if not found:
        principal = lookup_key(services.store.engine, key)
        services.key_cache.put(digest, principal)
    if principal is None:
        raise Unauthorized("unknown or revoked API key")
    return principal  # type: ignore[no-any-return]


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    mgr: SessionManager | None = getattr(app.state, "sessions", None)
    if mgr is not None:
        await mgr.stop()


router = APIRouter(tags=["sessions"], lifespan=_lifespan)


def _view(s: Session, request: Request | None = None) -> dict[str, Any]:
    out = s.describe()
    out["stream_path"] = f"/v1/sessions/{s.id}/stream"
    out["player_path"] = f"/v1/sessions/{s.id}/player"
    return out


@router.post("/v1/sessions", status_code=201, responses=responses(400, 401, 403, 409, 422))
async def create_session(body: SessionCreate, principal: Writer, request: Request) -> dict[str, Any]:
    """Open a session; it starts generating when the first stream listener connects."""
    width, height = parse_size(body.size)
    steps = body.num_inference_steps or get_card(body.model).default_steps
    spec = SessionSpec(
        body.prompt, body.model, width, height, body.chunk_frames, body.max_chunks, body.fps,
        body.deadline_ms, steps, body.seed, body.guidance_scale, "", body.quality, body.min_steps,
    )  # fmt: skip
    spec.validate()
    mgr = await manager_of(request.app)
    return _view(await mgr.create(spec, principal.scope))


async def _session(request: Request, principal: Any, session_id: str) -> tuple[SessionManager, Session]:
    mgr = await manager_of(request.app)
    return mgr, mgr.get(session_id, principal.scope)


@router.get("/v1/sessions/{session_id}", responses=responses(401, 404))
async def get_session(session_id: str, principal: Reader, request: Request) -> dict[str, Any]:
    _, s = await _session(request, principal, session_id)
    return _view(s)


@router.get("/v1/sessions/{session_id}/chunks", responses=responses(401, 404))
async def list_chunks(session_id: str, principal: Reader, request: Request) -> dict[str, Any]:
    _, s = await _session(request, principal, session_id)
    return {"object": "list", "data": [r.to_json() for r in s.records]}


@router.post("/v1/sessions/{session_id}/prompt", responses=responses(400, 401, 403, 404, 422))
async def change_prompt(session_id: str, body: PromptChange, principal: Writer, request: Request) -> Any:
    mgr, s = await _session(request, principal, session_id)
    mgr.set_prompt(s, body.prompt)
    return _view(s)


@router.post("/v1/sessions/{session_id}/{action}", responses=responses(400, 401, 403, 404))
async def control(session_id: str, action: str, principal: Writer, request: Request) -> dict[str, Any]:
    """``pause`` | ``resume`` | ``start``."""
    mgr, s = await _session(request, principal, session_id)
    _control(mgr, s, {"type": action})
    return _view(s)


@router.delete("/v1/sessions/{session_id}", responses=responses(401, 403, 404))
async def close_session(session_id: str, principal: Writer, request: Request) -> dict[str, Any]:
    mgr, s = await _session(request, principal, session_id)
    await mgr.close(s)
    return _view(s)


@router.get("/v1/engine", responses=responses(401))
async def engine_state(principal: Reader, request: Request) -> dict[str, Any]:
    """Model workers (accepting, and their own counters), sessions by status, migrations, autoscaler,
    the scheduling switches (``ordering``, ``headroom``), ``slo``'s targets (``chunk_target_ms``,
    ``ttff_target_s``; 0 = off), and with ``serve --plan`` the plan's workers,
    shortfalls, stages served elsewhere and the policy it was made for."""
    mgr = await manager_of(request.app)
    plan = getattr(request.app.state, "engine_plan", None)
    return {**mgr.describe(), "worker_stats": await mgr.worker_stats(), "plan": plan}


@router.get("/v1/sessions/{session_id}/player", response_class=HTMLResponse)
@router.get("/player", response_class=HTMLResponse)
def player(session_id: str | None = None) -> HTMLResponse:
    """A static MSE player: ``/player?session=ID&api_key=KEY`` (the page reads both from its URL)."""
    page = resources.files("reelserve.api").joinpath("static/player.html").read_text("utf-8")
    return HTMLResponse(page)


def _control(mgr: SessionManager, s: Session, msg: dict[str, Any]) -> None:
    kind = msg.get("type")
    if kind == "prompt":
        mgr.set_prompt(s, str(msg.get("prompt", "")))
    elif kind == "pause":
        mgr.pause(s)
    elif kind == "resume":
        mgr.resume(s)
    elif kind == "start":
        mgr.begin(s)
    elif kind == "player":
        s.player = {k: msg.get(k) for k in ("current_time", "ready_state", "chunks", "error")}
    else:
        raise InvalidInput(f"unknown message type {kind!r}; use prompt, pause, resume or close", param="type")


async def _ws_principal(ws: WebSocket) -> Any:
    header = ws.headers.get("authorization", "")
    key = header[7:].strip() if header.lower().startswith("bearer ") else ws.query_params.get("api_key", "")
    return await asyncio.to_thread(_principal_for_key, ws.app, key.strip())


async def _receive(ws: WebSocket, mgr: SessionManager, s: Session, q: asyncio.Queue[Any]) -> None:
    try:
        while True:
            text = await ws.receive_text()
            try:
                msg = json.loads(text)
                if isinstance(msg, dict) and msg.get("type") == "close":
                    await mgr.close(s)
                    continue
                _control(mgr, s, msg if isinstance(msg, dict) else {})
            except (ValueError, ReelserveError) as exc:
                err = exc.to_dict() if isinstance(exc, ReelserveError) else {"code": "invalid_json"}
                q.put_nowait({"type": "error", **err})
    except (WebSocketDisconnect, RuntimeError):
        q.put_nowait(None)


@router.websocket("/v1/sessions/{session_id}/stream")
async def stream(ws: WebSocket, session_id: str) -> None:
    try:
        principal = await _ws_principal(ws)
        mgr = await manager_of(ws.app)
        s = mgr.get(session_id, principal.scope)
    except ReelserveError as exc:
        await ws.close(code=4401 if exc.code == "unauthorized" else 4404, reason=exc.message[:120])
        return
    await ws.accept()
    q = mgr.subscribe(s)
    receiver = asyncio.create_task(_receive(ws, mgr, s, q))
    try:
        while (msg := await q.get()) is not None:
            if isinstance(msg, bytes):
                await ws.send_bytes(msg)
            else:
                await ws.send_json(msg)
        await ws.close()
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        mgr.unsubscribe(s, q)
        receiver.cancel()
