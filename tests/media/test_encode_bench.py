"""The encode benchmark runs end to end on a tiny clip (figures are not asserted: this machine is shared)."""

from __future__ import annotations

import shutil

import pytest
from benchmarks import encode_bench


def test_benchmark_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "--frames",
        "4",
        "--size",
        "64x48",
        "--repeats",
        "1",
        "--preset",
        "ultrafast",
        "--without-diffusers",
    ]
    fps = encode_bench.main([*args, "--frame-paths"])
    expected = {"ours", "pyav from_ndarray", "pyav from_numpy_buffer", "pyav reformat"}
    if shutil.which("ffmpeg"):
        expected.add("ffmpeg CLI")
    assert set(fps) == expected and all(value > 0 for value in fps.values())
    assert "ours" in capsys.readouterr().out


def test_gradient_clip_is_seeded_and_moving() -> None:
    a, b = encode_bench.gradient_clip(3, 32, 16, seed=1), encode_bench.gradient_clip(3, 32, 16, seed=1)
    assert a.shape == (3, 16, 32, 3) and a.dtype.name == "uint8"
    assert (a == b).all() and (a[0] != a[1]).any()


def test_several_shapes_print_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--shapes", "32x32x3,64x32x5", "--repeats", "1", "--preset", "ultrafast", "--without-diffusers"]
    fps = encode_bench.main(args)
    out = capsys.readouterr().out
    assert "5 frames 64x32" in out and "3 frames 32x32" in out and fps["ours"] > 0
    if shutil.which("ffmpeg"):
        assert "summary" in out and "64x32x5" in out


def test_a_malformed_shape_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        encode_bench.main(["--shapes", "256x256", "--without-diffusers"])
    assert exc.value.code == 2 and "WIDTHxHEIGHTxFRAMES" in capsys.readouterr().err
