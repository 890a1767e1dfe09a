"""The CLI's commands and its answers to bad input: a clear message, a non-zero exit, nothing left."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reelserve.cli import app

runner = CliRunner()
SMALL = ["--frames", "9", "--size", "64x64", "--steps", "2", "--preset", "ultrafast"]


def _invoke(data: Path, *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, [*args, "--data", str(data)])


def _no_jobs(data: Path) -> bool:
    res = _invoke(data, "jobs", "list", "--json")
    return res.exit_code == 0 and json.loads(res.stdout) == []


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--frames", "16"], "4k+1"),
        (["--size", "250x256"], "multiple of 16"),
        (["--size", "big"], "WIDTHxHEIGHT"),
        (["--steps", "0"], "at least 1"),
        (["--model", "nope"], "tiny-wan"),  # lists the valid models
        (["--codec", "mpeg2"], "h264"),
        (["--model", "wan2.1-t2v-1.3b"], "--weights"),
    ],
)
def test_bad_generation_settings_fail_clearly_and_admit_nothing(
    tmp_path: Path, args: list[str], needle: str
) -> None:
    out = tmp_path / "o.mp4"
    res = _invoke(tmp_path / "d", "generate", "x", *SMALL, *args, "-o", str(out))
    assert res.exit_code == 2, res.output
    assert needle in res.output and "Traceback" not in res.output
    assert not out.exists() and _no_jobs(tmp_path / "d")


def test_unwritable_output_path(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o500)
    try:
        if os.access(locked, os.W_OK):  # root ignores modes; a kernel-owned directory refuses even root
            locked = Path("/proc/sys")
            if os.access(locked, os.W_OK):
                pytest.skip("no directory here refuses writes to this user")
        res = _invoke(tmp_path / "d", "generate", "x", *SMALL, "-o", str(locked / "o.mp4"))
    finally:
        os.chmod(tmp_path / "locked", 0o700)
    assert res.exit_code == 2 and "not writable" in res.output
    assert _no_jobs(tmp_path / "d")


def test_missing_output_directory_and_directory_as_output(tmp_path: Path) -> None:
    res = _invoke(tmp_path / "d", "generate", "x", *SMALL, "-o", str(tmp_path / "no" / "o.mp4"))
    assert res.exit_code == 2 and "does not exist" in res.output
    res = _invoke(tmp_path / "d", "generate", "x", *SMALL, "-o", str(tmp_path))
    assert res.exit_code == 2 and "is a directory" in res.output


def test_corrupt_weights_directory(tmp_path: Path) -> None:
    weights = tmp_path / "w"
    weights.mkdir()
    (weights / "model_index.json").write_text("{not json")
    out = tmp_path / "o.mp4"
    res = _invoke(tmp_path / "d", "generate", "x", *SMALL, "--weights", str(weights), "-o", str(out))
    assert res.exit_code == 1 and "weights" in res.output.lower()
    assert not out.exists()
    listed = json.loads(_invoke(tmp_path / "d", "jobs", "list", "--json").stdout)
    assert listed[0]["status"] == "failed" and listed[0]["error"]["code"] == "weights_error"


def test_weights_directory_loads_and_matches_the_built_in_model(tmp_path: Path) -> None:
    weights = tmp_path / "tiny"
    assert runner.invoke(app, ["models", "build", "tiny-wan", "--out", str(weights)]).exit_code == 0
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    assert _invoke(tmp_path / "d", "generate", "x", *SMALL, "-o", str(a)).exit_code == 0
    res = _invoke(tmp_path / "d", "generate", "x", *SMALL, "--weights", str(weights), "-o", str(b))
    assert res.exit_code == 0, res.output
    ma = json.loads(a.with_suffix(".manifest.json").read_text())
    mb = json.loads(b.with_suffix(".manifest.json").read_text())
    # Same parameters saved and reloaded through diffusers' real loading code: same frames.
    assert ma["frames_sha256"] == mb["frames_sha256"]
    assert ma["model"]["weights_sha256"] != mb["model"]["weights_sha256"]  # a dir hash vs a tensor hash


def test_jobs_commands_and_json_shape(tmp_path: Path) -> None:
    data = tmp_path / "d"
    res = _invoke(data, "generate", "a kite", *SMALL, "--key", "k", "-o", str(tmp_path / "k.mp4"))
    assert res.exit_code == 0, res.output
    again = _invoke(data, "generate", "a kite", *SMALL, "--key", "k", "-o", str(tmp_path / "k.mp4"))
    assert again.exit_code == 0 and "existing" in again.output
    rows = json.loads(_invoke(data, "jobs", "list", "--json").stdout)
    assert len(rows) == 1 and rows[0]["status"] == "succeeded" and rows[0]["progress"] == 1.0
    shown = json.loads(_invoke(data, "jobs", "show", rows[0]["id"], "--json").stdout)
    assert [s["stage"] for s in shown["stages"]] and shown["bottleneck"].split("-")[0] in (
        "model",
        "encode",
        "io",
    )
    assert _invoke(data, "jobs", "show", "job_missing").exit_code == 1
    assert _invoke(data, "jobs", "cancel", rows[0]["id"]).exit_code == 1  # already finished
    assert _invoke(data, "jobs", "resume").exit_code == 2  # neither an id nor --all


def test_models_list(tmp_path: Path) -> None:
    res = runner.invoke(app, ["models", "list", "--json"])
    names = {m["name"] for m in json.loads(res.stdout)}
    assert {"tiny-wan", "small-wan", "wan2.1-t2v-1.3b"} <= names
    table = runner.invoke(app, ["models", "list"])
    assert table.exit_code == 0 and "tiny-wan" in table.stdout
