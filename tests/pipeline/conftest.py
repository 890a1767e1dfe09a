"""Fixtures for pipeline tests: a runner over a real store and blob store, tiny specs."""

from __future__ import annotations

from pathlib import Path

import pytest

from reelserve.core.records import GenerationSpec
from reelserve.pipeline.runner import JobRunner
from reelserve.store import FsBlobStore, SqlStore


def tiny_spec(**overrides: object) -> GenerationSpec:
    base: dict[str, object] = dict(
        prompt="a lighthouse in a storm",
        model="tiny-wan",
        width=64,
        height=64,
        num_frames=9,
        steps=3,
        seed=7,
        checkpoint_every=1,
        crf=23,
        preset="ultrafast",
    )
    base.update(overrides)
    return GenerationSpec(**base)  # type: ignore[arg-type]


@pytest.fixture
def runner(store: SqlStore, blobs: FsBlobStore) -> JobRunner:
    return JobRunner(store, blobs, lease_s=10.0, backoff_s=0.01)


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    d = tmp_path / "out"
    d.mkdir()
    return d


def kill_at_step(
    store: SqlStore, runner: JobRunner, job_id: str, step: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run the job until denoising reaches ``step``, then die there as a killed process would
    (after the checkpoint of that step was recorded); the model's step is restored afterwards."""
    from reelserve.models.wan import WanT2V

    real_step = WanT2V.step

    def dying_step(self, state, cond):  # type: ignore[no-untyped-def]
        if state.step == step:
            raise KeyboardInterrupt
        return real_step(self, state, cond)

    monkeypatch.setattr(WanT2V, "step", dying_step)
    claimed = store.claim_job(runner.worker_id, runner.lease_s, job_id=job_id)
    assert claimed is not None
    with pytest.raises(KeyboardInterrupt):
        runner.run(claimed)
    monkeypatch.setattr(WanT2V, "step", real_step)
