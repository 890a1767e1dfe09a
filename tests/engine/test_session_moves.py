"""Migration, offload and a killed worker change where a session runs, never what it shows.

Each session here runs alone on its worker (batched forwards agree to ~1e-6, not bit for bit, so a
co-batched session would perturb the hash); the reference is the same session left in place.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from dataclasses import replace
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
    wait_for(lambda: len(server.manager.pool.live()) == 2, 240, "two model workers")
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
    pool = server.manager.pool
    pool.cfg = replace(pool.cfg, min_workers=1)  # no replacement: the autoscaler test below scales out

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
    assert pool.live() == [chunks[-1]["worker"]]


def test_autoscaler_scales_out_with_load_and_in_after_the_hold_draining_with_sigterm(server: Server) -> None:
    mgr, pool = server.manager, server.manager.pool
    assert len(pool.live()) == 1
    mgr.cfg = replace(mgr.cfg, autoscale=True, hold_s=2.0)
    try:
        ids = [server.create(max_chunks=100_000, seed=k)["id"] for k in range(5)]  # 5 > 4 per worker
        readers = [
            threading.Thread(target=server.stream, args=(sid,), kwargs={"timeout": 300}) for sid in ids
        ]
        for t in readers:
            t.start()
        wait_for(lambda: len(pool.live()) == 2, 300, "scale out to two workers")
        wait_for(lambda: all(server.get(sid)["chunks"] > 0 for sid in ids), 120, "every session to stream")
        with server.client() as c:
            for sid in ids:
                c.delete(f"/v1/sessions/{sid}")
        for t in readers:
            t.join(60)
        victim = sorted(pool.live())[0]  # scale-in drains the emptiest worker, ties by id
        long_clip = {"prompt": "a long take", "width": 48, "height": 48, "frames": 9, "steps": 40}
        in_flight = pool.client(victim).call("clip", clip_id="drain-0", spec=long_clip)
        wait_for(lambda: victim not in pool.live(), 120, "scale in after the hold")
        assert in_flight.result(120)["steps_run"] == 40  # SIGTERM let the running clip finish
        assert len(pool.live()) == 1 and mgr.control.last_action in ("in", "steady")
    finally:
        mgr.cfg = replace(mgr.cfg, autoscale=False)
