"""Object detection per frame with DETR (transformers ``DetrForObjectDetection``, ResNet backbone).

Real weights: a DETR directory whose backbone is a transformers ResNet (``backbone_config``), since
timm does not import beside the pinned torch. Built in: ``tiny-detr`` (a two-stage ResNet backbone,
one encoder and one decoder layer, 10 queries). Boxes are ``[x0, y0, x1, y1]`` as fractions of the
frame's width and height, so they hold at any decode size.
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
from reelserve.models.understanding.classify import LABELS
from reelserve.models.understanding.registry import register
from reelserve.models.weights import hash_state_dicts, hash_weights_dir

__all__ = ["Objects", "tiny_detr"]


def tiny_detr(labels: tuple[str, ...] = LABELS, seed: int = 17) -> Any:
    from transformers import DetrConfig, DetrForObjectDetection, ResNetConfig

    backbone = ResNetConfig(
        embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic", out_features=["stage2"]
    )
    config = DetrConfig(
        backbone_config=backbone,
        num_queries=10,
        encoder_layers=1,
        decoder_layers=1,
        d_model=16,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
    )
    with seeded(seed):
        return DetrForObjectDetection(config).eval()


@register("objects")
class Objects(ImageModel):
    """Detections per frame: ``[[{"label", "score", "box": [x0, y0, x1, y1]}, ...], ...]``."""

    task = "objects"
    #: DETR's usual evaluation size is 800 on the short side; 512 keeps CPU cost sane.
    default_spec = ImageSpec(512, 512)

    def __init__(
        self,
        name: str,
        model: Any,
        spec: ImageSpec,
        device: torch.device,
        batch_size: int,
        weights_hash: str,
        threshold: float,
    ) -> None:
        super().__init__(name, model, spec, device, batch_size, weights_hash)
        self.threshold = threshold
        self.labels = [self.model.config.id2label[i] for i in range(self.model.config.num_labels)]

    @classmethod
    def load(
        cls,
        weights: Path | None = None,
        device: str | None = None,
        batch_size: int = 8,
        threshold: float = 0.5,
        **options: Any,
    ) -> Objects:
        if options:
            raise InvalidInput(f"objects takes only threshold, got {sorted(options)}")
        dev = device_for(device)
        if weights is None:
            # Random weights give near-uniform class scores; a low threshold keeps outputs non-empty.
            model = tiny_detr()
            digest = hash_state_dicts({"m": model})
            return cls("tiny-detr", model, ImageSpec(64, 64), dev, batch_size, digest, min(threshold, 0.05))
        check_dir(weights, "objects")
        from transformers import DetrForObjectDetection

        try:
            model = DetrForObjectDetection.from_pretrained(str(weights))
        except Exception as exc:  # transformers raises many types for a broken directory
            raise WeightsError(f"could not load DETR weights from {weights}: {exc}") from exc
        spec = ImageSpec.from_dir(weights, cls.default_spec)
        return cls(weights.name, model, spec, dev, batch_size, hash_weights_dir(weights), threshold)

    def save_pretrained(self, out: Path) -> None:
        self.model.save_pretrained(str(out))

    def infer(self, frames: np.ndarray) -> list[list[dict[str, Any]]]:
        out: list[list[dict[str, Any]]] = []
        for part in batches(len(frames), self.batch_size):
            pixels = to_pixels(frames[part], self.spec, self.device)
            result = guarded(self.name, self.device, self.model, pixels)
            # The last class is DETR's "no object"; a query's score is its best real class.
            probs = result.logits.softmax(-1)[..., :-1].float().cpu().numpy()
            boxes = result.pred_boxes.float().cpu().numpy()
            out.extend(self._decode(p, b) for p, b in zip(probs, boxes, strict=True))
        return out

    def _decode(self, probs: np.ndarray, boxes: np.ndarray) -> list[dict[str, Any]]:
        found = []
        for query in np.argsort(-probs.max(-1), kind="stable"):
            cls_id = int(probs[query].argmax())
            score = float(probs[query, cls_id])
            if score < self.threshold:
                break
            cx, cy, w, h = (float(v) for v in boxes[query])
            box = [max(0.0, cx - w / 2), max(0.0, cy - h / 2), min(1.0, cx + w / 2), min(1.0, cy + h / 2)]
            found.append(
                {"label": self.labels[cls_id], "score": round(score, 5), "box": [round(v, 4) for v in box]}
            )
        return found
