"""The model worker's batcher records where each step's time went (metadata only)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch

from reelserve.core.errors import ReelserveError
from reelserve.engine.model.batcher import Batcher, WorkItem
from reelserve.models.registry import load_model


@pytest.fixture(scope="module")
def model() -> Iterator[object]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as a model worker runs (PoolConfig.threads)
    try:
        yield load_model("tiny-wan", device="cpu")
    finally:  # later tests compare frames with other processes': they need torch's default back
        torch.set_num_threads(threads)


def test_every_step_leaves_its_sizes_and_times(model: object) -> None:
    done: list[str] = []

    def on_done(item: WorkItem, frames: np.ndarray | None, err: ReelserveError | None) -> None:
        assert err is None and frames is not None
        done.append(item.id)

    b = Batcher(model, max_batch=2, max_wait_s=0.0, preempt=False)  # type: ignore[arg-type]
    cond = model.encode_text(["a fox"], [""], 1.0)  # type: ignore[attr-defined]
    b.submit(WorkItem("a", cond, 1, 32, 32, 5, 2, on_done))
    b.tick()  # a alone: admitted, first step
    b.submit(WorkItem("b", cond, 2, 32, 32, 5, 2, on_done))
    while b.busy:
        b.tick()
    assert done == ["a", "b"]
    t = list(b.timings)
    # a alone; a + b (a finishes: decoded alone); b alone (b finishes)
    assert [(x.batch, x.admitted, x.finished) for x in t] == [(1, 1, 0), (2, 1, 1), (1, 0, 1)]
    assert all(x.step_s > 0 and x.step_cpu_s > 0 for x in t)
    assert t[0].admit_s > 0 and t[2].admit_s < t[0].admit_s  # nothing admitted before the last step
    assert t[0].decode_s == 0 and t[1].decode_s > 0 and t[1].done_s > 0
    stats = b.stats()["step_ms"]
    assert sorted(stats) == [1, 2] and stats[1]["steps"] == 2 and stats[2]["steps"] == 1
    assert stats[1]["wall"] > 0 and stats[1]["cpu"] > 0
    assert b.stats()["decode_ms"][1]["decodes"] == 2  # a and b each decoded alone
