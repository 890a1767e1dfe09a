"""A small fake video endpoint for the tests: OpenAI-shaped, sync, mlcommons and streaming routes.

It serves real tiny MP4s (PyAV) and stamps queued/started/generated/encoded/delivered like our server
will; delays and failures are configurable at run time through :class:`FakeSettings`.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import itertools
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse, Response, StreamingResponse

from .videos import frames_of, mp4_of

__all__ = ["FakeServer", "FakeSettings"]


@dataclass
class FakeSettings:
    model_delay_s: float = 0.0
    encode_delay_s: float = 0.0
    fail_every: int = 0  #: every k-th create answers 500
    job_fail_every: int = 0  #: every k-th job ends "failed"
    frames_delta: int = 0  #: serve this many frames more (negative: fewer) than asked
    content: str = "moving"
    poll_after_ms: int = 5
    chunk_delay_s: float = 0.005
    timings: bool = True  #: put timings in the job object / headers
    path_dir: Path = field(default_factory=lambda: Path("/tmp"))
    apis: tuple[str, ...] = ("openai", "sync", "mlcommons", "streaming")  #: which route families exist
    sync_raw: bool = True  #: False: /v1/videos/sync ignores delivery=raw and sends its MP4
    observed: dict[str, int] = field(default_factory=lambda: {"in_flight": 0, "max_in_flight": 0})


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "param": None}}, status_code=status)


class _Fake:
    """The routes' state and handlers; ``build_app`` wires them to paths."""

    def __init__(self, settings: FakeSettings) -> None:
        self.settings = settings
        self.reset()

    def reset(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.counter = itertools.count(1)

    def spec(self, body: dict[str, Any]) -> tuple[int, int, int, int]:
        frames = int(body.get("num_frames", 17)) + self.settings.frames_delta
        width, height = (int(n) for n in str(body.get("size", "64x64")).split("x"))
        width, height = int(body.get("width", width)), int(body.get("height", height))
        return frames, width, height, int(body.get("fps", 16))

    async def generate(self, timings: dict[str, float]) -> None:
        timings["started"] = time.time()
        await asyncio.sleep(self.settings.model_delay_s)
        timings["generated"] = time.time()
        await asyncio.sleep(self.settings.encode_delay_s)
        timings["encoded"] = time.time()
        timings["finished"] = time.time()  # stored: the job turns "completed"

    def check(self, body: Any) -> JSONResponse | None:
        if not isinstance(body, dict) or not body.get("prompt"):
            return _error(422, "invalid_input", "prompt is required")
        if self.settings.fail_every and next(self.counter) % self.settings.fail_every == 0:
            return _error(500, "model_error", "injected failure")
        return None

    def video(self, body: dict[str, Any], variant: str) -> tuple[bytes, dict[str, str]]:
        frames, width, height, fps = self.spec(body)
        if variant == "raw":
            raw = frames_of(self.settings.content, frames, width, height)
            return raw.tobytes(), {"x-reelserve-frame-shape": ",".join(str(n) for n in raw.shape)}
        return mp4_of(self.settings.content, frames, width, height, fps), {}

    async def create(self, request: Request) -> Response:
        body = await request.json()
        if (bad := self.check(body)) is not None:
            return bad
        job_id = f"video_{len(self.jobs) + 1:05d}"
        job = {"id": job_id, "object": "video", "status": "queued", "progress": 0, "body": body}
        job["timings"] = {"queued": time.time()}
        self.jobs[job_id] = job
        job["task"] = asyncio.create_task(self._work(job))
        headers = {"openai-poll-after-ms": str(self.settings.poll_after_ms)}
        return JSONResponse(_public(job, self.settings), headers=headers)

    async def _work(self, job: dict[str, Any]) -> None:
        job["status"] = "in_progress"
        await self.generate(job["timings"])
        every = self.settings.job_fail_every
        if every and int(job["id"][-5:]) % every == 0:
            job["status"] = "failed"
            job["error"] = {"code": "model_error", "message": "injected job failure"}
        else:
            job["status"] = "completed"

    async def retrieve(self, job_id: str) -> Response:
        if job_id not in self.jobs:
            return _error(404, "not_found", "no such video")
        headers = {"openai-poll-after-ms": str(self.settings.poll_after_ms)}
        return JSONResponse(_public(self.jobs[job_id], self.settings), headers=headers)

    async def content(self, job_id: str, delivery: str = "blob") -> Response:
        if job_id not in self.jobs:
            return _error(404, "not_found", "no such video")
        job = self.jobs[job_id]
        if job["status"] != "completed":
            return _error(409, "conflict", "not ready")
        data, headers = self.video(job["body"], "raw" if delivery == "raw" else "video")
        if delivery == "reference":
            return JSONResponse(_reference(data, job["body"]))

        async def chunks() -> Any:
            for start in range(0, len(data), 65536):
                yield data[start : start + 65536]
            job["timings"]["delivered"] = time.time()

        return StreamingResponse(chunks(), media_type="video/mp4", headers=headers)

    async def sync(self, request: Request) -> Response:
        body = await request.json()
        if (bad := self.check(body)) is not None:
            return bad
        timings = {"queued": time.time()}
        seen = self.settings.observed
        seen["in_flight"] += 1
        seen["max_in_flight"] = max(seen["max_in_flight"], seen["in_flight"])
        try:
            await self.generate(timings)
        finally:
            seen["in_flight"] -= 1
        delivery = request.query_params.get("delivery", "blob")
        raw = delivery == "raw" and self.settings.sync_raw
        data, headers = self.video(body, "raw" if raw else "video")
        if self.settings.timings:
            headers["x-reelserve-timings"] = json.dumps(timings)
        headers["x-inference-time-s"] = f"{timings['generated'] - timings['started']:.6f}"
        if delivery == "reference":
            return JSONResponse(_reference(data, body), headers=headers)
        return Response(data, media_type="application/octet-stream" if raw else "video/mp4", headers=headers)

    async def blob(self, request: Request) -> Response:
        data, _ = self.video(dict(request.query_params), "video")
        return Response(data, media_type="video/mp4")

    async def generations(self, request: Request) -> Response:
        body = await request.json()
        if (bad := self.check(body)) is not None:
            return bad
        timings = {"queued": time.time()}
        await self.generate(timings)
        data, _ = self.video(body, "video")
        answer: dict[str, Any] = {"id": f"gen_{time.monotonic_ns()}", "timings": timings, "size": len(data)}
        if body.get("response_format") == "video_path":
            path = self.settings.path_dir / f"{answer['id']}.mp4"
            path.write_bytes(data)
            answer["video_path"] = str(path)
        else:
            answer["video_bytes"] = base64.b64encode(data).decode()
        return JSONResponse(answer)

    async def new_session(self, request: Request) -> Response:
        body = await request.json()
        if (bad := self.check(body)) is not None:
            return bad
        session_id = f"sess_{len(self.sessions) + 1:04d}"
        self.sessions[session_id] = body
        return JSONResponse({"id": session_id})

    async def stream(self, ws: WebSocket, session_id: str) -> None:
        """reelserve's order: init text, init segment, then per chunk its segment and a chunk text."""
        await ws.accept()
        body = self.sessions[session_id]
        frames, width, height, fps = self.spec({**body, "num_frames": body.get("chunk_frames", 8)})
        chunk = mp4_of(self.settings.content, frames, width, height, fps)
        await ws.send_text(json.dumps({"type": "init", "width": width, "height": height, "fps": fps}))
        await ws.send_bytes(b"ftyp-and-moov")
        for index in range(int(body.get("max_chunks") or 4)):
            await asyncio.sleep(self.settings.chunk_delay_s)
            await ws.send_bytes(chunk)
            await ws.send_text(json.dumps({"type": "chunk", "index": index, "frames": frames}))
        await ws.send_text(json.dumps({"type": "end", "status": "completed", "error": None}))
        await ws.close()


def build_app(settings: FakeSettings) -> FastAPI:
    fake = _Fake(settings)
    app = FastAPI()
    app.state.fake = fake
    app.add_api_route("/fake/blob", fake.blob, methods=["GET"])
    if "sync" in settings.apis:
        app.add_api_route("/v1/videos/sync", fake.sync, methods=["POST"])
    if "mlcommons" in settings.apis:
        app.add_api_route("/v1/videos/generations", fake.generations, methods=["POST"])
    if "openai" in settings.apis:
        app.add_api_route("/v1/videos", fake.create, methods=["POST"])
        app.add_api_route("/v1/videos/{job_id}", fake.retrieve, methods=["GET"])
        app.add_api_route("/v1/videos/{job_id}/content", fake.content, methods=["GET"])
    if "streaming" in settings.apis:
        app.add_api_route("/v1/sessions", fake.new_session, methods=["POST"])
        app.add_api_websocket_route("/v1/sessions/{session_id}/stream", fake.stream)
    return app


def _reference(data: bytes, body: dict[str, Any]) -> dict[str, Any]:
    sha = hashlib.sha256(data).hexdigest()
    keys = ("num_frames", "size", "fps")
    url = "/fake/blob?" + "&".join(f"{k}={body[k]}" for k in keys if k in body)
    return {"url": url, "sha256": sha, "bytes": len(data), "content_type": "video/mp4"}


def _public(job: dict[str, Any], settings: FakeSettings) -> dict[str, Any]:
    out = {k: v for k, v in job.items() if k not in ("body", "task")}
    if not settings.timings:
        out.pop("timings")
    return out


class FakeServer:
    """uvicorn in a thread on a free loopback port; ``with FakeServer(settings) as url: ...``."""

    def __init__(self, settings: FakeSettings | None = None) -> None:
        self.settings = settings or FakeSettings()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._app = build_app(self.settings)
        config = uvicorn.Config(self._app, log_level="warning", lifespan="off", timeout_graceful_shutdown=0.2)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def reset(self, fresh: FakeSettings) -> None:
        """Start a test afresh on a shared server: default settings, no jobs, counters at zero."""
        for item in dataclasses.fields(fresh):
            setattr(self.settings, item.name, getattr(fresh, item.name))
        self._app.state.fake.reset()

    def __enter__(self) -> str:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake server did not start")
            time.sleep(0.01)
        return self.url

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()
