"""What every understanding adapter shares: devices, image preprocessing, batching, weights directories.

An adapter is built one of two ways (the same split as the Wan adapter):

- ``Adapter.load(weights=None)`` builds its ``tiny-*`` model from a config in code with seeded random
  weights: real architecture, real compute, meaningless outputs — enough to test a serving system;
- ``Adapter.load(weights=DIR)`` loads real weights with ``from_pretrained(DIR)`` from a local directory
  (a ``save_pretrained`` layout: ``config.json`` + safetensors, plus a tokenizer where text is involved).

Preprocessing is our own numpy/torch code (resize + normalise): the ``transformers`` image processors
pull in torchvision, which breaks beside the pinned torch. The settings come from the directory's
``preprocessor_config.json`` when it has one.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from reelserve.core.errors import InvalidInput, ModelError, OutOfMemory, WeightsError

__all__ = [
    "CLIP_MEAN",
    "CLIP_STD",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ImageModel",
    "ImageSpec",
    "batches",
    "check_dir",
    "device_for",
    "guarded",
    "pooled",
    "seeded",
    "to_pixels",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

T = TypeVar("T")


def device_for(name: str | None = None) -> torch.device:
    """The device asked for, else ``cuda`` when present, else the CPU."""
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass(frozen=True, slots=True)
class ImageSpec:
    """How frames become a model's ``pixel_values``."""

    height: int
    width: int
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    @classmethod
    def from_dir(cls, path: Path, default: ImageSpec) -> ImageSpec:
        """Read ``preprocessor_config.json`` (size, image_mean, image_std) when present."""
        file = path / "preprocessor_config.json"
        if not file.is_file():
            return default
        try:
            cfg = json.loads(file.read_text())
        except ValueError as exc:
            raise WeightsError(f"{file} is not valid JSON ({exc}); the weights directory is corrupt") from exc
        size = cfg.get("crop_size") or cfg.get("size") or {}
        if isinstance(size, int):
            height = width = size
        else:
            edge = size.get("shortest_edge")
            height = int(size.get("height", edge or default.height))
            width = int(size.get("width", edge or default.width))
        mean = tuple(cfg.get("image_mean", default.mean))
        std = tuple(cfg.get("image_std", default.std))
        return cls(height, width, mean, std)  # type: ignore[arg-type]


def to_pixels(frames: np.ndarray, spec: ImageSpec, device: torch.device) -> torch.Tensor:
    """(N, H, W, 3) uint8 RGB → (N, 3, h, w) float32 normalised ``pixel_values`` on ``device``.

    Frames are resized straight to the model's size (no crop): a frame's whole content is analysed.
    """
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise InvalidInput(f"frames must be (N, H, W, 3) uint8 RGB, got {frames.shape} {frames.dtype}")
    x = torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2).float()
    if x.shape[-2:] != (spec.height, spec.width):
        x = torch.nn.functional.interpolate(
            x, size=(spec.height, spec.width), mode="bilinear", antialias=True, align_corners=False
        )
    mean = torch.tensor(spec.mean, device=device).view(1, 3, 1, 1) * 255.0
    std = torch.tensor(spec.std, device=device).view(1, 3, 1, 1) * 255.0
    return (x - mean) / std


def batches(count: int, batch_size: int) -> Iterator[slice]:
    """Slices of ``range(count)`` of at most ``batch_size`` items each."""
    if batch_size < 1:
        raise InvalidInput(f"batch size must be 1 or more, got {batch_size}", param="batch_size")
    for start in range(0, count, batch_size):
        yield slice(start, min(start + batch_size, count))


def check_dir(path: Path, what: str) -> None:
    """Raise ``WeightsError`` unless ``path`` looks like a ``save_pretrained`` directory."""
    if not path.is_dir():
        raise WeightsError(f"{what} weights directory {path} does not exist or is not a directory")
    if not (path / "config.json").is_file():
        raise WeightsError(
            f"{path} has no config.json: expected a transformers save_pretrained directory for {what}"
        )


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch for building a tiny model, restoring the global RNG afterwards."""
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        yield
    finally:
        torch.random.set_rng_state(state)


def guarded(what: str, device: torch.device, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` (a forward pass) in inference mode; device failures raise OutOfMemory/ModelError."""
    try:
        with torch.inference_mode():
            return fn(*args)
    except torch.OutOfMemoryError as exc:
        raise OutOfMemory(f"{what}: device {device} ran out of memory; lower --batch-size") from exc
    except RuntimeError as exc:
        raise ModelError(f"{what} failed: {exc}") from exc


def pooled(output: Any) -> torch.Tensor:
    """Features from ``get_image_features``/``get_text_features`` (a tensor, or an output's pooler)."""
    if isinstance(output, torch.Tensor):
        return output
    return output.pooler_output  # type: ignore[no-any-return]


class ImageModel:
    """What every image-model adapter holds: a loaded model in eval mode on one device, how frames
    are prepared for it, its batch size and the hash of its weights."""

    def __init__(
        self, name: str, model: Any, spec: ImageSpec, device: torch.device, batch_size: int, weights_hash: str
    ) -> None:
        self.name = name
        self.model = model.to(device).eval()
        self.spec = spec
        self.device = device
        self.batch_size = batch_size
        self.weights_hash = weights_hash
