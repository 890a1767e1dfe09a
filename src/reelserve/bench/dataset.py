"""The prompt dataset and the seeded query list built from it.

The shipped dataset (``data/prompts_248.jsonl``) holds 248 prompts written for reelserve — ads, VFX,
nature, people and products — the count MLPerf's accuracy mode scores. A seed fixes the query order
and each query's generation seed, so two runs with the same seed send the same requests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from reelserve.core.errors import InvalidInput

__all__ = ["DATASET_SIZE", "Prompt", "Query", "build_queries", "load_prompts"]

DATASET_SIZE = 248


@dataclass(frozen=True, slots=True)
class Prompt:
    id: str
    prompt: str
    theme: str = ""


@dataclass(frozen=True, slots=True)
class Query:
    """One request the load generator will send."""

    query_id: str  #: unique within a run: "<phase>-<index>"
    prompt: Prompt
    seed: int  #: the generation seed sent to the server


def load_prompts(path: str | None = None) -> list[Prompt]:
    """Prompts from a JSONL file of ``{"id", "prompt"[, "theme"]}``; None = the shipped 248."""
    if path is None:
        text = resources.files("reelserve.bench").joinpath("data/prompts_248.jsonl").read_text("utf-8")
        source = "the shipped dataset"
    else:
        file = Path(path)
        if not file.is_file():
            raise InvalidInput(
                f"--dataset {path!r} is not a file; give a JSONL of {{id, prompt}}", param="--dataset"
            )
        text, source = file.read_text("utf-8"), path
    prompts = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            prompts.append(
                Prompt(
                    id=str(row.get("id", f"p{number:03d}")),
                    prompt=str(row["prompt"]),
                    theme=str(row.get("theme", "")),
                )
            )
        except (ValueError, KeyError, AttributeError):
            raise InvalidInput(f"{source} line {number}: expected a JSON object with a 'prompt'") from None
    if not prompts:
        raise InvalidInput(f"{source} holds no prompts", param="--dataset")
    return prompts


def build_queries(prompts: list[Prompt], count: int, seed: int, phase: str) -> list[Query]:
    """``count`` queries: prompts in a seeded order (cycled when count > len), seeded generation seeds."""
    rng = np.random.default_rng([seed, _phase_key(phase)])
    order = rng.permutation(len(prompts))
    seeds = rng.integers(0, 2**31 - 1, size=count)
    return [
        Query(query_id=f"{phase}-{i:05d}", prompt=prompts[int(order[i % len(prompts)])], seed=int(seeds[i]))
        for i in range(count)
    ]


def _phase_key(phase: str) -> int:
    # A stable small integer per phase name (str hash is salted per process, so not that).
    return sum((i + 1) * ord(c) for i, c in enumerate(phase))
