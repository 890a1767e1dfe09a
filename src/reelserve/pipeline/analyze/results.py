"""Per-video results: gather chunk outputs (in any order), merge them into one timestamped result.

Shots are merged from pair scores: each chunk's scores, plus the score of the pair that straddles
each chunk boundary (the previous chunk's last small frame against this chunk's first), then one cut
rule over the whole video — so chunked and combined inference give the same boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reelserve.core.errors import MediaError
from reelserve.models.understanding.shots import cut_indices
from reelserve.pipeline.analyze.decoder import ChunkFrames
from reelserve.pipeline.analyze.models import FrameOutputs, TaskModels

__all__ = ["VideoState", "check_complete", "combine", "shots_from"]


@dataclass(slots=True)
class _Chunk:
    times: np.ndarray
    outputs: FrameOutputs
    shot_times: np.ndarray
    shot_scores: np.ndarray | None
    first_small: np.ndarray | None
    last_small: np.ndarray | None
    decoded: int


@dataclass(slots=True)
class VideoState:
    """One video in flight: its plan, the chunks processed so far, its timings and error."""

    index: int
    source: str
    info: dict[str, Any]
    chunks_total: int
    submitted_at: float
    timings: dict[str, float] = field(default_factory=lambda: {"split": 0.0, "decode": 0.0, "model": 0.0})
    chunks: dict[int, _Chunk] = field(default_factory=dict)
    pending: dict[int, ChunkFrames] = field(default_factory=dict)  #: combined mode: decoded, not yet run
    error: dict[str, str] | None = None
    seen: int = 0  #: chunks accounted for (processed, pending or failed)

    @property
    def complete(self) -> bool:
        return self.seen >= self.chunks_total

    def add(self, frames: ChunkFrames, outputs: FrameOutputs, scores: np.ndarray | None) -> None:
        shots = len(frames.shot_frames) > 0
        self.chunks[frames.chunk] = _Chunk(
            frames.times,
            outputs,
            frames.shot_times,
            scores,
            frames.shot_frames[0].copy() if shots else None,
            frames.shot_frames[-1].copy() if shots else None,
            frames.decoded,
        )
        self.timings["model"] += outputs.model_s

    def result(self, models: TaskModels) -> dict[str, Any]:
        """The merged result (a plain dict, JSON-ready) and, under "_embeddings", the frame vectors."""
        order = sorted(self.chunks)
        chunks = [self.chunks[i] for i in order]
        times = np.concatenate([c.times for c in chunks]) if chunks else np.zeros(0)
        samples: list[dict[str, Any]] = [{"time_s": round(float(t), 6)} for t in times]
        for task in models.spec.frame_tasks:
            if task == "embed":
                continue
            values = [v for c in chunks for v in c.outputs.per_task.get(task, [])]
            key = {"captions": "caption", "embed": "embedding"}.get(task, task)
            for sample, value in zip(samples, values, strict=True):
                sample[key] = value
        vectors = [c.outputs.embeddings for c in chunks if c.outputs.embeddings is not None]
        embeddings = np.concatenate(vectors) if vectors else None
        out: dict[str, Any] = {
            "video": self.source,
            "index": self.index,
            "status": "succeeded",
            "error": None,
            **self.info,
            "frames_decoded": sum(c.decoded for c in chunks),
            "chunks": self.chunks_total,
            "samples": samples,
            "models": models.describe(),
            "timings": {k: round(v, 6) for k, v in self.timings.items()},
            "_embeddings": embeddings,
        }
        if embeddings is not None and len(embeddings):
            mean = embeddings.mean(0)
            out["embedding"] = [round(float(v), 6) for v in mean / max(float(np.linalg.norm(mean)), 1e-12)]
        if models.shots is not None:
            out.update(shots_from(chunks, models, float(self.info.get("duration_s") or 0.0)))
        return out


def shots_from(chunks: list[_Chunk], models: TaskModels, duration_s: float) -> dict[str, Any]:
    """Cuts and shots of a video from its chunks' pair scores (and the boundary pairs)."""
    parts, times = [], []
    for k, chunk in enumerate(chunks):
        scores = np.array(chunk.shot_scores, np.float32, copy=True)
        prev = chunks[k - 1].last_small if k else None
        if prev is not None and chunk.first_small is not None and len(scores):
            scores[0] = models.shot_scores(np.stack([prev, chunk.first_small]))[1]
        parts.append(scores)
        times.append(chunk.shot_times)
    scores = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    all_times = np.concatenate(times) if times else np.zeros(0)
    detector = models.shots
    cuts = cut_indices(scores, all_times.tolist(), detector.threshold, detector.min_scene_s)
    fps = 1.0 / max(float(np.median(np.diff(all_times))), 1e-9) if len(all_times) > 1 else 0.0
    boundaries = [
        {"time_s": round(float(all_times[i]), 6), "frame": int(i), "score": round(float(scores[i]), 4)}
        for i in cuts
    ]
    starts = [0.0] + [b["time_s"] for b in boundaries]
    end = (
        max(duration_s, float(all_times[-1]) + (1.0 / fps if fps else 0.0)) if len(all_times) else duration_s
    )
    ends = [*starts[1:], round(end, 6)]
    shots = [
        {"index": i, "start_s": s, "end_s": e} for i, (s, e) in enumerate(zip(starts, ends, strict=True))
    ]
    return {"shot_boundaries": boundaries, "shots": shots, "shot_detector": detector.name}


def check_complete(result: dict[str, Any]) -> None:
    expected, decoded = result.get("frames_expected") or 0, result.get("frames_decoded") or 0
    if expected and decoded < expected:
        raise MediaError(
            f"{result['video']} is truncated: decoded {decoded} of the {expected} frames its index lists"
        )


def combine(chunks: list[ChunkFrames]) -> ChunkFrames:
    """All chunks of a video as one (combined inference: one model call per video)."""
    return ChunkFrames(
        video=chunks[0].video,
        chunk=0,
        decoded=sum(c.decoded for c in chunks),
        times=np.concatenate([c.times for c in chunks]),
        frames=np.concatenate([c.frames for c in chunks]),
        shot_times=np.concatenate([c.shot_times for c in chunks]),
        shot_frames=np.concatenate([c.shot_frames for c in chunks]),
        decode_s=0.0,
    )
