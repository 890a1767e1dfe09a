"""The job-farm simulation (batch variants by a deadline, StreamWise scene DAGs)."""

from __future__ import annotations

from reelserve.sim.jobs.run import run_jobs

__all__ = ["run_jobs"]
