from __future__ import annotations

from pathlib import Path

import pytest

from reelserve.bench.config import Api, Delivery, Mode
from reelserve.core.errors import WeightsError

from .fake_server import FakeSettings
from .helpers import read_jsonl, run, small


def test_accuracy_mode_saves_and_scores_every_video(server: str, tmp_path: Path) -> None:
    summary = run(small(server, tmp_path, api=Api.SYNC, mode=Mode.ACCURACY, accuracy_queries=3))
    assert "performance" not in summary
    acc = summary["accuracy"]
    assert (acc["queries"], acc["completed"]) == (3, 3)
    assert acc["scores"]["videos"] == 3 and acc["scores"]["hard_checks_passed"] == 3
    assert 0 < acc["scores"]["mean"] <= 1
    assert len(list((tmp_path / "videos").glob("accuracy-*.mp4"))) == 3
    per_video = read_jsonl(tmp_path / "accuracy_per_video.jsonl")
    assert [row["hard"]["passed"] for row in per_video] == [True] * 3


def test_wrong_frame_count_is_caught(server: str, settings: FakeSettings, tmp_path: Path) -> None:
    settings.frames_delta = -2
    acc = run(small(server, tmp_path, api=Api.MLCOMMONS, mode=Mode.ACCURACY, accuracy_queries=2))["accuracy"]
    assert acc["scores"]["hard_checks_passed"] == 0
    assert acc["scores"]["hard_check_failures"] == {"frames": 2}


def test_raw_frames_are_encoded_client_side_for_scoring(server: str, tmp_path: Path) -> None:
    cfg = small(server, tmp_path, api=Api.OPENAI, mode=Mode.BOTH, queries=2, accuracy_queries=2,
                delivery=(Delivery.RAW,))  # fmt: skip
    summary = run(cfg)
    assert summary["performance"]["completed"] == 2
    assert summary["performance"]["bytes_received"]["per_video_mean"] == 9 * 64 * 64 * 3
    acc = summary["accuracy"]
    assert acc["scores"]["hard_checks_passed"] == 2 and acc["client_encode_s_mean"] > 0


def test_a_server_that_ignores_raw_delivery_fails_each_query_clearly(
    server: str, settings: FakeSettings, tmp_path: Path
) -> None:
    settings.sync_raw = False  # answers delivery=raw with its MP4, as reelserve's sync route does
    cfg = small(server, tmp_path, api=Api.SYNC, mode=Mode.BOTH, queries=2, accuracy_queries=2,
                delivery=(Delivery.RAW,))  # fmt: skip
    summary = run(cfg)
    for phase in (summary["performance"], summary["accuracy"]):
        assert (phase["completed"], phase["failed"]) == (0, 2)
        [(error, count)] = phase["errors"].items()
        assert count == 2 and "no raw frames on this route" in error and "--api openai" in error


def test_reference_delivery_fetches_the_video_outside_the_measured_time(server: str, tmp_path: Path) -> None:
    cfg = small(server, tmp_path, api=Api.MLCOMMONS, mode=Mode.ACCURACY, accuracy_queries=2,
                delivery=(Delivery.REFERENCE,))  # fmt: skip
    acc = run(cfg)["accuracy"]
    assert acc["scores"]["hard_checks_passed"] == 2
    assert acc["bytes_received"]["per_video_mean"] < 400  # only the JSON with the path moved


def test_openai_reference_delivery_in_accuracy_mode(server: str, tmp_path: Path) -> None:
    cfg = small(server, tmp_path, api=Api.OPENAI, mode=Mode.ACCURACY, accuracy_queries=2,
                delivery=(Delivery.REFERENCE,))  # fmt: skip
    acc = run(cfg)["accuracy"]
    assert acc["completed"] == 2 and acc["scores"]["hard_checks_passed"] == 2
    assert acc["bytes_received"]["per_video_mean"] < 400 < acc["video_size_mean"]


def test_bad_weights_dir_fails_before_any_load(server: str, settings: FakeSettings, tmp_path: Path) -> None:
    settings.model_delay_s = 5.0  # would make the test slow if a single query ran
    cfg = small(server, tmp_path, mode=Mode.ACCURACY, dino_weights=str(tmp_path / "nowhere"))
    with pytest.raises(WeightsError, match="no config"):
        run(cfg)
