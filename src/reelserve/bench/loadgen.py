"""The async load generator: runs one phase of queries through an adapter on one lean HTTP client.

Open loop (offline, server): each query is issued at its scheduled arrival time whatever is in flight.
Closed loop (single-stream, concurrency): ``concurrency`` workers each issue the next query as soon as
their previous one ended. Every query ends as a :class:`QueryRecord` — success or failure, with the
HTTP status and error — and is handed to ``on_done``; none is dropped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from reelserve.bench.adapters import AdapterContext, ApiAdapter, Payload, QueryFailed
from reelserve.bench.dataset import Query
from reelserve.bench.http1 import HttpClient, HttpError
from reelserve.bench.timeline import QueryRecord

__all__ = ["OnDone", "Phase", "PhaseResult", "make_client", "run_phase"]

OnDone = Callable[[QueryRecord, Payload | None], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Phase:
    """One batch of queries with one load pattern."""

    name: str  #: "warmup", "performance", "accuracy", "delivery:raw", "search:2.5"
    queries: list[Query]
    schedule: list[float] | None  #: open-loop arrival offsets (s); None = closed loop
    concurrency: int  #: closed loop: queries in flight
    timeout_s: float


@dataclass(slots=True)
class PhaseResult:
    name: str
    records: list[QueryRecord] = field(default_factory=list)
    start_ns: int = 0
    end_ns: int = 0

    @property
    def duration_s(self) -> float:
        return max(self.end_ns - self.start_ns, 1) / 1e9


def make_client(base_url: str, pool: int, timeout_s: float) -> HttpClient:
    """One client per run; at most ``pool`` keep-alive connections, sized to the queries in flight."""
    return HttpClient(base_url, pool=pool, timeout_s=timeout_s, connect_timeout_s=min(10.0, timeout_s))


async def run_phase(
    client: HttpClient, adapter: ApiAdapter, phase: Phase, ctx: AdapterContext, on_done: OnDone
) -> PhaseResult:
    result = PhaseResult(phase.name, start_ns=time.monotonic_ns())
    # Open loop with --concurrency > 1: at most that many in flight; the rest wait on the client side
    # (visible in e2e_from_scheduled) and their timeout starts only when they are sent.
    cap = asyncio.Semaphore(
        phase.concurrency if phase.schedule is not None and phase.concurrency > 1 else 1 << 30
    )

    async def one(query: Query, scheduled_ns: int) -> None:
        record = QueryRecord(query.query_id, query.prompt.id, query.seed, phase.name, ctx.delivery.value)
        record.stamp("scheduled", scheduled_ns)
        async with cap:
            payload = await _run_query(client, adapter, query, record, ctx, phase.timeout_s)
        result.records.append(record)
        await on_done(record, payload)

    if phase.schedule is None:
        await _closed_loop(phase, one)
    else:
        await _open_loop(phase, phase.schedule, result.start_ns, one)
    result.end_ns = time.monotonic_ns()
    result.records.sort(key=lambda r: r.query_id)
    return result


async def _open_loop(
    phase: Phase, schedule: list[float], start_ns: int, one: Callable[[Query, int], Coroutine[Any, Any, None]]
) -> None:
    tasks: list[asyncio.Task[None]] = []
    for query, offset in zip(phase.queries, schedule, strict=True):
        due_ns = start_ns + round(offset * 1e9)
        delay = (due_ns - time.monotonic_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(query, due_ns)))
    await asyncio.gather(*tasks)


async def _closed_loop(phase: Phase, one: Callable[[Query, int], Awaitable[None]]) -> None:
    pending = iter(phase.queries)

    async def worker() -> None:
        for query in pending:  # a shared iterator: each query goes to exactly one worker
            await one(query, time.monotonic_ns())

    await asyncio.gather(*(worker() for _ in range(min(phase.concurrency, len(phase.queries)))))


async def _run_query(
    client: HttpClient,
    adapter: ApiAdapter,
    query: Query,
    record: QueryRecord,
    ctx: AdapterContext,
    timeout_s: float,
) -> Payload | None:
    try:
        async with asyncio.timeout(timeout_s):  # unlike wait_for, no extra task per query
            payload = await adapter.run(client, query, record, ctx)
    except QueryFailed as exc:
        record.fail(str(exc), exc.status)
    except TimeoutError:
        record.fail(f"timed out after {timeout_s:g} s (raise --timeout)")
    except HttpError as exc:
        record.fail(f"{type(exc).__name__}: {exc}")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:  # a malformed answer
        record.fail(f"malformed response: {type(exc).__name__}: {exc}")
    else:
        record.ok = True
        return payload
    return None
