"""Accuracy scoring: hard checks and VBench-style dimensions, without network weights."""

from __future__ import annotations

from reelserve.bench.scoring.hard import Expected, hard_checks
from reelserve.bench.scoring.scorer import DIMENSIONS, Scorer, aggregate

__all__ = ["DIMENSIONS", "Expected", "Scorer", "aggregate", "hard_checks"]
