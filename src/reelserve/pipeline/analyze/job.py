"""The durable ``analyze`` job kind: one stage, one segment per video, each video checkpointed.

Resumable per video: the stage's first unfinished segment runs the whole flow over every video not
yet DONE or FAILED (so decoding and inference still overlap across videos), and each video is
checkpointed the moment it finishes: its result JSON (a durable blob, artifact ``analysis/<n>``),
its index rows, and its stage row in one metadata transaction. A crash redoes only unfinished
videos; a video that failed for good (corrupt, truncated, unsupported) stays FAILED with its error.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from reelserve.core.errors import InvalidInput, NotFound
from reelserve.core.records import Job, Priority, StageStatus
from reelserve.pipeline import t2v  # noqa: F401  (jobkinds imports t2v only while no kind is registered)
from reelserve.pipeline.analyze.flow import analyze_videos
from reelserve.pipeline.analyze.spec import AnalyzeSpec
from reelserve.pipeline.context import StageContext
from reelserve.pipeline.jobkinds import StageDef, register_kind
from reelserve.store.base import BlobStore, Store
from reelserve.store.index import AnalysisIndex

__all__ = ["KIND", "STAGE", "job_results", "submit_analysis"]

KIND = "analyze"
STAGE = "analyze"
_FINISHED = (StageStatus.DONE, StageStatus.FAILED)
#: At most one progress row write per video per this many seconds.
_PROGRESS_EVERY_S = 0.5


def submit_analysis(
    store: Store,
    sources: Sequence[str | Path],
    spec: AnalyzeSpec,
    *,
    project: str = "default",
    idempotency_key: str | None = None,
    priority: Priority = Priority.INTERACTIVE,
    max_attempts: int = 3,
    names: Sequence[str] | None = None,
) -> tuple[Job, bool]:
    """Admit an analysis of local files (absolute paths are recorded); missing files are bad input."""
    if not sources:
        raise InvalidInput("give at least one video to analyse", param="videos")
    paths = [Path(s).expanduser().resolve() for s in sources]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise InvalidInput(f"no such video file: {', '.join(missing)}", param="videos")
    # "prompt" keeps the runner's GenerationSpec parsing happy; analyses have no prompt.
    job_spec = {
        "prompt": "",
        "videos": [str(p) for p in paths],
        "names": list(names) if names is not None else [p.name for p in paths],
        "analyze": spec.to_dict(),
    }
    return store.create_job(
        project=project,
        kind=KIND,
        spec=job_spec,
        priority=priority,
        idempotency_key=idempotency_key,
        max_attempts=max_attempts,
    )


def _pending(ctx: StageContext, count: int) -> list[int]:
    return [i for i in range(count) if (r := ctx.record(STAGE, i)) is None or r.status not in _FINISHED]


def _run(ctx: StageContext, segment: int) -> None:
    videos: list[str] = ctx.job.spec["videos"]
    pending = _pending(ctx, len(videos))
    if segment not in pending:
        return  # finished for good (FAILED videos are not retried: their input is what is wrong)
    spec = AnalyzeSpec.from_dict(ctx.job.spec["analyze"])
    engine = getattr(ctx.store, "engine", None)
    index = AnalysisIndex(engine) if engine is not None else None
    done = [len(videos) - len(pending)]
    last_write: dict[int, float] = {}
    ctx.progress.stage_started(STAGE, len(videos))

    def progress(video: int, chunks_done: int, chunks: int) -> None:
        now = time.monotonic()
        if chunks_done < chunks and now - last_write.get(video, 0.0) < _PROGRESS_EVERY_S:
            return
        last_write[video] = now
        state = {"video": videos[video], "chunks_done": chunks_done, "chunks": chunks}
        ctx.checkpoint(STAGE, video, StageStatus.RUNNING, state=state)

    def on_result(result: dict[str, Any]) -> None:
        ctx.check()  # cancellation or a lost lease stops the analysis between videos
        done[0] += 1
        _record(ctx, index, result, done[0] / len(videos))
        ctx.progress.advance(STAGE, done[0])

    analyze_videos(videos, spec, only=pending, on_result=on_result, progress=progress)
    ctx.progress.stage_finished(STAGE)


def _record(ctx: StageContext, index: AnalysisIndex | None, result: dict[str, Any], progress: float) -> None:
    i = int(result["index"])
    vectors: np.ndarray | None = result.pop("_embeddings", None)
    result["submitted_at"] = ctx.job.created_at
    result["latency_s"] = round(result.get("finished_at", time.time()) - ctx.job.created_at, 6)
    ref = ctx.blobs.put_bytes(json.dumps(result, sort_keys=True).encode(), "durable", suffix=".json")
    if index is not None:
        index.put(f"{ctx.job.id}/{i}", result, job_id=ctx.job.id, frame_vectors=vectors)
    failed = result["status"] == "failed"
    ctx.checkpoint(
        STAGE,
        i,
        StageStatus.FAILED if failed else StageStatus.DONE,
        output_sha256=ref.sha256,
        state={"video": result["video"], "status": result["status"], "error": result.get("error")},
        timings={k: float(v) for k, v in (result.get("timings") or {}).items()},
        error_code=(result.get("error") or {}).get("code") if failed else None,
        artifacts=[ctx.artifact(f"analysis/{i}", ref, final=True)],
        job_progress=progress,
    )


def job_results(store: Store, blobs: BlobStore, job_id: str) -> list[dict[str, Any]]:
    """Every video of an analysis job: its result when finished, else its status and chunk progress."""
    job = store.get_job(job_id)
    if job is None or job.kind != KIND:
        raise NotFound(f"no analysis {job_id}")
    arts = {a.name: a for a in store.get_artifacts(job_id)}
    records = {r.segment: r for r in store.get_stages(job_id) if r.stage == STAGE}
    out: list[dict[str, Any]] = []
    for i, source in enumerate(job.spec["videos"]):
        art = arts.get(f"analysis/{i}")
        if art is not None:
            out.append(json.loads(blobs.get_bytes(art.blob)))
            continue
        rec = records.get(i)
        state = rec.state if rec is not None else {}
        total = state.get("chunks") or 0
        out.append(
            {
                "video": source,
                "index": i,
                "status": "in_progress" if rec is not None else "queued",
                "progress": round(state.get("chunks_done", 0) / total, 4) if total else 0.0,
            }
        )
    return out


register_kind(KIND, [StageDef(STAGE, lambda ctx: len(ctx.job.spec["videos"]), _run, stamp="analyzed")])
