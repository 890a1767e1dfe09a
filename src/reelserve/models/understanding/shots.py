"""Shot boundaries: PySceneDetect's content detector, or a small learned frame-pair scorer.

Both score every pair of consecutive frames (``pair_scores``: score i compares frame i-1 with frame i;
score 0 has no predecessor and is 0) and cut where the score reaches ``threshold``. Scoring pairs,
not whole clips, is what lets chunked and combined inference agree: the pipeline scores each chunk,
scores the pair across every chunk boundary, and applies the cut rule (`cut_indices`) once per video.

- ``content``: ``scenedetect.ContentDetector``'s frame score (mean HSV change, 0-255 scale,
  default threshold 27), computed for a run of frames at once (the same numbers, tested);
- ``learned``: ``ShotNet``, a transformers ``PreTrainedModel`` (a two-layer MLP over six pair
  features: mean absolute RGB change and 16-bin histogram change per channel) giving a cut
  probability. Trained weights load from a directory; the built-in ``tiny-shotnet`` is not random
  but initialised to a hand-set prior (sum of the features over 1.0 → cut), so it finds hard cuts.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import PretrainedConfig, PreTrainedModel

from reelserve.core.errors import InvalidInput, WeightsError
from reelserve.models.understanding.base import check_dir, device_for, guarded
from reelserve.models.understanding.registry import register
from reelserve.models.weights import hash_state_dicts, hash_weights_dir

__all__ = ["ContentShots", "LearnedShots", "ShotNet", "ShotNetConfig", "Shots", "cut_indices"]

DETECTORS = ("content", "learned")


def cut_indices(
    scores: np.ndarray, times: Sequence[float], threshold: float, min_scene_s: float
) -> list[int]:
    """Indices of frames that start a new shot: score ≥ threshold, and at least ``min_scene_s`` after
    the previous cut, the later of two close cuts being dropped (PySceneDetect's rule)."""
    cuts: list[int] = []
    last: float | None = None
    for i in map(int, np.flatnonzero(scores >= threshold)):
        if i == 0 or (last is not None and times[i] - last < min_scene_s - 1e-9):
            continue
        cuts.append(i)
        last = times[i]
    return cuts


class ContentShots:
    """PySceneDetect's ``ContentDetector`` score for each consecutive frame pair, computed for a whole
    run of frames at once.

    The score is PySceneDetect's with its default weights: the mean absolute change of hue,
    saturation and value (OpenCV's 8-bit HSV) between two frames, averaged over the three. Its own
    ``process_frame`` does that one frame at a time in Python, plus Canny edges whenever a stats
    manager records the score (edges weigh 0 by default); here one ``cvtColor`` converts every frame
    and one ``absdiff`` compares each with the next: the same numbers (tested against the library),
    20-30x cheaper (``benchmarks/shots_bench.py``).
    """

    name = "pyscenedetect-content"
    weights_hash = "none"

    def __init__(self, threshold: float = 27.0, min_scene_s: float = 0.4) -> None:
        self.threshold = threshold
        self.min_scene_s = min_scene_s

    def pair_scores(self, frames: np.ndarray) -> np.ndarray:
        import cv2

        n = len(frames)
        scores = np.zeros(n, np.float32)
        if n < 2:
            return scores
        _, h, w, _ = frames.shape
        # Frames stacked into one tall image: rows [h:] are frames 1..n-1, rows [:-h] frames 0..n-2.
        hsv = cv2.cvtColor(np.ascontiguousarray(frames).reshape(n * h, w, 3), cv2.COLOR_RGB2HSV)
        change = cv2.absdiff(hsv[h:], hsv[:-h]).reshape(n - 1, h * w * 3).sum(axis=1, dtype=np.int64)
        scores[1:] = change / (3.0 * h * w)
        return scores


class ShotNetConfig(PretrainedConfig):
    model_type = "reelserve-shotnet"

    def __init__(self, hidden: int = 8, bins: int = 16, **kwargs: Any) -> None:
        self.hidden = hidden
        self.bins = bins
        super().__init__(**kwargs)


class ShotNet(PreTrainedModel):
    """Cut probability for consecutive frame pairs from six cheap pair features."""

    config_class = ShotNetConfig
    base_model_prefix = "shotnet"

    def __init__(self, config: ShotNetConfig) -> None:
        super().__init__(config)
        self.hidden = torch.nn.Linear(6, config.hidden)
        self.out = torch.nn.Linear(config.hidden, 1)
        self.post_init()

    def features(self, frames: torch.Tensor) -> torch.Tensor:
        """(T, H, W, 3) uint8 → (T-1, 6) features of each pair (t-1, t), all in [0, 1]."""
        x = frames.permute(0, 3, 1, 2).reshape(frames.shape[0], 3, -1)
        mad = (x[1:].float() - x[:-1].float()).abs().mean(-1) / 255.0
        bins = (x.long() * self.config.bins) // 256
        hist = torch.zeros(x.shape[0], 3, self.config.bins, device=x.device)
        hist.scatter_add_(2, bins, torch.ones_like(bins, dtype=hist.dtype))
        hist /= x.shape[-1]
        hdiff = (hist[1:] - hist[:-1]).abs().sum(-1) / 2.0
        return torch.cat([mad, hdiff], dim=-1)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.out(torch.relu(self.hidden(self.features(frames))))).squeeze(-1)

    def set_prior(self, bias: float = 1.0, gain: float = 8.0) -> None:
        """Weights that score ``sigmoid(gain * (sum(features) - bias))``: a sensible untrained detector."""
        with torch.no_grad():
            self.hidden.weight.zero_()
            self.hidden.bias.zero_()
            self.hidden.weight[:6, :6] = torch.eye(6)
            self.out.weight.zero_()
            self.out.weight[0, :6] = gain
            self.out.bias.fill_(-gain * bias)


class LearnedShots:
    """``ShotNet`` on a device; scores are cut probabilities (threshold 0.5)."""

    def __init__(
        self,
        name: str,
        model: ShotNet,
        device: torch.device,
        weights_hash: str,
        threshold: float = 0.5,
        min_scene_s: float = 0.4,
    ) -> None:
        self.name = name
        self.model = model.to(device).eval()
        self.device = device
        self.weights_hash = weights_hash
        self.threshold = threshold
        self.min_scene_s = min_scene_s

    @classmethod
    def build(cls, weights: Path | None, device: str | None, min_scene_s: float) -> LearnedShots:
        dev = device_for(device)
        if weights is None:
            model = ShotNet(ShotNetConfig())
            model.set_prior()
            return cls("tiny-shotnet", model, dev, hash_state_dicts({"m": model}), min_scene_s=min_scene_s)
        check_dir(weights, "shots")
        try:
            model = ShotNet.from_pretrained(str(weights))
        except Exception as exc:  # transformers raises many types for a broken directory
            raise WeightsError(f"could not load ShotNet weights from {weights}: {exc}") from exc
        return cls(weights.name, model, dev, hash_weights_dir(weights), min_scene_s=min_scene_s)

    def save_pretrained(self, out: Path) -> None:
        self.model.save_pretrained(str(out))

    def pair_scores(self, frames: np.ndarray) -> np.ndarray:
        scores = np.zeros(len(frames), np.float32)
        if len(frames) > 1:
            x = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device)
            scores[1:] = guarded(self.name, self.device, self.model, x).float().cpu().numpy()
        return scores


@register("shots")
class Shots:
    """Factory for the shot task: ``load(detector="content"|"learned")``."""

    @classmethod
    def load(
        cls,
        weights: Path | None = None,
        device: str | None = None,
        batch_size: int = 8,
        detector: str = "content",
        min_scene_s: float = 0.4,
        **options: Any,
    ) -> ContentShots | LearnedShots:
        if options:
            raise InvalidInput(f"shots takes detector and min_scene_s, got {sorted(options)}")
        if detector == "content":
            return ContentShots(min_scene_s=min_scene_s)
        if detector == "learned":
            return LearnedShots.build(weights, device, min_scene_s)
        raise InvalidInput(
            f"unknown shot detector {detector!r}; valid: {', '.join(DETECTORS)}", param="detector"
        )
