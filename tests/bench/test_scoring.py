from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reelserve.bench.scoring import Expected, Scorer, aggregate, hard_checks
from reelserve.bench.scoring.flow import block_flow, dynamic_degree
from reelserve.bench.scoring.neural import FeatureModel, consistency
from reelserve.bench.scoring.temporal import motion_smoothness, temporal_flickering
from reelserve.bench.scoring.video import decode, encode_mp4, gray

from .videos import frames_of, mp4_of

EXPECTED = Expected(num_frames=17, fps=16, width=64, height=64)


def test_hard_checks_pass_on_the_requested_video() -> None:
    result = Scorer(EXPECTED).score(mp4_of("moving", 17, 64, 64, 16))
    assert result["hard"]["passed"], result["hard"]
    assert result["hard"]["found"] == {"frames": 17, "fps": 16.0, "width": 64, "height": 64}


def test_hard_checks_catch_wrong_frames_fps_size_and_garbage() -> None:
    wrong_frames = Scorer(EXPECTED).score(mp4_of("moving", 15, 64, 64, 16))["hard"]
    assert not wrong_frames["passed"] and wrong_frames["checks"] == {
        "decodable": True, "frames": False, "fps": True, "size": True,
    }  # fmt: skip
    wrong_fps = Scorer(EXPECTED).score(mp4_of("moving", 17, 64, 64, 24))["hard"]["checks"]
    assert not wrong_fps["fps"] and wrong_fps["frames"]
    wrong_size = Scorer(EXPECTED).score(mp4_of("moving", 17, 48, 64, 16))["hard"]["checks"]
    assert not wrong_size["size"]
    garbage = Scorer(EXPECTED).score(b"not an mp4 at all")
    assert garbage["hard"]["checks"] == {"decodable": False} and garbage["dimensions"] == {}
    assert not hard_checks(None, EXPECTED, "x")["passed"]


def test_decode_round_trips_frames() -> None:
    clip = decode(mp4_of("static", 9, 64, 48, 8))
    assert clip.frames.shape == (9, 48, 64, 3) and clip.fps == 8.0 and clip.codec == "h264"
    original = frames_of("static", 9, 64, 48)
    assert np.abs(clip.frames.astype(int) - original.astype(int)).mean() < 3  # lossy, but close


def test_flicker_static_is_zero_noise_is_high() -> None:
    static = temporal_flickering(frames_of("static", 9, 64, 64))
    noisy = temporal_flickering(frames_of("noise", 9, 64, 64))
    assert static == {"score": 1.0, "flicker": 0.0}
    assert noisy["flicker"] > 0.25 and noisy["score"] < 0.75


def test_dynamic_degree_static_zero_moving_one() -> None:
    static = dynamic_degree(gray(frames_of("static", 17, 64, 64)), 64, 64)
    moving = dynamic_degree(gray(frames_of("moving", 17, 64, 64)), 64, 64)
    assert static == {"dynamic": False, "mean_top5_flow_px": 0.0, "moving_pairs": 0.0}
    assert moving["dynamic"] and moving["mean_top5_flow_px"] >= 3.0


def test_block_flow_finds_a_known_shift() -> None:
    rng = np.random.default_rng(0)
    image = rng.random((64, 64)).astype(np.float32) * 255
    shifted = np.roll(image, shift=(2, -3), axis=(0, 1))
    flow = block_flow(image, shifted, block=8, radius=4)
    inner = flow[1:-1, 1:-1].reshape(-1, 2)  # edge blocks see the wrap-around
    assert (inner == (2, -3)).all()


def test_motion_smoothness_smooth_motion_beats_noise() -> None:
    smooth = motion_smoothness(gray(frames_of("moving", 9, 64, 64)))
    noisy = motion_smoothness(gray(frames_of("noise", 9, 64, 64)))
    static = motion_smoothness(gray(frames_of("static", 9, 64, 64)))
    assert static["score"] == pytest.approx(1.0)
    assert smooth["score"] > 0.99 > 0.9 > noisy["score"]


def test_aggregate_means_and_counts() -> None:
    scorer = Scorer(EXPECTED)
    scores = [scorer.score(mp4_of(kind, 17, 64, 64, 16)) for kind in ("static", "moving")]
    scores.append(scorer.score(b"garbage"))
    agg = aggregate(scores)
    assert (
        agg["videos"] == 3
        and agg["hard_checks_passed"] == 2
        and agg["hard_check_failures"] == {"decodable": 1}
    )
    assert agg["dimensions"]["dynamic_degree"] == 0.5
    assert agg["dimensions_used"] == ["dynamic_degree", "motion_smoothness", "temporal_flickering"]
    assert agg["dimensions_skipped"] == ["subject_consistency", "background_consistency"]
    assert agg["mean"] == pytest.approx(np.mean(list(agg["dimensions"].values())))


def test_consistency_math() -> None:
    same = np.tile(np.array([[0.6, 0.8]]), (5, 1))
    assert consistency(same) == pytest.approx(1.0)
    alternating = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    assert consistency(alternating) == pytest.approx(0.25)  # ((0+0)/2 + (1+0)/2) / 2


def _tiny_clip(directory: Path) -> Path:
    from transformers import CLIPConfig, CLIPModel

    vision = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4,
              "image_size": 32, "patch_size": 8}  # fmt: skip
    text = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 1, "num_attention_heads": 4,
            "vocab_size": 99, "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1}  # fmt: skip
    config = CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)
    CLIPModel(config).save_pretrained(directory)
    return directory


def _tiny_vit(directory: Path) -> Path:
    from transformers import ViTConfig, ViTModel

    config = ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                       image_size=32, patch_size=8)  # fmt: skip
    ViTModel(config).save_pretrained(directory)
    return directory


def test_neural_consistency_from_local_weights(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    import torch

    torch.manual_seed(0)
    clip_dir, vit_dir = _tiny_clip(tmp_path / "clip"), _tiny_vit(tmp_path / "vit")
    features = FeatureModel(clip_dir).features(frames_of("moving", 5, 64, 64))
    assert features.shape == (5, 16)
    assert np.linalg.norm(features, axis=1) == pytest.approx(np.ones(5), abs=1e-5)
    scorer = Scorer.build(EXPECTED, dino_dir=str(vit_dir), clip_dir=str(clip_dir))
    static = scorer.score(mp4_of("static", 17, 64, 64, 16))["dimensions"]
    noisy = scorer.score(encode_mp4(frames_of("noise", 17, 64, 64), 16))["dimensions"]
    assert set(static) == {"subject_consistency", "background_consistency", "temporal_flickering",
                           "motion_smoothness", "dynamic_degree"}  # fmt: skip
    assert static["subject_consistency"] == pytest.approx(1.0, abs=1e-4)
    assert static["background_consistency"] == pytest.approx(1.0, abs=1e-4)
    assert noisy["subject_consistency"] < static["subject_consistency"]


def test_missing_weights_dir_is_a_clear_error(tmp_path: Path) -> None:
    from reelserve.core.errors import WeightsError

    with pytest.raises(WeightsError, match=r"no config\.json"):
        FeatureModel(tmp_path)
