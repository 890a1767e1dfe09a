"""Accuracy mode: keep every video as an MP4 on disk, then score them all after the load.

Saving and scoring happen off the measured path: a query is "complete" at its last byte; the file
write (and, for raw-frame deliveries, the client-side MP4 encode — the issue's "fold compression into
the accuracy phase") is timed separately in ``record.extra``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from reelserve.bench.adapters import Payload
from reelserve.bench.config import BenchConfig
from reelserve.bench.scoring import Expected, Scorer, aggregate
from reelserve.bench.scoring.video import encode_mp4
from reelserve.bench.timeline import QueryRecord

__all__ = ["VideoSaver", "expected_of", "score_records"]


def expected_of(cfg: BenchConfig) -> Expected:
    return Expected(num_frames=cfg.num_frames, fps=cfg.fps, width=cfg.width, height=cfg.height)


class VideoSaver:
    """An ``on_done`` sink: writes each query's video to ``directory/<query_id>.mp4``."""

    def __init__(self, directory: Path, cfg: BenchConfig) -> None:
        self.directory = directory
        self.cfg = cfg
        directory.mkdir(parents=True, exist_ok=True)

    async def __call__(self, record: QueryRecord, payload: Payload | None) -> None:
        if payload is None:
            if record.ok:
                record.extra["missing_video"] = 1.0
            return
        try:
            await asyncio.to_thread(self._save, record, payload)
        except ValueError as exc:  # raw bytes that are not the frames they claim to be
            record.ok, record.error = False, f"unusable video: {exc}"

    def _save(self, record: QueryRecord, payload: Payload) -> None:
        data = payload.data
        if payload.kind == "raw":
            started = time.perf_counter()
            shape = payload.shape or (self.cfg.num_frames, self.cfg.height, self.cfg.width, 3)
            frames = np.frombuffer(data, dtype=np.uint8).reshape(shape)
            data = encode_mp4(frames, self.cfg.fps)
            record.extra["client_encode_s"] = time.perf_counter() - started
        started = time.perf_counter()
        path = self.directory / f"{record.query_id}.mp4"
        path.write_bytes(data)
        record.extra["save_s"] = time.perf_counter() - started
        record.video_path = str(path)


def score_records(
    records: list[QueryRecord], scorer: Scorer, on_scored: Callable[[bool], None] | None = None
) -> dict[str, Any]:
    """Score every saved video; a completed query without a video counts as a failed hard check."""
    per_video = []
    for record in records:
        if not record.ok:
            continue
        if record.video_path is None:
            score = {
                "hard": {"passed": False, "checks": {"decodable": False}, "error": "no video"},
                "dimensions": {},
            }
        else:
            started = time.perf_counter()
            score = scorer.score(record.video_path)
            record.extra["score_s"] = time.perf_counter() - started
        per_video.append({"query_id": record.query_id, "prompt_id": record.prompt_id, **score})
        if on_scored is not None:
            on_scored(bool(score["hard"]["passed"]))
    return {"scores": aggregate(per_video), "per_video": per_video}
