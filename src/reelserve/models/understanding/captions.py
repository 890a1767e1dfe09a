"""Frame captions with a transformers vision-language model: ViT + GPT-2 (``VisionEncoderDecoderModel``)
or BLIP (``BlipForConditionalGeneration``).

Real weights: a local directory holding the model and its tokenizer (``save_pretrained`` of both);
``config.json``'s ``model_type`` picks the class. Built in: ``tiny-vit-gpt2``, a two-layer ViT and a
two-layer GPT-2 over the word vocabulary of ``text.py``; greedy decoding, so captions are deterministic.
"""

from __future__ import annotations

import json
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
    seeded,
    to_pixels,
)
from reelserve.models.understanding.registry import register
from reelserve.models.understanding.text import build_word_tokenizer
from reelserve.models.weights import hash_state_dicts, hash_weights_dir

__all__ = ["Captions", "tiny_captioner"]


def tiny_captioner(tokenizer: Any, seed: int = 19) -> Any:
    from transformers import GPT2Config, VisionEncoderDecoderConfig, VisionEncoderDecoderModel, ViTConfig

    encoder = ViTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
    )
    decoder = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=64,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        add_cross_attention=True,
        is_decoder=True,
    )
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    config.decoder_start_token_id = tokenizer.bos_token_id
    config.pad_token_id = tokenizer.pad_token_id
    config.eos_token_id = tokenizer.eos_token_id
    with seeded(seed):
        model = VisionEncoderDecoderModel(config=config).eval()
    model.generation_config.decoder_start_token_id = tokenizer.bos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    # Random weights (GPT-2 ties its output to its input embeddings) keep predicting the start token;
    # suppressing specials and repeats makes the tiny model emit varied words, i.e. searchable text.
    specials = [tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.unk_token_id]
    model.generation_config.suppress_tokens = specials
    model.generation_config.no_repeat_ngram_size = 1
    model.generation_config.min_new_tokens = 3
    return model


def _load_real(weights: Path) -> tuple[Any, Any]:
    from transformers import AutoTokenizer, BlipForConditionalGeneration, VisionEncoderDecoderModel

    kind = json.loads((weights / "config.json").read_text()).get("model_type")
    classes = {"vision-encoder-decoder": VisionEncoderDecoderModel, "blip": BlipForConditionalGeneration}
    if kind not in classes:
        raise WeightsError(
            f"{weights} holds a {kind!r} model; captions load {', '.join(sorted(classes))} directories"
        )
    try:
        return classes[kind].from_pretrained(str(weights)), AutoTokenizer.from_pretrained(str(weights))
    except Exception as exc:  # transformers raises many types for a broken directory
        raise WeightsError(f"could not load caption weights from {weights}: {exc}") from exc


@register("captions")
class Captions(ImageModel):
    """One caption per frame: ``["a dog on a beach", ...]``."""

    task = "captions"
    default_spec = ImageSpec(384, 384, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))

    def __init__(
        self,
        name: str,
        model: Any,
        tokenizer: Any,
        spec: ImageSpec,
        device: torch.device,
        batch_size: int,
        weights_hash: str,
        max_new_tokens: int,
    ) -> None:
        super().__init__(name, model, spec, device, batch_size, weights_hash)
        self.tokenizer = tokenizer
        self.max_new_tokens = max_new_tokens

    @classmethod
    def load(
        cls,
        weights: Path | None = None,
        device: str | None = None,
        batch_size: int = 8,
        max_new_tokens: int = 12,
        **options: Any,
    ) -> Captions:
        if options:
            raise InvalidInput(f"captions takes only max_new_tokens, got {sorted(options)}")
        dev = device_for(device)
        if weights is None:
            tokenizer = build_word_tokenizer()
            model = tiny_captioner(tokenizer)
            spec = ImageSpec(32, 32, CLIP_MEAN, CLIP_STD)
            digest = hash_state_dicts({"m": model})
            return cls("tiny-vit-gpt2", model, tokenizer, spec, dev, batch_size, digest, max_new_tokens)
        check_dir(weights, "captions")
        model, tokenizer = _load_real(weights)
        spec = ImageSpec.from_dir(weights, cls.default_spec)
        return cls(
            weights.name, model, tokenizer, spec, dev, batch_size, hash_weights_dir(weights), max_new_tokens
        )

    def save_pretrained(self, out: Path) -> None:
        self.model.save_pretrained(str(out))
        self.tokenizer.save_pretrained(str(out))

    def _generate(self, pixels: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.model.generate(
            pixel_values=pixels, max_new_tokens=self.max_new_tokens, do_sample=False, num_beams=1
        )
        return out

    def infer(self, frames: np.ndarray) -> list[str]:
        out: list[str] = []
        for part in batches(len(frames), self.batch_size):
            pixels = to_pixels(frames[part], self.spec, self.device)
            ids = guarded(self.name, self.device, self._generate, pixels)
            texts = self.tokenizer.batch_decode(ids, skip_special_tokens=True)
            out.extend(" ".join(t.split()) for t in texts)
        return out
