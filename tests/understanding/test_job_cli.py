"""The durable ``analyze`` job (per-video checkpoints, resume) and the CLI commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reelserve.core.records import JobStatus, StageStatus
from reelserve.pipeline.analyze import job as analyze_job
from reelserve.pipeline.analyze.cli import app
from reelserve.pipeline.analyze.job import job_results, submit_analysis
from reelserve.pipeline.runner import JobRunner
from reelserve.store import AnalysisIndex, FsBlobStore, SqlStore
from tests.understanding.conftest import Clip, spec

TASKS = ("shots", "captions", "embed")


def _run(store: SqlStore, blobs: FsBlobStore, job_id: str) -> JobStatus:
    runner = JobRunner(store, blobs, lease_s=10.0, backoff_s=0.01)
    claimed = store.claim_job(runner.worker_id, runner.lease_s, job_id=job_id)
    assert claimed is not None
    return runner.run(claimed).status


def test_job_checkpoints_each_video_and_indexes_it(
    store: SqlStore, blobs: FsBlobStore, clips: dict[str, Clip], damaged: dict[str, Path]
) -> None:
    job, _ = submit_analysis(store, [clips["h264"].path, damaged["garbage"]], spec(tasks=TASKS))
    assert _run(store, blobs, job.id) is JobStatus.SUCCEEDED
    stages = {s.segment: s for s in store.get_stages(job.id)}
    assert stages[0].status is StageStatus.DONE and stages[1].status is StageStatus.FAILED
    assert stages[1].error_code == "media_error"
    results = job_results(store, blobs, job.id)
    assert [r["status"] for r in results] == ["succeeded", "failed"]
    assert [b["frame"] for b in results[0]["shot_boundaries"]] == [30, 50]
    assert results[0]["latency_s"] >= results[0]["processing_s"] > 0
    index = AnalysisIndex(store.engine)
    assert {v["id"] for v in index.videos()} == {f"{job.id}/0", f"{job.id}/1"}
    word = results[0]["samples"][0]["caption"].split()[-1]
    assert any(h["video_id"] == f"{job.id}/0" for h in index.search_text(word))


def test_resume_redoes_only_unfinished_videos(
    store: SqlStore, blobs: FsBlobStore, clips: dict[str, Clip], monkeypatch: pytest.MonkeyPatch
) -> None:
    job, _ = submit_analysis(store, [clips["h264"].path, clips["long_gop"].path], spec(tasks=("shots",)))
    # A previous worker finished video 0 and crashed: its checkpoint is there, video 1 has none.
    store.checkpoint(job.id, "analyze", 0, StageStatus.DONE, state={"status": "succeeded"})
    calls: list[list[int]] = []
    real = analyze_job.analyze_videos

    def spy(videos: list[str], spec_: object, **kwargs: object) -> object:
        calls.append(list(kwargs["only"]))  # type: ignore[call-overload]
        return real(videos, spec_, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(analyze_job, "analyze_videos", spy)
    assert _run(store, blobs, job.id) is JobStatus.SUCCEEDED
    assert calls == [[1]]
    first = {s.segment: s for s in store.get_stages(job.id)}
    assert first[0].state == {"status": "succeeded"}  # untouched: video 0 was not redone
    assert first[1].status is StageStatus.DONE and first[1].state["status"] == "succeeded"


def _cli(*args: str) -> object:
    return CliRunner().invoke(app, list(args))


def _said(res: object) -> str:
    return " ".join(res.output.split())  # type: ignore[attr-defined]  (Rich wraps long lines)


def test_cli_analyze_json_search_and_export(
    tmp_path: Path, clips: dict[str, Clip], damaged: dict[str, Path]
) -> None:
    data = str(tmp_path / "data")
    videos = [str(clips["h265"].path), str(damaged["truncated"])]
    res = _cli(
        "analyze",
        *videos,
        "--tasks",
        "shots,labels,captions,embed",
        "--json",
        "--chunk-seconds",
        "1",
        "--fps",
        "2",
        "--batch-size",
        "3",
        "--data",
        data,
    )
    assert res.exit_code == 1  # one video failed; the other finished
    out = json.loads(res.stdout)
    ok, bad = out["videos"]
    assert [b["frame"] for b in ok["shot_boundaries"]] == [24, 61]
    assert [b["time_s"] for b in ok["shot_boundaries"]] == pytest.approx([1.0, 61 / 24], abs=1e-3)
    assert bad["status"] == "failed" and bad["error"]["code"] == "media_error"
    label = ok["samples"][0]["labels"][0]["label"]
    hits = json.loads(_cli("search", label, "--json", "--data", data).stdout)
    assert hits["text"] and hits["text"][0]["source"] == videos[0] and hits["vector"]
    res = _cli("export", "--format", "parquet", "-o", str(tmp_path / "x.parquet"), "--data", data)
    assert res.exit_code == 0 and (tmp_path / "x.parquet").stat().st_size > 0
    stats = json.loads(_cli("index-stats", "--data", data).stdout)
    assert stats["videos"] == 2 and stats["failed"] == 1


def test_cli_bad_input_exits_2_with_a_clear_message(tmp_path: Path, clips: dict[str, Clip]) -> None:
    data = str(tmp_path / "data")
    res = _cli("analyze", str(clips["h264"].path), "--tasks", "shots,ocr", "--data", data)
    assert res.exit_code == 2 and "valid tasks: captions, embed, labels, moderation, objects, shots" in _said(
        res
    )
    res = _cli("analyze", str(tmp_path / "nope.mp4"), "--data", data)
    assert res.exit_code == 2 and "no such video file" in _said(res)
    res = _cli("analyze", str(clips["h264"].path), "--mode", "sideways", "--data", data)
    assert res.exit_code == 2 and "valid modes: chunked, combined" in _said(res)
    res = _cli("export", "--format", "csv", "-o", str(tmp_path / "x.csv"), "--data", data)
    assert res.exit_code == 2 and "valid formats" in _said(res)
