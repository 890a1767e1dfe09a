"""Shared test helpers: a small, fast run configuration and readers for a run's output files."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from reelserve.bench.config import BenchConfig
from reelserve.bench.runner import run_bench

__all__ = ["read_jsonl", "run", "small"]


def small(url: str, out: Path, **overrides: Any) -> BenchConfig:
    """Tiny videos, few queries, no warm-up, no live display."""
    settings: dict[str, Any] = {
        "url": url,
        "out": str(out),
        "queries": 4,
        "accuracy_queries": 4,
        "width": 64,
        "height": 64,
        "num_frames": 9,
        "fps": 8,
        "warmup": 0,
        "progress": False,
        "plots": False,
        "timeout_s": 20.0,
    }
    return BenchConfig(**{**settings, **overrides})


def run(cfg: BenchConfig) -> dict[str, Any]:
    return asyncio.run(run_bench(cfg))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
