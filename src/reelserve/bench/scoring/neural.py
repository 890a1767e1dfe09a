"""Subject and background consistency from image features, with weights from a local directory only.

VBench uses DINO features for subject consistency and CLIP features for background consistency; the
score of a video is the mean over frames i > 0 of (cos(f_i, f_0) + cos(f_i, f_{i-1})) / 2. Any
``transformers`` vision model saved with ``save_pretrained`` works: CLIP-like models through
``get_image_features``, others (DINO/ViT) through their pooled output or CLS token. Nothing is fetched
from a hub: a directory that is missing or unreadable raises :class:`WeightsError`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from reelserve.core.errors import WeightsError

__all__ = ["FeatureModel", "consistency"]

_CLIP_MEAN, _CLIP_STD = (0.4815, 0.4578, 0.4082), (0.2686, 0.2613, 0.2758)
_IMAGENET_MEAN, _IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class FeatureModel:
    """A frozen image encoder loaded from ``local_dir`` (CPU, eval mode)."""

    def __init__(self, local_dir: str | Path) -> None:
        import torch
        from transformers import AutoConfig, AutoModel

        path = Path(local_dir)
        if not (path / "config.json").is_file():
            raise WeightsError(f"{path} has no config.json: give a directory written by save_pretrained")
        try:
            config = AutoConfig.from_pretrained(path, local_files_only=True)
            self.model: Any = AutoModel.from_pretrained(path, local_files_only=True).eval()
        except (OSError, ValueError) as exc:
            raise WeightsError(f"cannot load image features from {path}: {exc}") from None
        vision = getattr(config, "vision_config", config)
        self.image_size = int(getattr(vision, "image_size", 224))
        self.is_clip = hasattr(self.model, "get_image_features")
        self.mean, self.std = _normalization(path, self.is_clip)
        self._torch = torch

    def features(self, frames: np.ndarray, batch: int = 16) -> np.ndarray:
        """T×H×W×3 uint8 → T×D L2-normalised features."""
        torch = self._torch
        out = []
        with torch.inference_mode():
            for start in range(0, len(frames), batch):
                pixels = torch.from_numpy(frames[start : start + batch]).permute(0, 3, 1, 2).float() / 255.0
                pixels = torch.nn.functional.interpolate(
                    pixels, size=(self.image_size, self.image_size), mode="bilinear", antialias=True
                )
                pixels = (pixels - torch.tensor(self.mean).view(1, 3, 1, 1)) / torch.tensor(self.std).view(
                    1, 3, 1, 1
                )
                out.append(self._embed(pixels))
        feats = torch.cat(out).float()
        return torch.nn.functional.normalize(feats, dim=-1).numpy()

    def _embed(self, pixels: Any) -> Any:
        if self.is_clip:
            result = self.model.get_image_features(pixel_values=pixels)
            return result if isinstance(result, self._torch.Tensor) else result.pooler_output
        result = self.model(pixel_values=pixels)
        pooled = getattr(result, "pooler_output", None)
        return pooled if pooled is not None else result.last_hidden_state[:, 0]


def consistency(features: np.ndarray) -> float:
    """VBench's consistency of T×D unit features: mean of (sim to first + sim to previous) / 2."""
    if len(features) < 2:
        return 1.0
    to_first = features[1:] @ features[0]
    to_prev = np.sum(features[1:] * features[:-1], axis=1)
    return float(np.mean((to_first + to_prev) / 2))


def _normalization(path: Path, is_clip: bool) -> tuple[tuple[float, ...], tuple[float, ...]]:
    processor = path / "preprocessor_config.json"
    if processor.is_file():
        data = json.loads(processor.read_text())
        if "image_mean" in data and "image_std" in data:
            return tuple(data["image_mean"]), tuple(data["image_std"])
    return (_CLIP_MEAN, _CLIP_STD) if is_clip else (_IMAGENET_MEAN, _IMAGENET_STD)
