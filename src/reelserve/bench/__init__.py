"""The benchmark harness: an MLPerf-endpoints-style load generator for video endpoints.

It talks to a server over HTTP only (ours, or any OpenAI-Videos / sync / MLCommons-shaped endpoint),
and imports nothing of reelserve but ``core``. Layout:

- ``config`` — :class:`BenchConfig`, validated at the edge; ``cli`` — the Typer app (``bench``)
- ``dataset``, ``arrivals`` — the 248 shipped prompts, seeded query lists and arrival schedules
- ``adapters/`` — one per request shape (openai, sync, mlcommons); ``loadgen`` — the async runner
- ``timeline`` — per-query stamps and intervals; ``stats``, ``search`` — numbers and the rate search
- ``streaming`` — WebSocket sessions; ``accuracy`` + ``scoring/`` — saved videos and their scores
- ``summary``, ``events``, ``report``, ``plots``, ``progress`` — what a run writes and shows
- ``runner`` — one run end to end
"""

from __future__ import annotations

from reelserve.bench.config import Api, BenchConfig, Delivery, Mode, Scenario

__all__ = ["Api", "BenchConfig", "Delivery", "Mode", "Scenario"]
