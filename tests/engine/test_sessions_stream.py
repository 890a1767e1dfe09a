"""Streaming sessions end to end: real HTTP + WebSocket over loopback, real model worker processes."""

from __future__ import annotations

import io
import json
import threading
from typing import Any

import av
import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.engine.conftest import Server, wait_for


def decode(data: bytes) -> tuple[int, tuple[int, int]]:
    with av.open(io.BytesIO(data)) as container:
        frames = list(container.decode(video=0))
    return len(frames), (frames[0].width, frames[0].height)


def test_stream_is_a_playable_mp4_with_one_message_per_chunk(server: Server) -> None:
    sess = server.create(max_chunks=3, deadline_ms=60_000)
    assert sess["status"] == "created" and sess["mime"].startswith('video/mp4; codecs="avc1.')
    binary, texts = server.stream(sess["id"])
    assert [t["type"] for t in texts] == ["init", "chunk", "chunk", "chunk", "end"]
    assert len(binary) == 1 + 3  # init segment, then one moof+mdat per chunk
    assert binary[0][4:8] == b"ftyp" and all(b[4:8] == b"moof" for b in binary[1:])
    assert decode(b"".join(binary)) == (12, (32, 32))
    chunks = texts[1:4]
    assert [c["index"] for c in chunks] == [0, 1, 2]
    for c in chunks:
        assert c["requested"] <= c["started"] <= c["generated"] <= c["encoded"]
        assert c["latency_ms"] > 0 and c["deadline_missed"] is False and c["frames"] == 4
    assert texts[-1]["status"] == "finished"
    info = server.get(sess["id"])
    assert info["status"] == "finished" and info["chunks"] == 3 and info["frames_sha256"]
    with server.client() as c:
        engine = c.get("/v1/engine").json()
    assert engine["sessions"]["finished"] >= 1
    assert sum(w.get("steps", 0) for w in engine["worker_stats"].values()) >= 6  # 3 chunks x 2 steps
    metrics = httpx.get(f"{server.url}/metrics").text
    for name in (
        "reelserve_chunk_latency_seconds_count",
        "reelserve_batch_size_bucket",
        "reelserve_model_workers",
    ):
        assert name in metrics


def test_prompt_change_and_pause_resume_between_chunks(server: Server) -> None:
    sess = server.create(max_chunks=4, deadline_ms=60_000)
    sid = sess["id"]
    seen: list[str] = []

    def on_chunk(ws: Any, msg: dict[str, Any]) -> None:
        if msg["index"] == 0:
            ws.send(json.dumps({"type": "prompt", "prompt": "a blue kite at dusk"}))
            ws.send(json.dumps({"type": "pause"}))
            wait_for(lambda: server.get(sid)["status"] == "paused", 30, "pause")
            seen.append(server.get(sid)["status"])
            ws.send(json.dumps({"type": "resume"}))

    binary, texts = server.stream(sid, on_chunk)
    chunks = [t for t in texts if t["type"] == "chunk"]
    assert seen == ["paused"]
    assert [c["index"] for c in chunks] == [0, 1, 2, 3]
    # the change applies from the next chunk not yet started (chunk 1 may already be running)
    changed = [c["index"] for c in chunks if c["prompt_changed"]]
    assert len(changed) == 1 and changed[0] >= 1
    assert server.get(sid)["prompt"] == "a blue kite at dusk"
    assert decode(b"".join(binary)) == (16, (32, 32))


def test_chunks_of_sessions_on_one_worker_share_a_batched_forward(server: Server) -> None:
    ids = [server.create(max_chunks=4, deadline_ms=60_000, seed=i)["id"] for i in range(3)]
    results: dict[str, list[dict[str, Any]]] = {}

    def read(sid: str) -> None:
        results[sid] = server.stream(sid)[1]

    threads = [threading.Thread(target=read, args=(sid,)) for sid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    chunks = [m for sid in ids for m in results[sid] if m["type"] == "chunk"]
    assert len(chunks) == 12
    assert max(c["batch_size"] for c in chunks) >= 2  # three sessions, two workers: two share one


def test_stream_needs_a_key_of_the_sessions_project(server: Server) -> None:
    sid = server.create(max_chunks=1)["id"]
    with pytest.raises(InvalidStatus), connect(f"{server.ws_url}/v1/sessions/{sid}/stream"):
        pass
    with pytest.raises(InvalidStatus), connect(f"{server.ws_url}/v1/sessions/{sid}/stream?api_key=nope"):
        pass
    r = httpx.post(f"{server.url}/v1/sessions", json={"prompt": "x"})
    assert r.status_code == 401
    with server.client() as c:
        bad = c.post("/v1/sessions", json={"prompt": "x", "size": "32x32", "chunk_frames": 6})
        assert bad.status_code == 400 and "multiple of 4" in bad.json()["error"]["message"]
        assert c.get("/v1/sessions/sess_missing").status_code == 404
        assert c.delete(f"/v1/sessions/{sid}").json()["status"] == "closed"
