"""Shot detection finds the known hard cuts, to the frame, in every codec, size and chunking."""

from __future__ import annotations

import numpy as np
import pytest

from reelserve.models.understanding import load_task
from reelserve.models.understanding.shots import cut_indices
from reelserve.pipeline.analyze.flow import analyze_videos
from tests.understanding.conftest import Clip, spec
from tests.understanding.videos import scene_frames


def _found(result: dict, clip: Clip) -> list[int]:
    assert result["status"] == "succeeded", result.get("error")
    return [b["frame"] for b in result["shot_boundaries"]]


def _assert_cuts(found: list[int], clip: Clip) -> None:
    assert found == list(clip.cuts)


@pytest.mark.parametrize("detector", ["content", "learned"])
def test_known_cuts_in_every_codec(clips: dict[str, Clip], detector: str) -> None:
    keys = sorted(clips)
    analysis = analyze_videos([clips[k].path for k in keys], spec(tasks=("shots",), shot_detector=detector))
    for key, result in zip(keys, analysis.results, strict=True):
        clip = clips[key]
        _assert_cuts(_found(result, clip), clip)
        assert result["frames_decoded"] == clip.frames  # open GOPs lose no frame at chunk cuts
        # Every codec splits by stream copy (AV1 too: no decoder or encoder is needed to remux).
        assert "note" not in result and (result["chunks"] > 1 or key == "long_gop"), result
        times = [b["time_s"] for b in result["shot_boundaries"]]
        assert times == pytest.approx([f / clip.fps for f in _found(result, clip)], abs=1e-3)
        shots = result["shots"]
        assert len(shots) == len(clip.cuts) + 1 and shots[0]["start_s"] == 0.0
        assert shots[-1]["end_s"] == pytest.approx(clip.frames / clip.fps, abs=0.05)


def test_cut_on_a_chunk_boundary_is_found(tmp_path) -> None:
    from tests.understanding.videos import make_video

    clip = Clip(
        make_video(tmp_path / "b.mp4", 48, (24,), gop=12), (24,), 48, 24.0
    )  # frame 24 = keyframe at 1 s
    for mode in ("chunked", "combined"):
        result = analyze_videos([clip.path], spec(tasks=("shots",), mode=mode)).results[0]
        _assert_cuts(_found(result, clip), clip)


def test_pair_scores_direct() -> None:
    frames = scene_frames(40, (15, 30), 64, 48)
    for detector in ("content", "learned"):
        model = load_task("shots", detector=detector)
        scores = model.pair_scores(frames)
        assert scores.shape == (40,) and scores[0] == 0
        times = (np.arange(40) / 24).tolist()
        assert cut_indices(scores, times, model.threshold, model.min_scene_s) == [15, 30]


def test_min_scene_length_drops_the_later_of_close_cuts() -> None:
    scores = np.array([0, 0, 50, 50, 0, 0, 0, 0, 0, 50], np.float32)
    times = [i * 0.1 for i in range(10)]
    assert cut_indices(scores, times, 27.0, 0.25) == [2, 9]


def test_learned_detector_round_trips_through_a_directory(tmp_path) -> None:
    from reelserve.models.understanding.shots import LearnedShots

    built = LearnedShots.build(None, None, 0.4)
    built.save_pretrained(tmp_path / "shots")
    loaded = load_task("shots", tmp_path / "shots", detector="learned")
    frames = scene_frames(20, (10,), 32, 24)
    assert np.allclose(built.pair_scores(frames), loaded.pair_scores(frames))
    assert loaded.weights_hash != built.weights_hash  # a directory is hashed by its files


def test_content_scores_are_pyscenedetects() -> None:
    from scenedetect import ContentDetector

    rng = np.random.default_rng(0)
    frames = scene_frames(12, (5,), 40, 30)
    frames[8:] = rng.integers(0, 256, frames[8:].shape, dtype=np.uint8)  # noise: every pixel changes
    reference = ContentDetector(threshold=27.0, min_scene_len=0)
    want = [
        reference._calculate_frame_score(None, np.ascontiguousarray(f[..., ::-1]))  # type: ignore[arg-type]
        for f in frames
    ]
    got = load_task("shots", detector="content").pair_scores(frames)
    assert got == pytest.approx(np.array(want, np.float32), abs=1e-4)
    assert got[5] > 27.0 > got[4] and got[9] > 27.0
