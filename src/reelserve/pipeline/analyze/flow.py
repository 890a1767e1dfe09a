"""Run an analysis: split → decode workers → bounded queue → model worker → merged per-video results.

Threads, not processes: PyAV decodes and converts with the GIL released and torch runs its kernels
without it, so threads overlap for real (docs/understanding.md has the measurements), and frames
move between them without pickling. Layout:

    splitter ──ChunkTask──▶ [tasks] ──▶ decoder × N ──ChunkFrames──▶ [frames, bounded] ──▶ model worker
        └──────────── plan / failure messages (through [frames], so they precede a video's chunks) ──┘

The frames queue is the backpressure: decoders block once ``queue_size`` decoded chunks wait, so
memory stays bounded while the model is busy, and the model never waits while decoded work exists.
A video whose probe, split, decode or inference fails gets an error result; the others go on.
"""

from __future__ import annotations

import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reelserve.core.errors import ReelserveError
from reelserve.media.probe import probe
from reelserve.media.remux import KeyframeChunk, split_at_keyframes
from reelserve.pipeline.analyze.cpu import next_order
from reelserve.pipeline.analyze.decoder import ChunkFrames, ChunkTask, decode_chunk
from reelserve.pipeline.analyze.models import FrameOutputs, TaskModels
from reelserve.pipeline.analyze.queues import BoundedQueue, QueueStats
from reelserve.pipeline.analyze.results import VideoState, check_complete, combine
from reelserve.pipeline.analyze.spec import AnalyzeSpec

__all__ = ["Analysis", "Progress", "analyze_videos"]

#: Called with each finished video's result; may raise (e.g. Cancelled) to stop the analysis.
OnResult = Callable[[dict[str, Any]], None]
#: Called as (video index, chunks done, chunks total) while a video progresses.
Progress = Callable[[int, int, int], None]


@dataclass(frozen=True, slots=True)
class _Plan:
    state: VideoState


@dataclass(frozen=True, slots=True)
class _Failed:
    video: int
    chunk: int | None  #: None: the whole video failed before any chunk (probe or split)
    error: dict[str, str]


_END = object()


def _error(exc: BaseException) -> dict[str, str]:
    if isinstance(exc, ReelserveError):
        return {"code": exc.code, "message": exc.message}
    return {"code": "internal_error", "message": f"{type(exc).__name__}: {exc}"}


@dataclass
class Analysis:
    """The outcome of `analyze_videos`: results in request order, queue statistics and wall time."""

    results: list[dict[str, Any]]
    queue: QueueStats
    wall_s: float


class _Run:
    def __init__(
        self, sources: Sequence[str | Path], spec: AnalyzeSpec, models: TaskModels, workdir: Path
    ) -> None:
        self.sources = [str(s) for s in sources]
        self.spec, self.models, self.workdir = spec, models, workdir
        self.tasks: queue.Queue[ChunkTask | None] = queue.Queue()
        self.frames: BoundedQueue[Any] = BoundedQueue(spec.queue_size)
        self.stop = threading.Event()
        self.failed_videos: set[int] = set()
        self.order = next_order()  # this analysis's place in the device and core queues (cpu.py)

    # -- producer side -------------------------------------------------------------------------

    def split_all(self, indices: Sequence[int]) -> None:
        try:
            for i in indices:
                if self.stop.is_set():
                    break
                self._split_one(i)
        finally:
            for _ in range(self.spec.decoders):
                self.tasks.put(None)

    def _split_one(self, i: int) -> None:
        started, source = time.perf_counter(), self.sources[i]
        try:
            info = probe(source)
        except Exception as exc:  # any failure of one video is that video's error, not the request's
            self.frames.put(_Failed(i, None, _error(exc)))
            return
        out, split_note = self.workdir / f"v{i:05d}", None
        out.mkdir()
        try:
            chunks = split_at_keyframes(source, self.spec.chunk_seconds, out)
        except Exception as exc:
            # Remuxing may refuse a stream the decoder still reads (e.g. a container whose timestamps
            # MP4 cannot hold); decoding the source whole is always right, it only gives up parallelism
            # within this video. Real damage fails in the decoder.
            chunks = [KeyframeChunk(0.0, info.duration_s, Path(source))]
            split_note = f"not split ({_error(exc)['message']}); decoded as one chunk"
        meta = {
            "duration_s": round(info.duration_s, 6),
            "fps": round(info.fps, 6),
            "width": info.width,
            "height": info.height,
            "codec": info.codec,
            "frames_expected": info.frames,
        }
        if split_note:
            meta["note"] = split_note
        state = VideoState(i, source, meta, len(chunks), time.time())
        state.timings["split"] = time.perf_counter() - started
        self.frames.put(_Plan(state))
        frame_s = 1.0 / info.fps if info.fps else 0.0
        for k, (start, end, path) in enumerate(chunks):
            following = chunks[k + 1].path if k + 1 < len(chunks) else None
            self.tasks.put(ChunkTask(i, k, start, end, path, following, frame_s))

    def decode_loop(self) -> None:
        while (task := self.tasks.get()) is not None:
            if self.stop.is_set() or task.video in self.failed_videos:
                self.frames.put(_Failed(task.video, task.chunk, {"code": "skipped", "message": ""}))
            else:
                try:
                    self.frames.put(decode_chunk(task, self.spec, self.order))
                except Exception as exc:  # a damaged chunk fails its video only
                    self.failed_videos.add(task.video)
                    self.frames.put(_Failed(task.video, task.chunk, _error(exc)))


class _ModelWorker:
    """Consumes the frames queue; runs the models per chunk or per video; emits finished videos."""

    def __init__(self, run: _Run, on_result: OnResult | None, progress: Progress | None) -> None:
        self.run, self.on_result, self.progress = run, on_result, progress
        self.states: dict[int, VideoState] = {}
        self.results: dict[int, dict[str, Any]] = {}

    def loop(self) -> None:
        while (item := self.run.frames.get()) is not _END:
            if isinstance(item, _Plan):
                self.states[item.state.index] = item.state
                self._finish_if_complete(item.state)
            elif isinstance(item, _Failed):
                self._failed(item)
            else:
                self._frames(item)

    def _failed(self, item: _Failed) -> None:
        if item.chunk is None:
            source = self.run.sources[item.video]
            self._emit(
                item.video, {"video": source, "index": item.video, "status": "failed", "error": item.error}
            )
            return
        state = self.states[item.video]
        state.seen += 1
        if state.error is None and item.error["code"] != "skipped":
            state.error = item.error
        self._finish_if_complete(state)

    def _frames(self, chunk: ChunkFrames) -> None:
        state = self.states[chunk.video]
        state.seen += 1
        state.timings["decode"] += chunk.decode_s
        if state.error is None:
            try:
                if self.run.spec.mode == "chunked":
                    self._infer(state, chunk)
                else:
                    state.pending[chunk.chunk] = chunk
            except Exception as exc:  # a model failure on one video fails that video
                state.error = _error(exc)
        if self.progress is not None:
            self.progress(state.index, state.seen, state.chunks_total)
        self._finish_if_complete(state)

    def _infer(self, state: VideoState, chunk: ChunkFrames) -> None:
        models = self.run.models
        order = self.run.order
        outputs = models.run_frames(chunk.frames, order) if len(chunk.frames) else FrameOutputs()
        scores = models.shot_scores(chunk.shot_frames, order) if models.shots is not None else None
        state.add(chunk, outputs, scores)

    def _finish_if_complete(self, state: VideoState) -> None:
        if not state.complete or state.index in self.results:
            return
        try:
            if state.error is None and state.pending:
                self._infer(state, combine([state.pending[k] for k in sorted(state.pending)]))
                state.pending.clear()
            result = state.result(self.run.models) if state.error is None else None
            if result is not None:
                check_complete(result)
        except Exception as exc:
            state.error, result = _error(exc), None
        if result is None:
            result = {
                "video": state.source,
                "index": state.index,
                "status": "failed",
                "error": state.error,
                **state.info,
                "timings": state.timings,
            }
        result["finished_at"] = time.time()
        result["processing_s"] = round(result["finished_at"] - state.submitted_at, 6)
        result.setdefault("latency_s", result["processing_s"])  # a job replaces it: submit → finished
        self._emit(state.index, result)

    def _emit(self, index: int, result: dict[str, Any]) -> None:
        # Every decoder of this video is done (all its chunks were accounted for): drop its chunk files.
        shutil.rmtree(self.run.workdir / f"v{index:05d}", ignore_errors=True)
        self.results[index] = result
        if self.on_result is not None:
            self.on_result(result)


def analyze_videos(
    sources: Sequence[str | Path],
    spec: AnalyzeSpec,
    *,
    only: Sequence[int] | None = None,
    on_result: OnResult | None = None,
    progress: Progress | None = None,
    workdir: Path | None = None,
    models: TaskModels | None = None,
) -> Analysis:
    """Analyse ``sources`` (or the positions in ``only``); results come back in request order.

    ``on_result`` sees each video as soon as it is finished (to checkpoint it); if it raises, the
    analysis stops and the exception propagates after the workers have exited.
    """
    started = time.perf_counter()
    models = models or TaskModels(spec)
    scratch = Path(tempfile.mkdtemp(prefix="reelserve-analyze-", dir=workdir))
    run = _Run(sources, spec, models, scratch)
    worker = _ModelWorker(run, on_result, progress)
    indices = list(range(len(sources))) if only is None else list(only)
    threads = [threading.Thread(target=run.split_all, args=(indices,), name="analyze-split", daemon=True)]
    threads += [
        threading.Thread(target=run.decode_loop, name=f"analyze-decode-{n}", daemon=True)
        for n in range(spec.decoders)
    ]
    for t in threads:
        t.start()
    closer = threading.Thread(target=_close_when_done, args=(threads, run), name="analyze-close", daemon=True)
    closer.start()
    try:
        worker.loop()
    except BaseException:
        run.stop.set()
        _drain(run, closer)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return Analysis([worker.results[i] for i in indices], run.frames.stats(), time.perf_counter() - started)


def _close_when_done(threads: list[threading.Thread], run: _Run) -> None:
    for t in threads:
        t.join()
    run.frames.put(_END)


def _drain(run: _Run, closer: threading.Thread) -> None:
    # Unblock decoders stuck on a full queue so every thread exits before we return.
    while closer.is_alive() or not run.frames._queue.empty():
        try:
            run.frames._queue.get(timeout=0.05)
        except queue.Empty:
            continue
