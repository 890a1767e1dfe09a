"""The model side: the loaded adapters of one analysis and one call over a batch of frames."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reelserve.core.errors import WeightsError
from reelserve.models.understanding import load_task
from reelserve.models.understanding.base import device_for
from reelserve.pipeline.analyze.cpu import Order, computing, device_turns
from reelserve.pipeline.analyze.spec import AnalyzeSpec

__all__ = ["FrameOutputs", "TaskModels"]

#: The order of a call made outside any analysis's turn (e.g. a two-frame boundary score): first.
FIRST: Order = (float("-inf"), 0)


@dataclass(slots=True)
class FrameOutputs:
    """Outputs of the frame tasks for a run of sampled frames, one entry per frame and task."""

    per_task: dict[str, list[Any]] = field(default_factory=dict)
    embeddings: np.ndarray | None = None  #: (N, D) unit vectors when "embed" ran
    model_s: float = 0.0


class TaskModels:
    """Adapters for ``spec.tasks``, loaded once (and cached across analyses by the task registry)."""

    def __init__(self, spec: AnalyzeSpec) -> None:
        self.spec = spec
        if spec.model_threads:
            import torch

            torch.set_num_threads(spec.model_threads)
        device = device_for(spec.device)
        # One turn queue per physical device, however it is named ("cuda" and "cuda:0" share one).
        self._device = f"{device.type}:{device.index or 0}"
        self._on_cpu = device.type == "cpu"
        root = Path(spec.weights_dir).expanduser() if spec.weights_dir else None
        self.models: dict[str, Any] = {}
        for task in spec.tasks:
            weights = _task_dir(root, task, spec)
            options = (
                {"detector": spec.shot_detector, "min_scene_s": spec.min_scene_s} if task == "shots" else {}
            )
            self.models[task] = load_task(task, weights, spec.device, spec.batch_size, **options)

    def describe(self) -> dict[str, dict[str, str]]:
        """Model name and weights hash per task (for results and manifests)."""
        return {t: {"model": m.name, "weights_sha256": m.weights_hash} for t, m in self.models.items()}

    @property
    def shots(self) -> Any:
        return self.models.get("shots")

    def run_frames(self, frames: np.ndarray, order: Order = FIRST) -> FrameOutputs:
        """One inference call per task over ``frames`` (each adapter batches by ``batch_size``), when
        it is analysis ``order``'s turn on the device (`cpu.computing`: one model worker per device)."""
        out = FrameOutputs()
        with computing(self._device, order, self._cpu_threads()):
            started = time.perf_counter()
            for task in self.spec.frame_tasks:
                result = self.models[task].infer(frames)
                if task == "embed":
                    out.embeddings = result
                else:
                    out.per_task[task] = result
            out.model_s = time.perf_counter() - started
        return out

    def _cpu_threads(self) -> int:
        """Cores an inference call keeps busy: torch's intra-op threads on a CPU device, else none."""
        if self._on_cpu:
            import torch

            return torch.get_num_threads()
        return 0

    def shot_scores(self, small: np.ndarray, order: Order = FIRST) -> np.ndarray:
        if self.spec.shot_detector == "content":  # CPU work of its own, not the model device's
            return self.shots.pair_scores(small)  # type: ignore[no-any-return]
        with device_turns(self._device).hold(order):
            return self.shots.pair_scores(small)  # type: ignore[no-any-return]


def _task_dir(root: Path | None, task: str, spec: AnalyzeSpec) -> Path | None:
    if root is None or (task == "shots" and spec.shot_detector == "content"):
        return None
    path = root / task
    if not path.is_dir():
        raise WeightsError(
            f"--weights-dir {root} has no {task}/ sub-directory; expected one save_pretrained directory "
            f"per task ({', '.join(spec.tasks)}), or leave --weights-dir out to use the built-in tiny models"
        )
    return path
