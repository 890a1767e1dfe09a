"""The streaming-session simulation: world state, events, control loop, runner."""

from __future__ import annotations

from reelserve.sim.streaming.cost import ChunkCost
from reelserve.sim.streaming.run import run_streaming

__all__ = ["ChunkCost", "run_streaming"]
