"""Migration, offload and a killed worker change where a session runs, never what it shows.

Each session here runs alone on its worker (batched forwards agree to ~1e-6, not bit for bit, so a
co-batched session would perturb the hash); the reference is the same session left in place.
"""

from __future__ import annotations

import json
import os
import signal
from typing import Any

from tests.engine.conftest import Server, wait_for

SETTINGS: dict[str, Any] = {"prompt": "a paper boat on a river", "seed": 11, "max_chunks": 4}


def reference(server: Server) -> str:
    sid = server.create(**SETTINGS, deadline_ms=60_000)["id"]
    server.stream(sid)
    return str(server.get(sid)["frames_sha256"])


def other_worker(server: Server, worker: str) -> str:
    return next(w for w in server.manager.pool.live() if w != worker)


def test_migrated_and_offloaded_session_shows_the_same_frames(server: Server) -> None:
    expected = reference(server)
    sid = server.create(**SETTINGS, deadline_ms=60_000)["id"]
    session = server.manager.sessions[sid]

    def on_chunk(ws: Any, msg: dict[str, Any]) -> None:
        if msg["index"] == 0:  # migrate at the next chunk boundary
            session.pending_move = other_worker(server, msg["worker"])
        if msg["index"] == 2:  # go idle until the control loop offloads the state to host memory
            ws.send(json.dumps({"type": "pause"}))
            wait_for(lambda: server.get(sid)["offloaded"], 30, "offload")
            ws.send(json.dumps({"type": "resume"}))

    _, texts = server.stream(sid, on_chunk)
    workers = [t["worker"] for t in texts if t["type"] == "chunk"]
    info = server.get(sid)
    assert info["migrations"] >= 1 and info["offloads"] >= 1 and len(set(workers)) == 2
    assert info["frames_sha256"] == expected


def test_session_resumes_from_its_checkpoint_after_its_worker_is_killed(server: Server) -> None:
    expected = reference(server)
    sid = server.create(**SETTINGS, deadline_ms=60_000)["id"]
    killed: list[str] = []

    def on_chunk(ws: Any, msg: dict[str, Any]) -> None:
        if msg["index"] == 1:
            worker = msg["worker"]
            pid = server.manager.pool.client(worker).pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            killed.append(worker)

    _, texts = server.stream(sid, on_chunk)
    chunks = [t for t in texts if t["type"] == "chunk"]
    info = server.get(sid)
    assert [c["index"] for c in chunks] == [0, 1, 2, 3]
    assert info["recoveries"] == 1 and chunks[-1]["worker"] != killed[0]
    assert info["frames_sha256"] == expected
    # the pool replaces the lost worker (min_workers = 2) for the tests that follow
    wait_for(lambda: len(server.manager.pool.live()) == 2, 240, "a replacement worker")
