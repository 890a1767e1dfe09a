"""Image and text embeddings in one space (CLIP or SigLIP), for search by text and by example.

Real weights: a local CLIP or SigLIP directory with its tokenizer (``AutoModel`` +
``AutoTokenizer``). Built in: ``tiny-clip`` (one-layer towers, 32-dim space) over the word
vocabulary of ``text.py``. Vectors are float32 and L2-normalised, so a dot product is the cosine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from reelserve.core.errors import InvalidInput, WeightsError
from reelserve.models.understanding.base import (
    CLIP_MEAN,
    CLIP_STD,
    ImageModel,
    ImageSpec,
    batches,
    check_dir,
    device_for,
    guarded,
    pooled,
    seeded,
    to_pixels,
)
from reelserve.models.understanding.registry import register
from reelserve.models.understanding.text import build_word_tokenizer
from reelserve.models.weights import hash_state_dicts, hash_weights_dir

__all__ = ["Embeddings", "tiny_clip"]


def tiny_clip(tokenizer: Any, seed: int = 23) -> Any:
    from transformers import CLIPConfig, CLIPModel

    config = CLIPConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "max_position_embeddings": 32,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 8,
        },
        projection_dim=32,
    )
    with seeded(seed):
        return CLIPModel(config).eval()


def _normalise(x: torch.Tensor) -> np.ndarray:
    return torch.nn.functional.normalize(x.float(), dim=-1).cpu().numpy().astype(np.float32)


@register("embed")
class Embeddings(ImageModel):
    """``infer(frames)`` → (N, D) float32 unit vectors; ``embed_text(texts)`` → (M, D) in the same space."""

    task = "embed"
    default_spec = ImageSpec(224, 224, CLIP_MEAN, CLIP_STD)

    def __init__(
        self,
        name: str,
        model: Any,
        tokenizer: Any,
        spec: ImageSpec,
        device: torch.device,
        batch_size: int,
        weights_hash: str,
    ) -> None:
        super().__init__(name, model, spec, device, batch_size, weights_hash)
        self.tokenizer = tokenizer

    @classmethod
    def load(
        cls, weights: Path | None = None, device: str | None = None, batch_size: int = 8, **options: Any
    ) -> Embeddings:
        if options:
            raise InvalidInput(f"embed takes no options, got {sorted(options)}")
        dev = device_for(device)
        if weights is None:
            tokenizer = build_word_tokenizer()
            model = tiny_clip(tokenizer)
            spec = ImageSpec(32, 32, CLIP_MEAN, CLIP_STD)
            return cls("tiny-clip", model, tokenizer, spec, dev, batch_size, hash_state_dicts({"m": model}))
        check_dir(weights, "embed")
        from transformers import AutoModel, AutoTokenizer

        try:
            model, tokenizer = (
                AutoModel.from_pretrained(str(weights)),
                AutoTokenizer.from_pretrained(str(weights)),
            )
        except Exception as exc:  # transformers raises many types for a broken directory
            raise WeightsError(f"could not load embedding weights from {weights}: {exc}") from exc
        if not hasattr(model, "get_image_features") or not hasattr(model, "get_text_features"):
            raise WeightsError(f"{weights} is not a CLIP-style model (no image and text towers)")
        spec = ImageSpec.from_dir(weights, cls.default_spec)
        return cls(weights.name, model, tokenizer, spec, dev, batch_size, hash_weights_dir(weights))

    @property
    def dim(self) -> int:
        return int(self.model.config.projection_dim)

    def save_pretrained(self, out: Path) -> None:
        self.model.save_pretrained(str(out))
        self.tokenizer.save_pretrained(str(out))

    def _image_features(self, pixels: torch.Tensor) -> torch.Tensor:
        return pooled(self.model.get_image_features(pixel_values=pixels))

    def infer(self, frames: np.ndarray) -> np.ndarray:
        parts = []
        for part in batches(len(frames), self.batch_size):
            pixels = to_pixels(frames[part], self.spec, self.device)
            feats = guarded(self.name, self.device, self._image_features, pixels)
            parts.append(_normalise(feats))
        return np.concatenate(parts) if parts else np.zeros((0, self.dim), np.float32)

    def embed_text(self, texts: list[str]) -> np.ndarray:
        """Text queries as unit vectors in the image space (padding="max_length" suits SigLIP too)."""
        tokens = self.tokenizer(
            texts,
            padding="max_length",
            truncation=True,
            return_tensors="pt",
            max_length=min(64, self.tokenizer.model_max_length),
        )
        tokens = {k: v.to(self.device) for k, v in tokens.items() if k in ("input_ids", "attention_mask")}
        feats = guarded(self.name, self.device, lambda: pooled(self.model.get_text_features(**tokens)))
        return _normalise(feats)
