from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from reelserve.bench.arrivals import offline_schedule, poisson_schedule
from reelserve.bench.dataset import DATASET_SIZE, build_queries, load_prompts
from reelserve.core.errors import InvalidInput


def test_shipped_dataset_has_248_distinct_prompts_across_themes() -> None:
    prompts = load_prompts()
    assert len(prompts) == DATASET_SIZE == 248
    assert len({p.id for p in prompts}) == 248
    assert len({p.prompt for p in prompts}) == 248
    assert {p.theme for p in prompts} == {"ad", "vfx", "nature", "people", "product"}


def test_same_seed_same_queries_and_other_seed_other_order() -> None:
    prompts = load_prompts()
    first = build_queries(prompts, 60, seed=3, phase="performance")
    again = build_queries(prompts, 60, seed=3, phase="performance")
    other = build_queries(prompts, 60, seed=4, phase="performance")
    assert first == again
    assert [q.prompt.id for q in first] != [q.prompt.id for q in other]
    assert len({q.prompt.id for q in first}) == 60  # a permutation: no repeats before the dataset wraps


def test_queries_cycle_through_the_dataset() -> None:
    prompts = load_prompts()
    queries = build_queries(prompts, 300, seed=1, phase="accuracy")
    assert len(queries) == 300
    assert queries[248].prompt == queries[0].prompt


def test_custom_dataset_and_its_errors(tmp_path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(
        json.dumps({"id": "a", "prompt": "a cat"}) + "\n\n" + json.dumps({"prompt": "a dog"}) + "\n"
    )
    assert [p.prompt for p in load_prompts(str(path))] == ["a cat", "a dog"]
    path.write_text('{"id": "x"}\n')
    with pytest.raises(InvalidInput, match="line 1"):
        load_prompts(str(path))
    with pytest.raises(InvalidInput, match="not a file"):
        load_prompts(str(tmp_path / "missing.jsonl"))


def test_poisson_arrivals_are_seeded_and_have_the_requested_rate() -> None:
    a = poisson_schedule(4000, rate=5.0, seed=11)
    assert a == poisson_schedule(4000, rate=5.0, seed=11)
    assert a != poisson_schedule(4000, rate=5.0, seed=12)
    assert a[0] == 0.0 and all(later >= earlier for earlier, later in itertools.pairwise(a))
    gaps = np.diff(a)
    assert np.mean(gaps) == pytest.approx(0.2, rel=0.05)
    assert np.std(gaps) == pytest.approx(0.2, rel=0.1)  # exponential: std = mean
    assert offline_schedule(3) == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError):
        poisson_schedule(3, rate=0, seed=1)
