"""Admission and the adaptive quality ladder.

When a request cannot meet its deadline at the quality it asked for, degrade along a ladder — fewer
steps first, then lower resolution, then lower fps (StreamWise's order) — and take the first rung
that meets the deadline; if none does, reject with a reason (or, when the request allows it, run the
lowest rung late). Rungs are ordered by strictly non-increasing cost, so degradation is monotone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from reelserve.core.errors import InvalidInput

__all__ = ["STREAMWISE_SIZES", "STREAMWISE_STEPS", "Admission", "QualityLevel", "admit", "build_ladder"]

#: StreamWise's 16:10 ladder: high, medium, low.
STREAMWISE_SIZES: tuple[tuple[int, int], ...] = ((1280, 800), (640, 400), (512, 320))
STREAMWISE_STEPS: tuple[int, ...] = (25, 20, 15, 10)


@dataclass(frozen=True, slots=True)
class QualityLevel:
    """One rung of the ladder."""

    width: int  #: output width
    height: int  #: output height
    steps: int  #: denoising steps
    fps: int  #: output frame rate (fewer frames to generate per second of video)

    @property
    def cost(self) -> float:
        """Relative work: pixels x steps x fps."""
        return float(self.width * self.height * self.steps * self.fps)


@dataclass(frozen=True, slots=True)
class Admission:
    """What to do with one request."""

    accepted: bool  #: False = reject; ``reason`` says why
    level: QualityLevel | None  #: the rung to run at; None when rejected
    rung: int  #: index into the ladder (0 = as asked); -1 when rejected
    predicted_finish: float  #: predicted completion time at that rung (seconds)
    degraded: bool  #: True when rung > 0
    reason: str  #: "as requested", "degraded to ...", or why it was rejected


def build_ladder(
    level: QualityLevel,
    steps: Sequence[int] = STREAMWISE_STEPS,
    sizes: Sequence[tuple[int, int]] = STREAMWISE_SIZES,
    fps: Sequence[int] = (16, 12, 8),
) -> tuple[QualityLevel, ...]:
    """The ladder starting at ``level``: lower steps, then lower sizes, then lower fps."""
    if min(level.width, level.height, level.steps, level.fps) <= 0:
        raise InvalidInput("quality level needs positive width, height, steps and fps")
    rungs = [level]
    for s in sorted({s for s in steps if s < level.steps}, reverse=True):
        rungs.append(QualityLevel(level.width, level.height, s, level.fps))
    low_steps = rungs[-1].steps
    for w, h in sorted({(w, h) for w, h in sizes if w * h < level.width * level.height}, reverse=True):
        rungs.append(QualityLevel(w, h, low_steps, level.fps))
    last = rungs[-1]
    for f in sorted({f for f in fps if f < level.fps}, reverse=True):
        rungs.append(QualityLevel(last.width, last.height, low_steps, f))
    return tuple(rungs)


def admit(
    ladder: Sequence[QualityLevel],
    predict_finish: Callable[[QualityLevel], float],
    deadline: float | None,
    *,
    allow_degrade: bool = True,
    allow_late: bool = False,
) -> Admission:
    """Pick the highest rung whose ``predict_finish`` is at or before ``deadline``."""
    if not ladder:
        raise InvalidInput("the quality ladder is empty")
    first = predict_finish(ladder[0])
    if deadline is None or first <= deadline:
        return Admission(True, ladder[0], 0, first, False, "as requested")
    candidates = ladder[1:] if allow_degrade else ()
    for i, level in enumerate(candidates, start=1):
        finish = predict_finish(level)
        if finish <= deadline:
            why = f"degraded to {level.width}x{level.height}, {level.steps} steps, {level.fps} fps"
            return Admission(True, level, i, finish, True, why)
    last = len(ladder) - 1 if allow_degrade else 0
    finish = predict_finish(ladder[last])
    late_by = finish - deadline
    if allow_late:
        return Admission(True, ladder[last], last, finish, last > 0, f"accepted late by {late_by:.2f} s")
    return Admission(
        False,
        None,
        -1,
        finish,
        False,
        f"deadline cannot be met: even the lowest quality finishes {late_by:.2f} s late; "
        "extend the deadline or allow degradation/late delivery",
    )
