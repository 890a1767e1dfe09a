"""The run configuration: parsed and validated at the edge (the CLI), then handed inward frozen.

Every bad value raises :class:`reelserve.core.errors.InvalidInput` with a message that says how to fix
it, before any request is sent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum, StrEnum
from typing import Any

from reelserve.core.errors import InvalidInput, UnknownName
from reelserve.core.records import GenerationSpec

__all__ = ["Api", "BenchConfig", "Delivery", "Mode", "Scenario", "parse_enum", "parse_size"]

_DEFAULTS = GenerationSpec(prompt="")


class Api(StrEnum):
    """Which request shape the endpoint speaks."""

    OPENAI = "openai"  #: POST /v1/videos, poll GET /v1/videos/{id}, GET /v1/videos/{id}/content
    SYNC = "sync"  #: POST /v1/videos/sync answers with the MP4 bytes
    MLCOMMONS = "mlcommons"  #: POST /v1/videos/generations with response_format video_path|video_bytes


class Scenario(StrEnum):
    """How queries arrive."""

    OFFLINE = "offline"  #: every query issued at t=0; reports videos/s
    SINGLE_STREAM = "single-stream"  #: one query in flight at a time; mean and p90 latency
    SERVER = "server"  #: Poisson arrivals at --rate; p99 latency; optional rate search
    CONCURRENCY = "concurrency"  #: a fixed number of queries in flight
    STREAMING = "streaming"  #: real-time sessions over WebSocket; first chunk, stalls, fps


class Mode(StrEnum):
    PERFORMANCE = "performance"  #: timing only; videos are not kept
    ACCURACY = "accuracy"  #: every video saved as MP4 and scored
    BOTH = "both"  #: performance phase, then accuracy phase


class Delivery(StrEnum):
    """How the finished video travels back (see docs/bench.md for the route each one uses)."""

    REFERENCE = "reference"  #: a path/URL + sha256 + size; no video bytes move
    BLOB = "blob"  #: the MP4 bytes (base64 inside JSON for the mlcommons API)
    STREAM = "stream"  #: fragmented-MP4 segments, sent as they are cut
    RAW = "raw"  #: uint8 frames, T×H×W×3, the raw-tensor path


def parse_enum(kind: type[Enum], value: str, param: str) -> Any:
    """The enum member named ``value``, or UnknownName listing the valid names."""
    for member in kind:
        if member.value == value:
            return member
    raise UnknownName(param.lstrip("-"), value, [m.value for m in kind], param=param)


def parse_size(value: str) -> tuple[int, int]:
    """``"WIDTHxHEIGHT"`` → (width, height)."""
    try:
        width, height = (int(part) for part in value.lower().split("x"))
    except ValueError:
        raise InvalidInput(f"--size must look like 256x256, got {value!r}", param="--size") from None
    if width <= 0 or height <= 0:
        raise InvalidInput(f"--size must be positive, got {value!r}", param="--size")
    return width, height


@dataclass(frozen=True, slots=True)
class BenchConfig:
    """Everything one `reelserve bench` run needs. Validated in ``__post_init__``; no I/O."""

    url: str
    api: Api = Api.OPENAI
    scenario: Scenario = Scenario.SINGLE_STREAM
    mode: Mode = Mode.PERFORMANCE
    queries: int = 50  #: performance-phase queries (MLPerf minimum 50)
    accuracy_queries: int = 248  #: accuracy-phase queries; the whole dataset by default
    rate: float = 1.0  #: server scenario: Poisson arrivals per second
    concurrency: int = 1  #: queries in flight (concurrency scenario); connection pool size
    seed: int = 42  #: fixes query order, arrival times and generation seeds
    warmup: int = 1  #: warm-up queries, issued one at a time, excluded from the numbers
    delivery: tuple[Delivery, ...] = (Delivery.BLOB,)  #: first is the main run; others are compared
    dataset: str | None = None  #: a JSONL of {"id", "prompt"}; None = the shipped 248 prompts
    out: str = "bench-out"
    timeout_s: float = 600.0  #: per query, from issue to last byte
    latency_bound_s: float | None = None  #: server scenario: search the highest rate meeting it
    search_quantile: float = 0.99  #: which latency percentile the bound applies to
    search_trials: int = 6  #: at most this many rates tried in the search
    search_queries: int | None = None  #: queries per search trial; None = --queries
    delivery_queries: int | None = None  #: queries per compared delivery mode; None = --queries
    model: str = _DEFAULTS.model
    width: int = _DEFAULTS.width
    height: int = _DEFAULTS.height
    num_frames: int = _DEFAULTS.num_frames
    fps: int = _DEFAULTS.fps
    steps: int = _DEFAULTS.steps
    guidance_scale: float = _DEFAULTS.guidance_scale
    poll_ms: int | None = None  #: openai API: poll interval; None = honour openai-poll-after-ms
    stream_chunks: int = 8  #: streaming scenario: chunks requested per session
    chunk_frames: int = 16  #: streaming scenario: frames per chunk
    api_key: str | None = field(default=None, repr=False)
    dino_weights: str | None = None  #: local dir with a DINO/ViT model: subject consistency
    clip_weights: str | None = None  #: local dir with a CLIP model: background consistency
    progress: bool = True
    plots: bool = True  #: write the PNGs (matplotlib takes ~1 s)

    def __post_init__(self) -> None:
        self._check_counts()
        self._check_rates()
        if not self.url.startswith(("http://", "https://")):
            raise InvalidInput(f"--url must start with http:// or https://, got {self.url!r}", param="--url")
        if not self.delivery:
            raise InvalidInput("--delivery needs at least one mode", param="--delivery")

    def _check_counts(self) -> None:
        positive = {
            "--queries": self.queries if self.mode != Mode.ACCURACY else 1,
            "--accuracy-queries": self.accuracy_queries if self.mode != Mode.PERFORMANCE else 1,
            "--concurrency": self.concurrency,
            "--frames": self.num_frames,
            "--fps": self.fps,
            "--steps": self.steps,
            "--stream-chunks": self.stream_chunks,
            "--chunk-frames": self.chunk_frames,
            "--search-queries": 1 if self.search_queries is None else self.search_queries,
            "--delivery-queries": 1 if self.delivery_queries is None else self.delivery_queries,
            "--width": self.width,
            "--height": self.height,
        }
        for name, value in positive.items():
            if value <= 0:
                raise InvalidInput(f"{name} must be at least 1, got {value}", param=name)
        if self.warmup < 0:
            raise InvalidInput(f"--warmup must be 0 or more, got {self.warmup}", param="--warmup")

    def _check_rates(self) -> None:
        if not self.rate > 0:
            raise InvalidInput(
                f"--rate must be a positive number of queries/s, got {self.rate}", param="--rate"
            )
        if not self.timeout_s > 0:
            raise InvalidInput(f"--timeout must be positive seconds, got {self.timeout_s}", param="--timeout")
        if self.latency_bound_s is not None and not self.latency_bound_s > 0:
            raise InvalidInput(
                f"--latency-bound must be positive seconds, got {self.latency_bound_s}",
                param="--latency-bound",
            )
        if not 0 < self.search_quantile < 1:
            raise InvalidInput("--search-quantile must be in (0, 1), e.g. 0.99", param="--search-quantile")
        if self.poll_ms is not None and self.poll_ms <= 0:
            raise InvalidInput(f"--poll-ms must be positive, got {self.poll_ms}", param="--poll-ms")

    @property
    def base_url(self) -> str:
        return self.url.rstrip("/")

    def sanitized(self) -> dict[str, Any]:
        """The config as JSON-able data, with secrets removed (goes into result_summary.json)."""
        data = asdict(self)
        data["api_key"] = "***" if self.api_key else None
        for key, value in data.items():
            if isinstance(value, Enum):
                data[key] = value.value
        data["delivery"] = [d.value for d in self.delivery]
        return data
