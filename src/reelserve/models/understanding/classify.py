"""Frame classification: ``labels`` (top-k classes) and ``moderation`` (flags over a threshold).

Real weights: any ``AutoModelForImageClassification`` directory (ResNet, ViT, ConvNeXt, ...); for
moderation a multi-label head (``problem_type="multi_label_classification"``, sigmoid scores) or a
single-label one (softmax) whose labels name the flagged categories, with ``safe``/``normal`` as the
clean class. Built in: ``tiny-resnet`` and ``tiny-moderation``, transformers ``ResNetForImageClassification``
at a few thousand parameters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from reelserve.core.errors import InvalidInput, WeightsError
from reelserve.models.understanding.base import (
    ImageModel,
    ImageSpec,
    batches,
    check_dir,
    device_for,
    guarded,
    seeded,
    to_pixels,
)
from reelserve.models.understanding.registry import register
from reelserve.models.weights import hash_state_dicts, hash_weights_dir

__all__ = ["LABELS", "MODERATION_LABELS", "Classifier", "Labels", "Moderation", "tiny_resnet"]

#: Classes of the built-in ``tiny-resnet`` (random weights: which one wins is arbitrary but stable).
LABELS = (
    "beach", "city street", "forest", "kitchen", "office", "stadium", "concert", "road", "ocean",
    "mountain", "dog", "cat", "car", "person", "crowd", "night sky", "snow", "desert", "river", "stage",
)  # fmt: skip
#: Classes of the built-in ``tiny-moderation``; "safe" is the clean class and never flags.
MODERATION_LABELS = ("safe", "nudity", "violence", "weapons", "drugs", "self-harm")
_CLEAN = frozenset({"safe", "normal", "sfw", "neutral"})


def tiny_resnet(labels: tuple[str, ...], seed: int, multi_label: bool = False) -> Any:
    """A ResNet classifier from a config in code (two small stages), seeded random weights."""
    from transformers import ResNetConfig, ResNetForImageClassification

    config = ResNetConfig(
        embedding_size=8,
        hidden_sizes=[8, 16],
        depths=[1, 1],
        layer_type="basic",
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
        problem_type="multi_label_classification" if multi_label else "single_label_classification",
    )
    with seeded(seed):
        return ResNetForImageClassification(config).eval()


class Classifier(ImageModel):
    """An image classifier on one device; ``scores(frames)`` → (N, classes) probabilities."""

    task = "classify"
    default_spec = ImageSpec(224, 224)

    def __init__(
        self,
        name: str,
        model: Any,
        spec: ImageSpec,
        device: torch.device,
        batch_size: int,
        weights_hash: str,
    ) -> None:
        super().__init__(name, model, spec, device, batch_size, weights_hash)
        self.labels = [self.model.config.id2label[i] for i in range(self.model.config.num_labels)]
        self.multi_label = self.model.config.problem_type == "multi_label_classification"

    @classmethod
    def build_tiny(cls) -> Any:
        return tiny_resnet(LABELS, seed=11)

    @classmethod
    def load(
        cls, weights: Path | None = None, device: str | None = None, batch_size: int = 8, **options: Any
    ) -> Classifier:
        dev = device_for(device)
        if options:
            raise InvalidInput(f"{cls.task} takes no options, got {sorted(options)}")
        if weights is None:
            model = cls.build_tiny()
            digest = hash_state_dicts({"m": model})
            return cls(f"tiny-{cls.task}", model, ImageSpec(64, 64), dev, batch_size, digest)
        check_dir(weights, cls.task)
        from transformers import AutoModelForImageClassification

        try:
            model = AutoModelForImageClassification.from_pretrained(str(weights))
        except Exception as exc:  # transformers raises many types for a broken directory
            raise WeightsError(f"could not load {cls.task} weights from {weights}: {exc}") from exc
        spec = ImageSpec.from_dir(weights, cls.default_spec)
        return cls(weights.name, model, spec, dev, batch_size, hash_weights_dir(weights))

    def save_pretrained(self, out: Path) -> None:
        self.model.save_pretrained(str(out))

    def _logits(self, pixels: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.model(pixel_values=pixels).logits
        return out

    def scores(self, frames: np.ndarray) -> np.ndarray:
        """Class probabilities per frame, computed in batches of ``batch_size``."""
        parts = []
        for part in batches(len(frames), self.batch_size):
            pixels = to_pixels(frames[part], self.spec, self.device)
            logits = guarded(self.name, self.device, self._logits, pixels)
            probs = logits.sigmoid() if self.multi_label else logits.softmax(-1)
            parts.append(probs.float().cpu().numpy())
        return np.concatenate(parts) if parts else np.zeros((0, len(self.labels)), np.float32)


@register("labels")
class Labels(Classifier):
    """Top-k labels per frame: ``[[{"label", "score"}, ...], ...]``."""

    task = "labels"
    top_k = 3

    def infer(self, frames: np.ndarray) -> list[list[dict[str, Any]]]:
        out = []
        for row in self.scores(frames):
            best = np.argsort(-row, kind="stable")[: self.top_k]
            out.append([{"label": self.labels[i], "score": round(float(row[i]), 5)} for i in best])
        return out


@register("moderation")
class Moderation(Classifier):
    """Moderation flags per frame: ``{"flagged", "labels": [{"label", "score"}]}`` over ``threshold``."""

    task = "moderation"
    threshold = 0.5

    @classmethod
    def build_tiny(cls) -> Any:
        return tiny_resnet(MODERATION_LABELS, seed=13, multi_label=True)

    def infer(self, frames: np.ndarray) -> list[dict[str, Any]]:
        out = []
        for row in self.scores(frames):
            hits = [
                {"label": self.labels[i], "score": round(float(row[i]), 5)}
                for i in np.argsort(-row, kind="stable")
                if row[i] >= self.threshold and self.labels[i].lower() not in _CLEAN
            ]
            out.append({"flagged": bool(hits), "labels": hits})
        return out
