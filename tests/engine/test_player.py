"""The MSE player plays a live session in a real (headless) browser.

The page reports ``video.currentTime`` back over its WebSocket every 250 ms; the test reads that report
from the session and asks for ``current_time > 0``: MediaSource accepted the init and media segments and
the video element advanced.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.engine.conftest import Server, wait_for

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
    "--mute-audio",
]


def _playing(server: Server, sid: str) -> dict[str, Any] | None:
    report = server.get(sid).get("player")
    return report if report and (report["current_time"] or 0) > 0 else None


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_browser_plays_the_stream_with_mse(server: Server, tmp_path: Path) -> None:
    sid = server.create(max_chunks=12, deadline_ms=60_000, fps=8)["id"]
    url = f"{server.url}/v1/sessions/{sid}/player?api_key={server.key}"
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--remote-debugging-port=0", url]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        report = wait_for(lambda: _playing(server, sid), 90, "the browser to play")
    finally:
        proc.kill()
        proc.wait(10)
    assert report["error"] is None and report["chunks"] >= 1 and report["ready_state"] >= 2


def test_player_page_is_served(server: Server) -> None:
    with server.client() as c:
        page = c.get("/player")
    assert page.status_code == 200 and "MediaSource" in page.text and "addSourceBuffer" in page.text
