"""What a streaming session is: its settings (validated once, at creation) and per-chunk records.

Every chunk emits exactly ``chunk_frames`` new frames (a multiple of the VAE's temporal factor, 4).
The model generates ``chunk_frames + 1`` frames per chunk (its 4k+1 rule): chunk k ≥ 1 pins its first
latent frame to chunk k−1's last one and drops the overlapping first decoded frame; chunk 0 drops its
first frame too, so every chunk has the same length and the stream one uniform timeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from reelserve.core.errors import InvalidInput, LimitExceeded

__all__ = ["MAX_CHUNK_FRAMES", "ChunkRecord", "SessionSpec", "chunk_seed"]

MAX_CHUNK_FRAMES = 80
MAX_CHUNKS = 100_000


def chunk_seed(seed: int, index: int) -> int:
    """Chunk 0 uses the session's seed; each later chunk its own, derived deterministically."""
    return seed + 1_000_003 * index


@dataclass(frozen=True, slots=True)
class SessionSpec:
    """A session's settings; ``prompt`` is the initial prompt (clients may change it between chunks)."""

    prompt: str
    model: str = "tiny-wan"
    width: int = 64
    height: int = 64
    chunk_frames: int = 8  #: new frames per chunk (multiple of 4)
    max_chunks: int | None = None  #: the session ends after this many chunks; None = until closed
    fps: int = 16
    deadline_ms: float = 2000.0  #: each chunk is due this long after it was requested
    steps: int = 2
    seed: int = 0
    guidance_scale: float = 1.0
    negative_prompt: str = ""
    quality: str = "best_effort"  #: best_effort | adaptive | strict (``engine.quality``)
    min_steps: int = 1  #: adaptive quality never goes below this many steps

    @property
    def gen_frames(self) -> int:
        """Frames the model generates per chunk (4k+1)."""
        return self.chunk_frames + 1

    @property
    def batch_key(self) -> tuple[str, int, int, int, int]:
        return (self.model, self.width, self.height, self.gen_frames, self.steps)

    def with_prompt(self, prompt: str) -> SessionSpec:
        return replace(self, prompt=prompt)

    def validate(self) -> SessionSpec:
        """Raise ``InvalidInput`` with a fix-it message; return self for chaining."""
        from reelserve.models.catalog import get_card, validate_request

        if not self.prompt.strip():
            raise InvalidInput("prompt must not be empty", param="prompt")
        card = get_card(self.model)
        t = card.vae_temporal
        if self.chunk_frames < t or self.chunk_frames % t:
            fix = max(t, round(self.chunk_frames / t) * t)
            raise InvalidInput(
                f"chunk_frames must be a positive multiple of {t} (got {self.chunk_frames}); try {fix}",
                param="chunk_frames",
            )
        if self.chunk_frames > MAX_CHUNK_FRAMES:
            raise LimitExceeded(f"chunk_frames is over the limit of {MAX_CHUNK_FRAMES}", param="chunk_frames")
        validate_request(card, width=self.width, height=self.height, frames=self.gen_frames, steps=self.steps)
        if self.max_chunks is not None and not 1 <= self.max_chunks <= MAX_CHUNKS:
            raise InvalidInput(f"max_chunks must be between 1 and {MAX_CHUNKS}", param="max_chunks")
        if not 1 <= self.fps <= 240:
            raise InvalidInput(f"fps must be between 1 and 240, got {self.fps}", param="fps")
        if not 1 <= self.deadline_ms <= 3_600_000:
            raise InvalidInput("deadline_ms must be between 1 and 3600000", param="deadline_ms")
        from reelserve.engine.quality import check_mode

        check_mode(self.quality, self.min_steps, self.steps)
        return self

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class ChunkRecord:
    """Timing of one delivered chunk; every time is ``time.time()`` seconds (one host, one clock)."""

    session_id: str
    index: int  #: 0-based chunk number
    frames: int  #: frames in the chunk
    bytes: int  #: size of its media segment (moof+mdat)
    requested: float  #: when the session asked its worker for the chunk
    started: float  #: when its first denoising step ran
    generated: float  #: when its frames were decoded
    encoded: float  #: when its media segment was ready
    deadline: float  #: requested + deadline_ms
    worker: str  #: the model worker that generated it
    batch_size: int  #: the largest batch it ran in
    prompt_changed: bool = False  #: the prompt changed just before this chunk
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def latency_ms(self) -> float:
        return (self.encoded - self.requested) * 1000.0

    @property
    def missed(self) -> bool:
        return self.encoded > self.deadline

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "chunk",
            "session_id": self.session_id,
            "index": self.index,
            "frames": self.frames,
            "bytes": self.bytes,
            "requested": self.requested,
            "started": self.started,
            "generated": self.generated,
            "encoded": self.encoded,
            "deadline": self.deadline,
            "latency_ms": round(self.latency_ms, 3),
            "queue_ms": round((self.started - self.requested) * 1000.0, 3),
            "model_ms": round((self.generated - self.started) * 1000.0, 3),
            "encode_ms": round((self.encoded - self.generated) * 1000.0, 3),
            "deadline_missed": self.missed,
            "worker": self.worker,
            "batch_size": self.batch_size,
            "prompt_changed": self.prompt_changed,
            **self.extra,
        }
