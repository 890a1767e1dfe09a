"""Every task's adapter with its tiny model: outputs, batching, loading real weights from a directory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reelserve.core.errors import InvalidInput, UnknownName, WeightsError
from reelserve.models.understanding import load_task, task_names
from reelserve.models.understanding.base import ImageSpec, to_pixels
from tests.understanding.videos import scene_frames

FRAMES = scene_frames(5, (2, 4), 64, 48)
FRAME_TASKS = ("labels", "objects", "captions", "embed", "moderation")


def test_registry_lists_tasks_and_rejects_unknown() -> None:
    assert set(task_names()) == {"shots", *FRAME_TASKS}
    with pytest.raises(UnknownName, match="valid tasks: captions, embed"):
        load_task("ocr")


def test_labels_top_k() -> None:
    out = load_task("labels").infer(FRAMES)
    assert len(out) == 5 and all(len(row) == 3 for row in out)
    assert all(row[0]["score"] >= row[1]["score"] >= row[2]["score"] for row in out)


def test_objects_boxes_are_fractions() -> None:
    out = load_task("objects").infer(FRAMES)
    assert len(out) == 5
    boxes = [d["box"] for row in out for d in row]
    assert boxes and all(0 <= x0 <= x1 <= 1 and 0 <= y0 <= y1 <= 1 for x0, y0, x1, y1 in boxes)


def test_captions_are_words() -> None:
    out = load_task("captions").infer(FRAMES)
    assert len(out) == 5 and all(isinstance(c, str) and c.split() for c in out)


def test_embeddings_are_unit_vectors_in_one_space() -> None:
    model = load_task("embed")
    img, txt = model.infer(FRAMES), model.embed_text(["a red car", "a dog on a beach"])
    assert img.shape == (5, model.dim) and txt.shape == (2, model.dim) and img.dtype == np.float32
    assert np.allclose(np.linalg.norm(img, axis=1), 1, atol=1e-5)


def test_moderation_flags() -> None:
    out = load_task("moderation").infer(FRAMES)
    assert all(set(row) == {"flagged", "labels"} and row["flagged"] == bool(row["labels"]) for row in out)
    assert all(item["label"] != "safe" for row in out for item in row["labels"])


@pytest.mark.parametrize("task", ["labels", "embed", "captions", "objects"])
def test_batch_size_does_not_change_results(task: str) -> None:
    one, four = load_task(task, batch_size=1).infer(FRAMES), load_task(task, batch_size=4).infer(FRAMES)
    if task == "embed":
        assert np.allclose(one, four, atol=1e-5)
    elif task == "captions":
        assert one == four
    else:
        assert [[d["label"] for d in r] for r in one] == [[d["label"] for d in r] for r in four]


@pytest.mark.parametrize("task", FRAME_TASKS)
def test_real_weights_load_from_a_directory(task: str, tmp_path: Path) -> None:
    built = load_task(task)
    built.save_pretrained(tmp_path / task)
    loaded = load_task(task, tmp_path / task)
    assert loaded.name == task and loaded.weights_hash != built.weights_hash
    loaded.spec = built.spec  # a bare directory gets the full-size default preprocessing
    if task == "objects":
        loaded.threshold = built.threshold  # the tiny model's low threshold suits its random weights
    a, b = built.infer(FRAMES), loaded.infer(FRAMES)
    if task == "embed":
        assert np.allclose(a, b, atol=1e-5)
    else:
        assert a == b


def test_weights_errors_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="does not exist"):
        load_task("labels", tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(WeightsError, match=r"no config\.json"):
        load_task("labels", tmp_path / "empty")


def test_preprocessing_resizes_and_normalises() -> None:
    spec = ImageSpec(8, 8, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    grey = np.full((2, 48, 64, 3), 255, np.uint8)
    pixels = to_pixels(grey, spec, load_task("labels").device)
    assert tuple(pixels.shape) == (2, 3, 8, 8) and float(pixels.min()) == pytest.approx(1.0)
    with pytest.raises(InvalidInput):
        to_pixels(grey[0], spec, load_task("labels").device)
