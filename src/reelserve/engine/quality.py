"""Adaptive quality applied live: predict a request's latency at each rung of its ladder and pick one.

The ladder and the choice are ``sched.quality``'s (``build_ladder``, ``admit``) — the functions the
simulator uses; this module supplies the engine's side: the rungs a request allows (fewer steps down to
its ``min_steps``, then smaller sizes, then lower fps) and a latency prediction — a cost ``Profile``
(``sched.latency``) of the model on this device, times a scale calibrated online from observed
latencies (an exponential average of observed / predicted), as ``ChunkCost.scale`` does in the simulator.

Modes (per request):

- ``best_effort``: run as requested, never degrade, never reject (the default);
- ``adaptive``: run at the highest rung predicted to meet the deadline; at admission, reject (409)
  when even the lowest allowed rung misses it; after admission, run the lowest rung late;
- ``strict``: never degrade; at admission, reject when the requested quality misses the deadline.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from reelserve.core.errors import InvalidInput
from reelserve.sched.latency import Profile
from reelserve.sched.quality import STREAMWISE_STEPS, Admission, QualityLevel, admit, build_ladder

__all__ = [
    "DEFAULT_PROFILE",
    "MODES",
    "CostModel",
    "QualityChoice",
    "check_mode",
    "choose",
    "frames_at_fps",
    "ladder_for",
]

MODES = ("best_effort", "adaptive", "strict")

#: tiny-wan on one CPU thread of this machine (40 steps at 32x32x5: 0.23 s; its VAE decode: 31 ms)
DEFAULT_PROFILE = Profile(
    "tiny-wan", "cpu", step_fixed_ms=4.0, step_ms_per_mvoxel=300.0, batch_exponent=0.8,
    vae_decode_ms_per_mvoxel=6000.0, encode_ms_per_mvoxel=3000.0, default_steps=4,
)  # fmt: skip


def check_mode(mode: str, min_steps: int, steps: int) -> None:
    """Raise ``InvalidInput`` with a fix-it message for a bad quality mode or ``min_steps``."""
    if mode not in MODES:
        raise InvalidInput(f"quality must be one of {', '.join(MODES)}; got {mode!r}", param="quality")
    if not 1 <= min_steps <= steps:
        raise InvalidInput(
            f"min_steps must be between 1 and the steps asked for ({steps})", param="min_steps"
        )


def frames_at_fps(frames: int, fps: int, new_fps: int, temporal: int = 4) -> int:
    """Frames covering the same duration at ``new_fps``, rounded to the model's ``temporal·k + 1``."""
    k = max(0, round((frames - 1) * new_fps / fps / temporal))
    return temporal * k + 1


def _sizes(width: int, height: int, multiple: int) -> tuple[tuple[int, int], ...]:
    out = []
    for num, den in ((3, 4), (1, 2)):
        w, h = width * num // den // multiple * multiple, height * num // den // multiple * multiple
        if w >= multiple and h >= multiple:
            out.append((w, h))
    return tuple(out)


def ladder_for(
    level: QualityLevel,
    min_steps: int,
    *,
    sizes: bool = True,
    fps: bool = True,
    multiple: int = 16,
) -> tuple[QualityLevel, ...]:
    """The request's ladder: fewer steps (down to ``min_steps``), then 3/4 and 1/2 of its size, then
    12 and 8 fps (``sched.build_ladder``'s order, StreamWise's)."""
    n = level.steps
    steps = {s for s in (n * 3 // 4, n // 2, n // 4, *STREAMWISE_STEPS) if min_steps <= s < n}
    return build_ladder(
        level,
        steps=sorted(steps, reverse=True),
        sizes=_sizes(level.width, level.height, multiple) if sizes else (),
        fps=(12, 8) if fps else (),
    )


@dataclass(frozen=True, slots=True)
class QualityChoice:
    """What the engine chose for one request (a job at admission, or one session chunk)."""

    mode: str  #: best_effort | adaptive | strict
    accepted: bool  #: False: rejected, ``reason`` says why
    rung: int  #: 0 = as requested; -1 = rejected
    level: QualityLevel | None  #: the settings it runs at
    predicted_ms: float  #: predicted latency at that rung (or at the last one tried)
    budget_ms: float | None  #: the time it had (deadline - now)
    reason: str  #: "as requested", "degraded to ...", or why it was rejected

    @property
    def degraded(self) -> bool:
        return self.rung > 0

    def to_json(self) -> dict[str, Any]:
        lv = self.level
        return {
            "mode": self.mode,
            "rung": self.rung,
            "degraded": self.degraded,
            "steps": None if lv is None else lv.steps,
            "size": None if lv is None else f"{lv.width}x{lv.height}",
            "fps": None if lv is None else lv.fps,
            "predicted_ms": round(self.predicted_ms, 1),
            "budget_ms": None if self.budget_ms is None else round(self.budget_ms, 1),
            "reason": self.reason,
        }


def choose(
    mode: str,
    ladder: Sequence[QualityLevel],
    predict_ms: Callable[[QualityLevel], float],
    budget_ms: float | None,
    *,
    admission: bool,
) -> QualityChoice:
    """``sched.quality.admit`` with the mode's flags. ``admission``: may reject (before it runs)."""
    if mode == "best_effort" or budget_ms is None:
        return QualityChoice(mode, True, 0, ladder[0], predict_ms(ladder[0]), budget_ms, "as requested")
    a: Admission = admit(
        ladder,
        lambda lv: predict_ms(lv) / 1000.0,
        budget_ms / 1000.0,
        allow_degrade=mode == "adaptive",
        allow_late=not admission,
    )
    return QualityChoice(mode, a.accepted, a.rung, a.level, a.predicted_finish * 1000.0, budget_ms, a.reason)


class CostModel:
    """Predicted latency of a clip or chunk: ``scale · profile.clip_ms``, the scale calibrated online."""

    def __init__(self, profile: Profile = DEFAULT_PROFILE, calibrate: bool = True, alpha: float = 0.3):
        self.profile = profile
        self.calibrate = calibrate
        self.alpha = alpha
        self.scale = 1.0  #: observed / profile-predicted latency, exponentially averaged
        self.observations = 0
        self._lock = threading.Lock()

    def base_ms(self, level: QualityLevel, frames: int, batch: int = 1) -> float:
        return self.profile.clip_ms(level.width, level.height, frames, level.steps, max(1, batch))

    def predict_ms(self, level: QualityLevel, frames: int, batch: int = 1) -> float:
        return self.scale * self.base_ms(level, frames, batch)

    def observe(self, level: QualityLevel, frames: int, batch: int, observed_ms: float) -> None:
        """Fold one observed latency into the scale (no-op when calibration is off)."""
        base = self.base_ms(level, frames, batch)
        if not self.calibrate or base <= 0 or observed_ms <= 0:
            return
        with self._lock:
            ratio = observed_ms / base
            self.scale = (
                ratio if self.observations == 0 else (1 - self.alpha) * self.scale + self.alpha * ratio
            )
            self.observations += 1
