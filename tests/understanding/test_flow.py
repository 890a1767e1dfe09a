"""The analysis flow: chunked = combined, bounded queues, per-video errors, sampling, progress, stopping."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from reelserve.core.errors import Cancelled
from reelserve.pipeline.analyze.cpu import cpu_slots
from reelserve.pipeline.analyze.flow import analyze_videos
from reelserve.pipeline.analyze.queues import BoundedQueue
from tests.media.conftest import undecodable_video
from tests.understanding.conftest import Clip, spec

ALL = ("shots", "labels", "objects", "captions", "embed", "moderation")


def _comparable(result: dict) -> dict:
    keep = ("status", "frames_decoded", "shot_boundaries", "shots", "samples")
    return {k: result.get(k) for k in keep}


def test_chunked_and_combined_agree(clips: dict[str, Clip]) -> None:
    videos = [clips["h264"].path, clips["h265"].path, clips["av1"].path]
    chunked = analyze_videos(videos, spec(tasks=ALL, mode="chunked")).results
    combined = analyze_videos(videos, spec(tasks=ALL, mode="combined")).results
    for a, b in zip(chunked, combined, strict=True):
        assert a["chunks"] > 1  # several chunks, so the comparison means something
        assert _comparable(a) == _comparable(b)
        assert np.allclose(a["_embeddings"], b["_embeddings"], atol=1e-5)
        assert a["embedding"] == pytest.approx(b["embedding"], abs=1e-5)


def test_samples_follow_the_sampling_rate(clips: dict[str, Clip]) -> None:
    clip = clips["h264"]  # 72 frames at 24 fps = 3 s
    for fps, expected in ((1.0, 3), (4.0, 12), (24.0, 72), (100.0, 72)):
        result = analyze_videos([clip.path], spec(tasks=("labels",), fps=fps)).results[0]
        times = [s["time_s"] for s in result["samples"]]
        assert len(times) == expected and times == sorted(times) and times[0] == 0.0


def test_damaged_videos_fail_alone(clips: dict[str, Clip], damaged: dict[str, Path]) -> None:
    good = clips["h264"].path
    videos = [damaged["empty"], good, damaged["garbage"], damaged["truncated"], damaged["unsupported"], good]
    results = analyze_videos(videos, spec(tasks=("shots", "labels"))).results
    assert [r["status"] for r in results] == [
        "failed",
        "succeeded",
        "failed",
        "failed",
        "failed",
        "succeeded",
    ]
    messages = {
        name: results[i]["error"]["message"] for i, name in ((0, "empty"), (3, "truncated"), (4, "text"))
    }
    assert "empty (0 bytes)" in messages["empty"]
    assert "truncated" in messages["truncated"] or "corrupt" in messages["truncated"]
    assert "not a media file" in messages["text"] or "no video stream" in messages["text"]
    assert all(r["error"]["code"] == "media_error" for r in results if r["status"] == "failed")
    assert [b["frame"] for b in results[1]["shot_boundaries"]] == [30, 50]
    assert cpu_slots().used == 0  # decoders that failed mid-chunk gave their core back


def test_bounded_queue_never_exceeds_its_size(clips: dict[str, Clip]) -> None:
    videos = [clips["h264"].path, clips["h265"].path, clips["h264"].path]
    analysis = analyze_videos(videos, spec(tasks=("shots", "captions"), queue_size=1, decoders=2))
    stats = analysis.queue
    assert stats.maxsize == 1 and stats.high_water == 1
    assert stats.items >= 3 + 3 + 4 + 3  # plans and chunks all went through the one-slot queue
    assert all(r["status"] == "succeeded" for r in analysis.results)


def test_bounded_queue_blocks_producers() -> None:
    q: BoundedQueue[int] = BoundedQueue(2)
    q.put(1)
    q.put(2)
    third = threading.Thread(target=q.put, args=(3,))
    third.start()
    third.join(0.2)
    assert third.is_alive()  # blocked: the queue is full
    assert q.get() == 1
    third.join(2)
    assert not third.is_alive() and q.stats().high_water == 2 and q.stats().put_wait_s > 0.1


def test_progress_per_video_and_results_as_they_finish(clips: dict[str, Clip]) -> None:
    seen: list[tuple[int, int, int]] = []
    finished: list[int] = []
    videos = [clips["h264"].path, clips["h265"].path]
    analyze_videos(
        videos, spec(), progress=lambda *p: seen.append(p), on_result=lambda r: finished.append(r["index"])
    )
    assert sorted(finished) == [0, 1]
    for video in (0, 1):
        mine = [(done, total) for v, done, total in seen if v == video]
        assert [d for d, _ in mine] == list(range(1, len(mine) + 1)) and mine[-1][0] == mine[-1][1]


def test_a_raising_callback_stops_the_analysis(clips: dict[str, Clip]) -> None:
    def stop(_result: dict) -> None:
        raise Cancelled("stop here")

    before = threading.active_count()
    with pytest.raises(Cancelled):
        analyze_videos([clips["h264"].path] * 4, spec(queue_size=1), on_result=stop)
    assert threading.active_count() <= before  # every worker thread has exited


def test_a_codec_ffmpeg_cannot_decode_fails_its_video_only(clips: dict[str, Clip], tmp_path: Path) -> None:
    odd = undecodable_video(tmp_path / "a64.nut")
    results = analyze_videos([odd, clips["av1"].path], spec(tasks=("shots", "labels"))).results
    assert [r["status"] for r in results] == ["failed", "succeeded"]
    assert results[0]["error"]["code"] == "media_error"
    assert "unsupported video codec" in results[0]["error"]["message"]
    assert results[1]["codec"] == "av1" and results[1]["chunks"] == 3
