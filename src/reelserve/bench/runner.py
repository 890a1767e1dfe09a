"""One ``reelserve bench`` run, end to end: check the setup, warm up, load, score, report.

Order: preflight (fails fast) → warm-up (excluded) → performance phase in the chosen scenario → the
other delivery modes on the same queries → the rate search (server scenario with a latency bound) →
accuracy phase (videos saved and scored) → ``result_summary.json``, ``events.jsonl``,
``queries.jsonl``, ``report.md`` and the PNGs in ``--out``.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from reelserve.bench.accuracy import VideoSaver, expected_of, score_records
from reelserve.bench.adapters import AdapterContext, ApiAdapter, Payload, get_adapter
from reelserve.bench.arrivals import offline_schedule, poisson_schedule
from reelserve.bench.config import BenchConfig, Delivery, Mode, Scenario
from reelserve.bench.dataset import Prompt, Query, build_queries, load_prompts
from reelserve.bench.events import write_events
from reelserve.bench.http1 import HttpClient
from reelserve.bench.loadgen import OnDone, Phase, PhaseResult, make_client, run_phase
from reelserve.bench.plots import plot_all
from reelserve.bench.preflight import preflight
from reelserve.bench.progress import LiveProgress
from reelserve.bench.questions import answer_questions
from reelserve.bench.report import write_report
from reelserve.bench.scoring import Scorer
from reelserve.bench.search import search_rate
from reelserve.bench.stats import phase_summary, throughput_series
from reelserve.bench.streaming import SessionRecord, run_sessions, session_events, streaming_summary
from reelserve.bench.summary import answers, delivery_row, headline, new_summary
from reelserve.bench.timeline import ClockAnchor, QueryRecord

__all__ = ["run_bench"]

_OPEN_LOOP = (Scenario.OFFLINE, Scenario.SERVER)


async def run_bench(cfg: BenchConfig) -> dict[str, Any]:
    """Run the benchmark ``cfg`` describes; returns the summary also written to result_summary.json."""
    out = Path(cfg.out)
    prompts = load_prompts(cfg.dataset)
    adapter = None if cfg.scenario == Scenario.STREAMING else get_adapter(cfg.api, cfg.delivery)
    summary = new_summary(cfg)
    anchor = ClockAnchor.now()
    headers = {"Authorization": f"Bearer {cfg.api_key}"} if cfg.api_key else {}
    records: list[QueryRecord] = []
    main: PhaseResult | None = None
    extra_events: list[dict[str, Any]] = []
    with LiveProgress(cfg.progress) as progress:
        async with make_client(cfg.base_url, _pool_size(cfg), cfg.timeout_s) as client:
            if adapter is None:
                await preflight(client, "streaming", headers)
                sessions = await _streaming(client, cfg, prompts, headers, summary)
                extra_events = session_events(sessions, anchor.mono_ns)
            else:
                await preflight(client, cfg.api.value, headers)
                bench = _Bench(cfg, client, adapter, anchor, headers, progress, prompts, out)
                await bench.run(summary)
                records, main = bench.records, bench.main
                if "answers" in summary:
                    summary["answers"]["questions"] = answer_questions(summary)
    _write_outputs(out, summary, records, anchor, main if cfg.plots else None, extra_events)
    return summary


def _pool_size(cfg: BenchConfig) -> int:
    if cfg.scenario in _OPEN_LOOP and cfg.concurrency == 1:
        return min(max(cfg.queries, cfg.accuracy_queries), 1024) + 2
    return cfg.concurrency + 2  # + spare connections for the openai adapter's after-the-fact reads


class _Bench:
    """The request phases of a non-streaming run, sharing one client and one clock anchor."""

    def __init__(
        self,
        cfg: BenchConfig,
        client: HttpClient,
        adapter: ApiAdapter,
        anchor: ClockAnchor,
        headers: dict[str, str],
        progress: LiveProgress,
        prompts: list[Prompt],
        out: Path,
    ) -> None:
        self.cfg, self.client, self.adapter, self.anchor = cfg, client, adapter, anchor
        self.headers, self.progress, self.prompts, self.out = headers, progress, prompts, out
        self.records: list[QueryRecord] = []
        self.main: PhaseResult | None = None

    async def run(self, summary: dict[str, Any]) -> None:
        cfg = self.cfg
        # Weights load before any load, so a bad --dino-weights/--clip-weights fails in seconds.
        scorer = (
            Scorer.build(expected_of(cfg), cfg.dino_weights, cfg.clip_weights)
            if cfg.mode != Mode.PERFORMANCE
            else None
        )
        if cfg.warmup:
            warm = build_queries(self.prompts, cfg.warmup, cfg.seed, "warmup")
            result = await self._phase(Phase("warmup", warm, None, 1, cfg.timeout_s), cfg.delivery[0])
            summary["warmup"] = {
                "queries": len(result.records),
                "failed": sum(not r.ok for r in result.records),
            }
        if cfg.mode in (Mode.PERFORMANCE, Mode.BOTH):
            await self._performance(summary)
        if scorer is not None:
            await self._accuracy(summary, scorer)

    async def _phase(
        self, phase: Phase, delivery: Delivery, keep: bool = False, sink: OnDone | None = None
    ) -> PhaseResult:
        ctx = AdapterContext(self.cfg, self.anchor, delivery, keep=keep, headers=self.headers)
        self.progress.phase(phase.name, len(phase.queries))

        async def on_done(record: QueryRecord, payload: Payload | None) -> None:
            self.progress.advance(record.ok)
            if sink is not None:
                await sink(record, payload)

        result = await run_phase(self.client, self.adapter, phase, ctx, on_done)
        self.records.extend(result.records)
        return result

    def _scenario_phase(self, name: str, queries: list[Query], rate: float | None = None) -> Phase:
        cfg = self.cfg
        schedule: list[float] | None = None
        if cfg.scenario == Scenario.OFFLINE:
            schedule = offline_schedule(len(queries))
        elif cfg.scenario == Scenario.SERVER:
            schedule = poisson_schedule(len(queries), rate or cfg.rate, cfg.seed)
        concurrency = 1 if cfg.scenario == Scenario.SINGLE_STREAM else cfg.concurrency
        return Phase(name, queries, schedule, concurrency, cfg.timeout_s)

    async def _performance(self, summary: dict[str, Any]) -> None:
        cfg = self.cfg
        queries = build_queries(self.prompts, cfg.queries, cfg.seed, "performance")
        self.main = await self._phase(self._scenario_phase("performance", queries), cfg.delivery[0])
        perf = phase_summary(self.main.records, self.main.duration_s)
        bucket_s = max(1.0, round(self.main.duration_s / 40))  # about 40 bars, whole seconds
        perf["throughput_series"] = throughput_series(self.main.records, self.main.start_ns, bucket_s)
        summary["performance"] = {"scenario": cfg.scenario.value, **perf}
        summary["headline"] = headline(cfg.scenario, perf)
        summary["answers"] = answers(perf, cfg)
        if len(cfg.delivery) > 1:
            table = {cfg.delivery[0].value: delivery_row(perf)}
            compared = self._first(queries, cfg.delivery_queries)
            for delivery in cfg.delivery[1:]:
                result = await self._phase(
                    self._scenario_phase(f"delivery:{delivery.value}", compared), delivery
                )
                table[delivery.value] = delivery_row(phase_summary(result.records, result.duration_s))
            summary["delivery_comparison"] = table
        if cfg.scenario == Scenario.SERVER and cfg.latency_bound_s is not None:
            summary["rate_search"] = await self._search(queries)

    def _first(self, queries: list[Query], count: int | None) -> list[Query]:
        """The first ``count`` of the performance queries (the same seeds), or more of them."""
        if count is None or count <= len(queries):
            return queries[:count]
        return build_queries(self.prompts, count, self.cfg.seed, "performance")

    async def _search(self, queries: list[Query]) -> dict[str, Any]:
        cfg = self.cfg
        queries = self._first(queries, cfg.search_queries)

        async def trial(rate: float) -> tuple[list[float], int]:
            result = await self._phase(
                self._scenario_phase(f"search:{rate:.4g}", queries, rate), cfg.delivery[0]
            )
            latencies = [r.intervals()["e2e"] for r in result.records if r.ok and "e2e" in r.intervals()]
            return latencies, sum(not r.ok for r in result.records)

        assert cfg.latency_bound_s is not None
        return await search_rate(trial, cfg.rate, cfg.latency_bound_s, cfg.search_quantile, cfg.search_trials)

    async def _accuracy(self, summary: dict[str, Any], scorer: Scorer) -> None:
        cfg = self.cfg
        queries = build_queries(self.prompts, cfg.accuracy_queries, cfg.seed, "accuracy")
        saver = VideoSaver(self.out / "videos", cfg)
        result = await self._phase(self._scenario_phase("accuracy", queries), cfg.delivery[0], True, saver)
        started = time.perf_counter()
        self.progress.phase("scoring", sum(r.ok for r in result.records))
        scored = score_records(result.records, scorer, self.progress.advance)
        (self.out / "accuracy_per_video.jsonl").write_text(
            "".join(json.dumps(row) + "\n" for row in scored["per_video"]), encoding="utf-8"
        )
        summary["accuracy"] = {
            **phase_summary(result.records, result.duration_s),
            "scores": scored["scores"],
            "scoring_s": time.perf_counter() - started,
            "client_encode_s_mean": _mean_extra(result.records, "client_encode_s"),
        }


async def _streaming(
    client: HttpClient,
    cfg: BenchConfig,
    prompts: list[Prompt],
    headers: dict[str, str],
    summary: dict[str, Any],
) -> list[SessionRecord]:
    if cfg.warmup:
        await run_sessions(client, build_queries(prompts, cfg.warmup, cfg.seed, "warmup"), cfg, headers)
    queries = build_queries(prompts, cfg.queries, cfg.seed, "streaming")
    started = time.monotonic_ns()
    sessions = await run_sessions(client, queries, cfg, headers)
    summary["streaming"] = streaming_summary(sessions, cfg.fps, (time.monotonic_ns() - started) / 1e9)
    summary["streaming"]["per_session"] = [
        {"query_id": s.query_id, "session_id": s.session_id, "ok": s.ok, **s.metrics(cfg.fps)}
        for s in sessions
    ]
    return sessions


def _mean_extra(records: list[QueryRecord], name: str) -> float | None:
    values = [r.extra[name] for r in records if name in r.extra]
    return sum(values) / len(values) if values else None


def _write_outputs(
    out: Path,
    summary: dict[str, Any],
    records: list[QueryRecord],
    anchor: ClockAnchor,
    main: PhaseResult | None,
    extra_events: list[dict[str, Any]],
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_events(out / "events.jsonl", records, anchor.mono_ns, extra_events)
    with (out / "queries.jsonl").open("w", encoding="utf-8") as file:
        for record in records:
            file.write(json.dumps(record.to_dict(anchor.mono_ns)) + "\n")
    plots = plot_all(out, main.records, summary["performance"]["throughput_series"]) if main else []
    summary["files"] = ["result_summary.json", "events.jsonl", "queries.jsonl", "report.md", *plots]
    text = json.dumps(_clean(summary), indent=2, allow_nan=False)
    (out / "result_summary.json").write_text(text, encoding="utf-8")
    write_report(out / "report.md", summary, plots)


def _clean(value: Any) -> Any:
    """NaN/inf → null and tuples → lists, so the file is strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value
