"""reelserve: serve, schedule and benchmark video generation and understanding workloads."""

from __future__ import annotations

__all__ = ["PIPELINE_VERSION", "__version__"]

__version__ = "0.1.0"
#: Recorded in every manifest; bump when a stage's output for the same inputs would change.
PIPELINE_VERSION = "reelserve-pipeline/1"
