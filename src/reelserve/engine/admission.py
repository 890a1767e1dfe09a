"""Admission of a job with a deadline: adaptive quality at submission (``POST /v1/videos``).

The job's ladder is the full one (fewer steps down to ``min_steps``, then 3/4 and 1/2 of its size, then
12 and 8 fps keeping its duration), the choice ``sched.quality.admit``'s (through ``engine.quality``),
and the prediction: the queued work ahead shared by the model workers, plus the job's own time, both
from the engine's calibrated ``CostModel``. A degraded job is stored with the settings it will run at;
the decision (rung, reason, what was asked) is kept in its spec under ``quality``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from reelserve.core.errors import Conflict
from reelserve.core.records import GenerationSpec
from reelserve.engine.quality import CostModel, QualityChoice, check_mode, choose, frames_at_fps, ladder_for
from reelserve.models.catalog import get_card
from reelserve.pipeline.submit import validate_spec
from reelserve.sched.quality import QualityLevel

__all__ = ["admit_job", "engine_cost"]


def engine_cost(app: Any) -> tuple[CostModel, int]:
    """The app's cost model (the session manager's, calibrated by its chunks) and its live model workers."""
    mgr = getattr(app.state, "sessions", None)
    if mgr is not None:
        return mgr.cost, max(1, len(mgr.pool.live()))
    cost = getattr(app.state, "engine_cost", None)
    if cost is None:
        cost = app.state.engine_cost = CostModel()
    backend = getattr(getattr(app.state, "services", None), "backend", None)
    return cost, max(1, backend.alive() if backend is not None else 1)


def admit_job(
    spec: GenerationSpec,
    mode: str,
    min_steps: int | None,
    budget_s: float | None,
    queued: int,
    cost: CostModel,
    workers: int,
) -> tuple[GenerationSpec, dict[str, Any] | None]:
    """The spec to run and the decision to record; ``Conflict`` (409) when the deadline is unmeetable.

    ``budget_s`` is deadline - now (None: no deadline, nothing to decide)."""
    check_mode(mode, min_steps or 1, spec.steps)
    if mode == "best_effort" or budget_s is None:
        return spec, None
    card = get_card(spec.model)
    asked = QualityLevel(spec.width, spec.height, spec.steps, spec.fps)
    ladder = ladder_for(asked, min_steps or 1, multiple=card.size_multiple)
    backlog_ms = queued * cost.predict_ms(asked, spec.num_frames) / max(1, workers)

    def predict(lv: QualityLevel) -> float:
        frames = frames_at_fps(spec.num_frames, spec.fps, lv.fps, card.vae_temporal)
        return backlog_ms + cost.predict_ms(lv, frames)

    choice: QualityChoice = choose(mode, ladder, predict, budget_s * 1000.0, admission=True)
    if not choice.accepted or choice.level is None:
        raise Conflict(f"job rejected ({mode} quality): {choice.reason}", param="deadline")
    lv = choice.level
    frames = frames_at_fps(spec.num_frames, spec.fps, lv.fps, card.vae_temporal)
    run = replace(spec, width=lv.width, height=lv.height, steps=lv.steps, fps=lv.fps, num_frames=frames)
    validate_spec(run)
    asked_json = {"steps": spec.steps, "size": f"{spec.width}x{spec.height}", "fps": spec.fps,
                  "num_frames": spec.num_frames}  # fmt: skip
    return run, {**choice.to_json(), "asked": asked_json, "backlog_ms": round(backlog_ms, 1)}
