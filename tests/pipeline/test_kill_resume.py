"""A real ``kill -9`` of a real ``reelserve generate`` process, then ``reelserve jobs resume``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reelserve.core.records import JobStatus, StageStatus
from reelserve.store import open_store

CLI = [sys.executable, "-m", "reelserve"]
ARGS = [
    "a paper boat on a river",
    "--frames",
    "9",
    "--size",
    "64x64",
    "--steps",
    "250",  # enough that even an idle machine is still denoising when the test kills it
    "--seed",
    "3",
    "--checkpoint-every",
    "1",
    "--preset",
    "ultrafast",
]


def _cli(data: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args, "--data", str(data)], capture_output=True, text=True, timeout=timeout, check=False
    )


def _manifest(out: Path) -> dict[str, object]:
    return json.loads(out.with_suffix(".manifest.json").read_text())


@pytest.mark.slow
def test_kill_9_mid_denoise_then_resume_gives_identical_frames(tmp_path: Path) -> None:
    # The uninterrupted reference run: the same command in a fresh process, so that it computes with
    # the same torch defaults (thread count) as the run that is killed — floating-point sums over a
    # different number of threads may round differently, and other tests change this process's.
    ref_out = tmp_path / "ref.mp4"
    reference = _cli(tmp_path / "ref-data", "generate", *ARGS, "-o", str(ref_out))
    assert reference.returncode == 0, reference.stderr

    data = tmp_path / "data"
    out = tmp_path / "resumed.mp4"
    proc = subprocess.Popen(
        [*CLI, "generate", *ARGS, "-o", str(out), "--data", str(data)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    store = None
    try:
        deadline = time.monotonic() + 180
        step = 0
        while time.monotonic() < deadline and proc.poll() is None:
            if store is None and (data / "reelserve.db").exists():
                store = open_store(f"sqlite:///{data / 'reelserve.db'}")
            if store is not None:
                jobs = store.list_jobs()
                stages = store.get_stages(jobs[0].id) if jobs else []
                gen = [s for s in stages if s.stage == "generate" and s.status is StageStatus.RUNNING]
                step = gen[0].state.get("step", 0) if gen else 0
                if step >= 3:
                    break
            time.sleep(0.01)
        assert proc.poll() is None, "the generate process finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert store is not None and step >= 3
    killed = store.list_jobs()[0]
    assert killed.status is JobStatus.RUNNING and not out.exists()

    listed = _cli(data, "jobs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    row = json.loads(listed.stdout)[0]
    assert row["id"] == killed.id and row["status"] == "running" and 0 < row["progress"] < 1

    resumed = _cli(data, "jobs", "resume", "--all")
    assert resumed.returncode == 0, resumed.stderr
    job = store.get_job(killed.id)
    assert job is not None and job.status is JobStatus.SUCCEEDED
    gen_done = next(s for s in store.get_stages(job.id) if s.stage == "generate")
    assert gen_done.state["resumed_from"] >= step  # denoising continued from the last checkpoint
    assert out.is_file()  # the resumed job also wrote the output that was asked for
    assert _manifest(out)["frames_sha256"] == _manifest(ref_out)["frames_sha256"]
    store.close()
