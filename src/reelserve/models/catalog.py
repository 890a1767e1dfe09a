"""The model catalog: what each model variant is and costs, as the schedulers need it.

One entry per variant in ``catalog.json`` (task, family, native fps, max frames, resolutions, steps,
VAE compression, attention heads, memory, quality, and a per-step latency profile). ``reelserve
profile`` refits a profile from measurements on this machine's devices.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from reelserve.core.errors import InvalidInput, LimitExceeded, UnknownName

__all__ = ["LatencyProfile", "ModelCard", "get_card", "load_catalog", "nearest_frames", "validate_request"]


@dataclass(frozen=True, slots=True)
class LatencyProfile:
    """Per-step latency as a function of work: ``step_ms × (tokens/ref_tokens)^token_exponent ×
    batch^batch_exponent``, tokens = latent frames × (H/16) × (W/16)."""

    source: str
    device: str
    ref_width: int
    ref_height: int
    ref_frames: int
    step_ms: float
    token_exponent: float
    batch_exponent: float
    text_ms: float
    vae_decode_ms: float
    encode_ms_per_frame: float

    def tokens(self, width: int, height: int, frames: int) -> float:
        return ((frames - 1) // 4 + 1) * (height / 16) * (width / 16)

    def scale(self, width: int, height: int, frames: int) -> float:
        ref = self.tokens(self.ref_width, self.ref_height, self.ref_frames)
        return self.tokens(width, height, frames) / ref

    def step_seconds(self, width: int, height: int, frames: int, batch: int = 1) -> float:
        ratio = self.scale(width, height, frames) ** self.token_exponent
        return self.step_ms / 1000 * ratio * batch**self.batch_exponent

    def decode_seconds(self, width: int, height: int, frames: int, batch: int = 1) -> float:
        return self.vae_decode_ms / 1000 * self.scale(width, height, frames) * batch


@dataclass(frozen=True, slots=True)
class ModelCard:
    name: str
    task: str
    family: str
    adapter: str
    native_fps: int
    max_frames: int
    size_multiple: int
    resolutions: tuple[str, ...]
    default_steps: int
    min_steps: int
    vae_spatial: int
    vae_temporal: int
    latent_channels: int
    attention_heads: int
    params_b: float
    memory_gb: float
    quality_elo: float
    builtin: bool  #: built in code with random weights (no weights directory needed)
    weights_required: bool
    profile: LatencyProfile | None
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__slots__ if k not in ("profile", "extra")}
        out["resolutions"] = list(self.resolutions)
        out["profile"] = (
            None if self.profile is None else {k: getattr(self.profile, k) for k in self.profile.__slots__}
        )
        return out


def _card(raw: dict[str, Any]) -> ModelCard:
    prof = raw.get("profile")
    profile = None
    if prof:
        ref = prof["ref"]
        profile = LatencyProfile(
            source=prof["source"],
            device=prof["device"],
            ref_width=ref["width"],
            ref_height=ref["height"],
            ref_frames=ref["frames"],
            step_ms=prof["step_ms"],
            token_exponent=prof["token_exponent"],
            batch_exponent=prof["batch_exponent"],
            text_ms=prof["text_ms"],
            vae_decode_ms=prof["vae_decode_ms"],
            encode_ms_per_frame=prof["encode_ms_per_frame"],
        )
    known = {f for f in ModelCard.__slots__ if f not in ("profile", "extra")}
    fields = {k: v for k, v in raw.items() if k in known}
    fields["resolutions"] = tuple(fields["resolutions"])
    extra = {k: v for k, v in raw.items() if k not in known and k not in ("profile", "frame_rule", "patch")}
    return ModelCard(profile=profile, extra=extra, **fields)


@lru_cache(maxsize=1)
def load_catalog() -> dict[str, ModelCard]:
    """Every catalog entry by name (the packaged ``catalog.json``)."""
    text = resources.files("reelserve.models").joinpath("catalog.json").read_text()
    return {raw["name"]: _card(raw) for raw in json.loads(text)["models"]}


def get_card(name: str) -> ModelCard:
    catalog = load_catalog()
    if name not in catalog:
        raise UnknownName("model", name, list(catalog), param="model")
    return catalog[name]


def nearest_frames(card: ModelCard, seconds: float, fps: int | None = None) -> int:
    """The frame count the model accepts (4k+1) nearest to ``seconds`` at ``fps`` (default native)."""
    fps = fps or card.native_fps
    k = max(0, round((seconds * fps - 1) / card.vae_temporal))
    return k * card.vae_temporal + 1


#: Bounds a request may not cross whatever the model: protect the machine from absurd jobs.
MAX_SIDE = 4096
MAX_TOTAL_FRAMES = 20 * 81
MAX_STEPS = 1000


def validate_request(card: ModelCard, *, width: int, height: int, frames: int, steps: int) -> None:
    """Raise ``InvalidInput`` with a fix-it message when the model cannot take these settings.

    Clips longer than ``max_frames`` are allowed: they are generated as frame-range segments."""
    m = card.size_multiple
    for label, value in (("width", width), ("height", height)):
        if value <= 0 or value % m:
            fix = max(m, round(value / m) * m)
            raise InvalidInput(
                f"{label} {value} is not a positive multiple of {m} for {card.name}; try {fix}", param="size"
            )
        if value > MAX_SIDE:
            raise LimitExceeded(f"{label} {value} is over the limit of {MAX_SIDE}", param="size")
    t = card.vae_temporal
    if frames < 1 or (frames - 1) % t:
        lo = max(1, (frames - 1) // t * t + 1)
        raise InvalidInput(
            f"{card.name} takes frame counts of the form {t}k+1 (1, 5, 9, ..., 81); {frames} is not one — "
            f"try {lo} or {lo + t}",
            param="num_frames",
        )
    if frames > MAX_TOTAL_FRAMES:
        raise LimitExceeded(f"{frames} frames is over the limit of {MAX_TOTAL_FRAMES}", param="num_frames")
    if steps <= 0:
        raise InvalidInput(
            f"steps must be at least 1 (got {steps}); {card.name} defaults to {card.default_steps}",
            param="num_inference_steps",
        )
    if steps > MAX_STEPS:
        raise LimitExceeded(f"steps {steps} is over the limit of {MAX_STEPS}", param="num_inference_steps")
