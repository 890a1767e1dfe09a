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
