"""``reelserve serve``, ``keys create|list|revoke`` and ``audit verify`` on a real data directory."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from reelserve.api.cli import app
from tests.api.live import free_port

runner = CliRunner()


def _cli(data: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, [*args, "--data", str(data)])
    return result.exit_code, result.stdout, result.stderr


def test_keys_and_audit_verify(tmp_path: Path) -> None:
    code, out, _ = _cli(tmp_path, "keys", "create", "--project", "p", "--role", "viewer", "--quiet")
    assert code == 0 and out.count("\n") == 1 and out.startswith("rs_")
    plain = out.strip()
    code, out, _ = _cli(tmp_path, "keys", "list", "--json")
    keys = json.loads(out)
    assert code == 0 and len(keys) == 1 and keys[0]["role"] == "viewer" and plain not in out
    assert _cli(tmp_path, "keys", "create", "--role", "root")[0] == 2
    assert _cli(tmp_path, "keys", "revoke", keys[0]["id"])[0] == 0
    assert _cli(tmp_path, "keys", "revoke", "key_nope")[0] == 1
    code, out, _ = _cli(tmp_path, "audit", "verify")
    assert code == 0 and "2 events" in out  # key.create, key.revoke
    with sqlite3.connect(tmp_path / "reelserve.db") as db:
        db.execute("UPDATE audit_log SET actor = 'someone else' WHERE seq = 1")
    code, _, err = _cli(tmp_path, "audit", "verify")
    assert code == 1 and "event 1 was changed" in err


def test_serve_prints_a_first_admin_key_once_and_keys_work_while_it_runs(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [
        sys.executable,
        "-m",
        "reelserve",
        "serve",
        "--port",
        str(port),
        "--workers",
        "0",
        "--data",
        str(tmp_path),
    ]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    stderr_tail = [""]

    def drain_pipe() -> None:  # keep the pipe from filling; keep what it said last
        assert proc.stderr is not None
        stderr_tail[0] = proc.stderr.read()

    reader = threading.Thread(target=drain_pipe, daemon=True)
    try:
        admin = ""
        assert proc.stderr is not None
        for line in proc.stderr:
            if "first admin key" in line:
                admin = line.rsplit(" ", 1)[-1].strip()
            if "reelserve API on" in line:
                break
        reader.start()
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        auth = {"Authorization": f"Bearer {admin}"}
        assert httpx.get(f"{base}/v1/audit", headers=auth).status_code == 200
        code, out, _ = _cli(tmp_path, "keys", "create", "--project", "default", "--role", "viewer", "--quiet")
        viewer = {"Authorization": f"Bearer {out.strip()}"}
        assert code == 0 and httpx.get(f"{base}/v1/videos", headers=viewer).status_code == 200
        assert httpx.post(f"{base}/v1/videos", json={"prompt": "x"}, headers=viewer).status_code == 403
        assert httpx.get(f"{base}/readyz").json()["store"] == "ok"
    finally:
        proc.send_signal(signal.SIGTERM)  # what a supervisor sends: drain, then exit
        code = proc.wait(timeout=60)
        if reader.is_alive():
            reader.join(timeout=10)
    assert code == 128 + signal.SIGTERM and "workers drained" in stderr_tail[0]
    assert admin.startswith("rs_")
    from reelserve.api.cli import _first_admin_key
    from reelserve.local import open_data_dir

    with open_data_dir(tmp_path) as dd:
        assert _first_admin_key(dd.store.engine) is None  # only on the very first start


def test_serve_refuses_an_unknown_engine_and_lists_the_valid_ones(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["serve", "--engine", "warp", "--port", "1", "--data", str(tmp_path)])
    assert res.exit_code != 0 and "local" in res.output and "model" in res.output
