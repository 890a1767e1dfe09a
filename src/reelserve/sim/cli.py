"""``reelserve sim`` and ``reelserve plan``: a Typer app the main CLI mounts.

Input is validated here and handed inward as frozen dataclasses; our errors become a one-line
message and exit code 2 (bad input) or 1, never a traceback.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from reelserve.cli_common import cli_errors
from reelserve.core.errors import InvalidInput
from reelserve.sched.latency import Profile
from reelserve.sched.provision import (
    DEFAULT_GPUS,
    PLANNERS,
    PlanWorkload,
    ad_variants,
    make_result,
    podcast,
    workload_from_dict,
)
from reelserve.sched.provision.engine_config import PLAN_POLICY, policy_scheduling
from reelserve.sim.cluster import ClusterSpec
from reelserve.sim.policies import resolve_policy
from reelserve.sim.profiles import load_gpu_types, load_profile, profile_named
from reelserve.sim.report import write_report
from reelserve.sim.runner import SimConfig, run_sim
from reelserve.sim.seeds import sweep_seeds
from reelserve.sim.workload import JobShape, StreamingShape, Workload, WorkloadParams, build_workload

__all__ = ["app", "plan_command", "sim_command"]

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Cluster simulator and provisioning planner."
)
out = Console()
err = Console(stderr=True)


def _numbers(text: str, kind: type[float] | type[int], option: str) -> tuple[Any, ...]:
    try:
        values = tuple(kind(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise InvalidInput(f"{option} takes comma-separated numbers, got {text!r}", param=option) from None
    if any(v <= 0 for v in values):
        raise InvalidInput(f"{option} values must be positive", param=option)
    return values


def _profile(spec: str) -> Profile:
    return load_profile(spec) if spec.endswith(".json") or Path(spec).exists() else profile_named(spec)


@app.command("sim")
@cli_errors
def sim_command(
    workload: Annotated[str, typer.Option(help="streaming, batch, dag or trace.")] = "streaming",
    gpus: Annotated[int, typer.Option(help="GPU budget (1..1024).")] = 64,
    gpu_type: Annotated[str, typer.Option(help="A100, H100, H200, B200 or B300.")] = "B300",
    policies: Annotated[str, typer.Option(help="Comma-separated; compose with '+'.")] = "static,closed-loop",
    seed: Annotated[int, typer.Option(help="Seeds the workload and spot evictions.")] = 1,
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for summary.json and the report.")] = Path(
        "sim-out"
    ),
    sessions: Annotated[int, typer.Option(help="Streaming: sessions.")] = 5000,
    hours: Annotated[float, typer.Option(help="Streaming: horizon.")] = 1.0,
    burstiness: Annotated[
        float, typer.Option(help="Streaming: arrival-rate modulation (0 = Poisson).")
    ] = 2.0,
    burst_window_s: Annotated[float, typer.Option(help="Streaming: seconds of constant rate.")] = 300.0,
    mean_active_s: Annotated[
        float, typer.Option(help="Streaming: mean generating time per session.")
    ] = 180.0,
    tail_alpha: Annotated[float, typer.Option(help="Streaming: Pareto shape of session length.")] = 1.6,
    mean_stretch_s: Annotated[float, typer.Option(help="Streaming: mean active stretch.")] = 45.0,
    mean_idle_s: Annotated[float, typer.Option(help="Streaming: mean idle gap.")] = 20.0,
    prompt_changes_per_min: Annotated[
        float, typer.Option(help="Streaming: prompt changes per minute.")
    ] = 0.5,
    resolution: Annotated[str, typer.Option(help="Streaming: 360p, 480p, 720p, 1080p, 4K.")] = "720p",
    compute_units: Annotated[float, typer.Option(help="Streaming: relative model cost.")] = 1.5,
    big_share: Annotated[float, typer.Option(help="Streaming: share of sessions on a 2x model.")] = 0.0,
    count: Annotated[int, typer.Option(help="Batch: variants.")] = 10_000,
    deadline_h: Annotated[float, typer.Option(help="Batch: hours until due.")] = 8.0,
    videos: Annotated[int, typer.Option(help="DAG: videos.")] = 20,
    minutes: Annotated[float, typer.Option(help="DAG: minutes per video.")] = 10.0,
    trace: Annotated[str | None, typer.Option(help="Trace file (.csv/.jsonl) for --workload trace.")] = None,
    profile: Annotated[str, typer.Option(help="Profile name or JSON file (job workloads).")] = "wan-14b",
    spot_share: Annotated[float, typer.Option(help="Share of GPUs rented as spot.")] = 0.0,
    per_gpu: Annotated[float, typer.Option(help="Autoscaler target sessions per GPU.")] = 4.0,
    capacity: Annotated[int, typer.Option(help="Sessions per coalesced batch.")] = 8,
    memory_slots: Annotated[int, typer.Option(help="Resident sessions per GPU.")] = 16,
    startup_s: Annotated[float, typer.Option(help="Seconds a new GPU takes to serve.")] = 10.0,
    deadline_ms: Annotated[float, typer.Option(help="Per-chunk latency target.")] = 1000.0,
    warmup_s: Annotated[float, typer.Option(help="Latency is measured after this many seconds.")] = 120.0,
    chunk_target_ms: Annotated[
        float, typer.Option(help="slo: admit past capacity within this predicted chunk latency (0 = off).")
    ] = 0.0,
    ttff_target_s: Annotated[
        float, typer.Option(help="slo: an opening chunk's deadline after arrival (0 = --deadline-ms).")
    ] = 0.0,
    frontier: Annotated[
        str, typer.Option(help="Budgets to sweep for non-autoscaled policies, e.g. 32,48,64.")
    ] = "",
    frontier_per_gpu: Annotated[str, typer.Option(help="Per-GPU targets to sweep for autoscaled ones.")] = "",
    frontier_budgets: Annotated[
        str, typer.Option(help="More budgets (max GPUs) to sweep for autoscaled ones, at --per-gpu.")
    ] = "",
    frontier_chunk_targets: Annotated[
        str, typer.Option(help="Chunk targets (ms) to sweep for slo policies, at each per-GPU target.")
    ] = "",
    plots: Annotated[bool, typer.Option(help="Write PNG plots (needs matplotlib).")] = True,
    parallel: Annotated[int, typer.Option("--jobs", help="Seed sweep: seeds simulated at once.")] = 1,
    seeds: Annotated[
        str, typer.Option(help="Repeat the frontier sweep per seed (e.g. 1,2,3,4,5); writes seeds.json.")
    ] = "",
) -> None:
    """Simulate a workload on a virtual cluster under each policy; write summary.json and report.md."""
    names = tuple(p.strip() for p in policies.split(",") if p.strip())
    for name in names:
        resolve_policy(name)
    cluster = ClusterSpec(
        gpus=gpus,
        gpu=gpu_type,
        spot_share=spot_share,
        capacity=capacity,
        memory_slots=memory_slots,
        per_gpu=per_gpu,
        startup_s=startup_s,
        deadline_ms=deadline_ms,
        warmup_s=warmup_s,
        chunk_target_ms=chunk_target_ms,
        ttff_target_s=ttff_target_s,
    )
    shape = StreamingShape(
        sessions, hours, burstiness, burst_window_s, mean_active_s, tail_alpha, mean_stretch_s, mean_idle_s,
        prompt_changes_per_min, resolution=resolution, compute_units=compute_units, big_share=big_share,
    )  # fmt: skip
    jobs = JobShape(count=count, deadline_h=deadline_h, videos=videos, minutes=minutes)
    params = WorkloadParams(shape, jobs, trace)
    cfg = SimConfig(
        cluster,
        names,
        seed,
        _profile(profile),
        _numbers(frontier, int, "--frontier") if frontier else (),
        _numbers(frontier_per_gpu, float, "--frontier-per-gpu") if frontier_per_gpu else (),
        _numbers(frontier_budgets, int, "--frontier-budgets") if frontier_budgets else (),
        _numbers(frontier_chunk_targets, float, "--frontier-chunk-targets") if frontier_chunk_targets else (),
    )
    if seeds:
        seed_list = tuple(int(s) for s in _numbers(seeds, int, "--seeds"))
        if parallel < 1:
            raise InvalidInput("--jobs must be >= 1", param="jobs")
        _seed_sweep(partial(build_workload, workload, params), cfg, seed_list, out_dir, parallel)
        return
    summary, runs = run_sim(build_workload(workload, params, seed), cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    report = write_report(out_dir, summary, runs, "reelserve " + shlex.join(sys.argv[1:]), plots=plots)
    for r in runs:
        s = r.summary
        out.print(
            f"{r.policy:>20}: worst {s['worst_chunk_latency_s']:.3f} s  "
            f"p99 {s['p99_chunk_latency_s']:.3f} s  "
            f"miss {s['deadline_miss_rate']:.2%}  {s['gpu_hours']:.1f} GPU-h  ${s['cost_usd']:.2f}  "
            f"({r.wall_s:.1f} s)"
        )
    out.print(f"wrote {out_dir / 'summary.json'} and {report}")


def _plan_workload(
    preset: str, workload_file: Path | None, overrides: dict[str, Any], knobs: dict[str, Any]
) -> PlanWorkload:
    if workload_file is not None:
        try:
            data = json.loads(workload_file.read_text())
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"cannot read {workload_file}: {exc}", param="workload_file") from exc
        return workload_from_dict({**data, **overrides})
    if preset == "podcast":
        base = podcast(knobs["minutes"], knobs["quality"], knobs["ttff"])
    elif preset == "ads":
        base = ad_variants(knobs["count"], knobs["deadline_h"], knobs["resolution"])
    else:
        raise InvalidInput(
            f"unknown preset {preset!r}; use podcast or ads, or --workload-file", param="preset"
        )
    fields = {f: getattr(base, f) for f in base.__dataclass_fields__}
    return PlanWorkload(**{**fields, **overrides})


def _seed_sweep(
    build: Callable[[int], Workload], cfg: SimConfig, seeds: tuple[int, ...], out_dir: Path, jobs: int
) -> None:
    doc, summaries = sweep_seeds(build, cfg, seeds, jobs=jobs)
    out_dir.mkdir(parents=True, exist_ok=True)
    for seed, summary in zip(seeds, summaries, strict=True):
        (out_dir / f"seed-{seed}").mkdir(exist_ok=True)
        (out_dir / f"seed-{seed}" / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
    (out_dir / "seeds.json").write_text(json.dumps(doc, indent=2) + "\n")
    for c in doc["comparisons"]:
        cut, cost = c["cut_at_equal_cost"], c["cost_cut_at_equal_target"]
        out.print(
            f"{c['policy']:>20} {c['metric']:>22}: cut at equal cost {_pm(cut)}, "
            f"cost cut at equal target {_pm(cost)} (latency only), "
            f"{_pm(c['cost_cut_at_equal_service'])} (equal service) over {len(seeds)} seeds"
        )
    out.print(f"wrote {out_dir / 'seeds.json'}")


def _pm(s: dict[str, Any]) -> str:
    if s["mean"] is None:
        return "n/a"
    return f"{s['mean']:.1%} ± {s['std']:.1%} (min {s['min']:.1%}, n {s['n']})"


@app.command("plan")
@cli_errors
def plan_command(
    preset: Annotated[
        str, typer.Option(help="podcast (StreamWise-style video) or ads (variants by a deadline).")
    ] = "podcast",
    workload_file: Annotated[
        Path | None, typer.Option(help="JSON workload (fields of PlanWorkload).")
    ] = None,
    minutes: Annotated[float, typer.Option(help="podcast: video minutes.")] = 10.0,
    quality: Annotated[str, typer.Option(help="podcast: low, medium or high.")] = "medium",
    ttff: Annotated[float | None, typer.Option(help="Time-to-first-frame limit, seconds.")] = None,
    count: Annotated[int, typer.Option(help="ads: variants.")] = 5000,
    deadline_h: Annotated[float | None, typer.Option(help="Makespan limit, hours.")] = None,
    resolution: Annotated[str, typer.Option(help="ads: 480p, 720p or 1080p.")] = "720p",
    gpu_types: Annotated[
        str, typer.Option(help="Comma-separated GPU types to choose from.")
    ] = "A100,H100,H200,B200,B300",
    gpu_file: Annotated[
        Path | None, typer.Option(help="JSON GPU table (speed, prices) to use instead.")
    ] = None,
    spot: Annotated[bool, typer.Option(help="Allow spot GPUs.")] = True,
    max_spot_share: Annotated[float, typer.Option(help="Most of the GPUs that may be spot.")] = 0.5,
    max_gpus: Annotated[int, typer.Option(help="Most GPUs in all.")] = 1024,
    objective: Annotated[str | None, typer.Option(help="cost_x_ttff or cost_deadline.")] = None,
    method: Annotated[str, typer.Option(help="greedy, milp or both.")] = "both",
    policy: Annotated[
        str,
        typer.Option(
            help="The scheduling policy the engine runs the plan with: closed-loop (streams-first "
            "ordering, headroom 1), closed-loop+slo (edf on each chunk's deadline, headroom 1, the "
            "workload's --ttff as the TTFF target), turboserve or static (edf, no headroom)."
        ),
    ] = PLAN_POLICY,
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the plan config (JSON).")] = Path(
        "plan.json"
    ),
) -> None:
    """Choose GPU types and counts, variants, replicas and spot share for a workload; write the config."""
    methods = ("greedy", "milp") if method == "both" else (method,)
    for m in methods:
        PLANNERS.get(m)
    policy_scheduling(policy)  # an unknown policy is a usage error before anything is planned
    catalog = load_gpu_types(gpu_file) if gpu_file is not None else dict(DEFAULT_GPUS)
    overrides: dict[str, Any] = {
        "gpu_types": tuple(g.strip() for g in gpu_types.split(",") if g.strip()),
        "allow_spot": spot,
        "max_spot_share": max_spot_share,
        "max_gpus": max_gpus,
        "catalog": catalog,
    }
    if ttff is not None:
        overrides["ttff_s"] = ttff
    if deadline_h is not None:
        overrides["deadline_s"] = deadline_h * 3600.0
    if objective is not None:
        overrides["objective"] = objective
    knobs: dict[str, Any] = {"minutes": minutes, "quality": quality, "ttff": 5.0 if ttff is None else ttff}
    knobs |= {
        "count": count,
        "deadline_h": 12.0 if deadline_h is None else deadline_h,
        "resolution": resolution,
    }
    if (ttff is not None and ttff <= 0) or (deadline_h is not None and deadline_h <= 0) or count <= 0:
        raise InvalidInput("--ttff, --deadline-h and --count must be positive")
    w = _plan_workload(preset, workload_file, overrides, knobs)
    results = _run_planners(w, methods, policy)
    feasible = [r for r in results.values() if r.get("feasible")]
    if not feasible:
        limits = [
            f"{name} {value:g} s" for name, value in (("deadline", w.deadline_s), ("TTFF", w.ttff_s)) if value
        ]
        raise InvalidInput(
            f"no plan meets the limits of {w.name} ({', '.join(limits) or 'none'}) within {w.max_gpus} GPUs "
            f"of {', '.join(w.gpu_types)}; relax the deadline/TTFF or allow more GPUs",
            param="deadline",
        )
    best = min(feasible, key=lambda r: float(r["objective"]))
    doc = {
        "workload": w.name,
        "objective": w.objective,
        "chosen": best["method"],
        "plan": best,
        "methods": results,
    }
    out_file.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    _print_plans(results)
    out.print(f"chose {best['method']}; wrote {out_file}")


def _run_planners(w: PlanWorkload, methods: tuple[str, ...], policy: str) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    for m in methods:
        start, cpu = time.perf_counter(), time.process_time()
        stages, gap, iters = PLANNERS.get(m)(w)
        ms = (time.perf_counter() - start) * 1000
        cpu_ms = round((time.process_time() - cpu) * 1000, 1)  # wall time includes waiting for a core
        if stages is None:
            results[m] = {"method": m, "feasible": False, "solve_ms": round(ms, 1), "solve_cpu_ms": cpu_ms}
        else:
            result = make_result(m, w, stages, ms, gap, iters, policy=policy)
            results[m] = {**result.to_config(), "solve_cpu_ms": cpu_ms}
    return results


def _print_plans(results: dict[str, dict[str, Any]]) -> None:
    for r in results.values():
        if not r.get("feasible"):
            out.print(f"{r['method']:>6}: infeasible")
            continue
        gap = "" if r["mip_gap"] is None else f"  gap {r['mip_gap']:.2%}"
        out.print(
            f"{r['method']:>6}: {r['replicas_by_gpu']}  ${r['expected_cost_usd']:.2f}  makespan "
            f"{r['makespan_s']:.0f} s  TTFF {r['ttff_s']:.1f} s  spot {r['spot_share']:.0%}  "
            f"({r['solve_ms']:.0f} ms{gap})"
        )
