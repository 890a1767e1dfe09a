"""The ``reelserve`` command line: generate, jobs, models (and the sim, plan and bench tools)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from reelserve.cli_common import DataOpt, StoreOpt, cli_errors
from reelserve.core.errors import Conflict, InvalidInput, NotFound
from reelserve.core.records import GenerationSpec, Job, JobStatus

__all__ = ["app", "main"]

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Serve, run and measure video generation.")
jobs_app = typer.Typer(no_args_is_help=True, help="Inspect, resume and cancel jobs.")
models_app = typer.Typer(no_args_is_help=True, help="The model catalog.")
app.add_typer(jobs_app, name="jobs")
app.add_typer(models_app, name="models")

out = Console()
err = Console(stderr=True)


def _artifact_paths(dd: Any, job_id: str) -> dict[str, str]:
    return {
        a.name: str(dd.blobs.path(a.blob)) for a in dd.store.get_artifacts(job_id) if a.expires_at is None
    }


def _run(dd: Any, job: Job, *, quiet: bool = False, device: str | None = None) -> Job:
    """Claim ``job`` and run it to the end with a progress display."""
    from reelserve.cli_progress import RichProgress
    from reelserve.pipeline.runner import JobRunner

    runner = JobRunner(dd.store, dd.blobs, device=device)
    claimed = dd.store.claim_job(runner.worker_id, runner.lease_s, job_id=job.id)
    if claimed is None:
        raise Conflict(f"job {job.id} could not be claimed (another worker holds it)")
    if quiet:
        return runner.run(claimed)
    with RichProgress(err) as progress:
        return runner.run(claimed, progress)


def _report(dd: Any, job: Job, as_json: bool = False) -> None:
    from reelserve.cli_progress import print_job, timing_table
    from reelserve.engine.facts import engine_line, job_engine_facts

    stages = dd.store.get_stages(job.id)
    if as_json:
        out.print_json(json.dumps(_job_dict(dd, job, stages)))
        return
    if job.status is JobStatus.SUCCEEDED:
        out.print(timing_table(stages))
    print_job(out, job, stages, _artifact_paths(dd, job.id))
    if (line := engine_line(job_engine_facts(job, stages))) is not None:  # ran on a model worker
        out.print(f"  {line}")
    if job.output_path and job.status is JobStatus.SUCCEEDED:
        out.print(f"  output: [green]{job.output_path}[/]")


def _job_dict(dd: Any, job: Job, stages: list[Any] | None = None) -> dict[str, Any]:
    from reelserve.cli_progress import bottleneck_hint
    from reelserve.engine.facts import job_engine_facts
    from reelserve.pipeline.manifest import timing_split

    d: dict[str, Any] = {
        "id": job.id,
        "status": job.status.value,
        "progress": round(job.progress, 4),
        "kind": job.kind,
        "model": job.spec.get("model"),
        "project": job.project,
        "priority": job.priority.value,
        "attempts": job.attempts,
        "error": None if not job.error_code else {"code": job.error_code, "message": job.error_message},
        "created_at": job.created_at,
        "timings": job.timings,
        "output_path": job.output_path,
    }
    if stages is not None:
        split = timing_split(stages)
        d["stages"] = [
            {
                "stage": s.stage,
                "segment": s.segment,
                "status": s.status.value,
                "state": s.state,
                "timings": s.timings,
            }
            for s in stages
        ]
        d["time_split_s"] = split
        d["bottleneck"] = bottleneck_hint(split)
        d["artifacts"] = _artifact_paths(dd, job.id)
        d["engine"] = job_engine_facts(job, stages)  # worker, device, batch, preemptions, waits, quality
    return d


@app.command()
@cli_errors
def generate(
    prompt: Annotated[str, typer.Argument(help="What to generate (never logged).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the MP4.")] = Path("out.mp4"),
    frames: Annotated[int, typer.Option(help="Frame count (4k+1 for Wan).")] = 17,
    size: Annotated[str, typer.Option(help="WIDTHxHEIGHT, multiples of 16.")] = "256x256",
    steps: Annotated[int, typer.Option(help="Denoising steps.")] = 4,
    seed: Annotated[int, typer.Option()] = 0,
    model: Annotated[str, typer.Option(help="A catalog name (reelserve models list).")] = "tiny-wan",
    weights: Annotated[Path | None, typer.Option(help="Local diffusers weights directory.")] = None,
    guidance: Annotated[float, typer.Option(help="Classifier-free guidance scale (>1 enables it).")] = 1.0,
    negative: Annotated[str, typer.Option(help="Negative prompt.")] = "",
    fps: Annotated[int, typer.Option()] = 16,
    codec: Annotated[str, typer.Option(help="h264, h265, av1 or h264_nvenc.")] = "h264",
    crf: Annotated[int, typer.Option()] = 18,
    preset: Annotated[str, typer.Option()] = "medium",
    checkpoint_every: Annotated[int, typer.Option(help="Checkpoint latents every K steps (0 = never).")] = 2,
    segment_frames: Annotated[int, typer.Option(help="Frames per segment (0 = model max).")] = 0,
    key: Annotated[
        str | None, typer.Option(help="Idempotency key: the same key returns the same job.")
    ] = None,
    project: Annotated[str, typer.Option()] = "default",
    device: Annotated[
        str | None, typer.Option(help="cpu, cuda, cuda:1 ... (default: cuda if present).")
    ] = None,
    data: DataOpt = None,
    store: StoreOpt = None,
) -> None:
    """Generate a clip: an MP4, a thumbnail and a manifest, with the time split."""
    from reelserve.local import open_data_dir
    from reelserve.pipeline.submit import parse_size, submit_generation

    width, height = parse_size(size)
    spec = GenerationSpec(
        prompt=prompt,
        model=model,
        width=width,
        height=height,
        num_frames=frames,
        steps=steps,
        seed=seed,
        guidance_scale=guidance,
        negative_prompt=negative,
        fps=fps,
        codec=codec,
        crf=crf,
        preset=preset,
        checkpoint_every=checkpoint_every,
        segment_frames=segment_frames,
        weights=None if weights is None else str(weights.expanduser().resolve()),
    )
    _check_encoder_settings(spec)
    dd = open_data_dir(data, store)
    try:
        job, created = submit_generation(
            dd.store, spec, project=project, idempotency_key=key, output_path=output
        )
        err.print(f"job {job.id} ({'new' if created else 'existing'}) → {job.output_path}")
        if not job.status.terminal:
            job = _resume_one(dd, job, device=device)
        _report(dd, job)
        if job.status is not JobStatus.SUCCEEDED:
            raise typer.Exit(1)
    finally:
        dd.close()


def _check_encoder_settings(spec: GenerationSpec) -> None:
    from reelserve.media.codecs import EncodeSettings

    EncodeSettings(codec=spec.codec, crf=spec.crf, preset=spec.preset)


def _resume_one(dd: Any, job: Job, *, force: bool = False, device: str | None = None) -> Job:
    from reelserve.local import owner_is_dead

    if job.status is JobStatus.SUCCEEDED:
        return job
    if job.status is JobStatus.RUNNING and not force and not owner_is_dead(job.lease_owner):
        raise Conflict(f"job {job.id} is running in {job.lease_owner}; wait, or pass --force if it is stuck")
    if job.status is not JobStatus.QUEUED:
        job = dd.store.requeue(job.id)
    return _run(dd, job, device=device)


@jobs_app.command("list")
@cli_errors
def jobs_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
    status: Annotated[str | None, typer.Option(help="Only jobs with this status.")] = None,
    limit: Annotated[int, typer.Option()] = 100,
    data: DataOpt = None,
    store: StoreOpt = None,
) -> None:
    """Jobs, newest first."""
    from rich.table import Table

    from reelserve.local import open_data_dir

    statuses = None
    if status is not None:
        try:
            statuses = [JobStatus(status)]
        except ValueError:
            raise InvalidInput(
                f"unknown status {status!r}; valid: {', '.join(s.value for s in JobStatus)}"
            ) from None
    dd = open_data_dir(data, store)
    try:
        jobs = dd.store.list_jobs(status=statuses, limit=limit)
        if as_json:
            sys.stdout.write(json.dumps([_job_dict(dd, j) for j in jobs]) + "\n")
            return
        table = Table()
        table.add_column("id", no_wrap=True)
        for col in ("status", "progress", "model", "project", "error"):
            table.add_column(col)
        for j in jobs:
            table.add_row(
                j.id,
                j.status.value,
                f"{j.progress:.2f}",
                str(j.spec.get("model")),
                j.project,
                j.error_code or "",
            )
        out.print(table)
    finally:
        dd.close()


@jobs_app.command("show")
@cli_errors
def jobs_show(
    job_id: str,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    data: DataOpt = None,
    store: StoreOpt = None,
) -> None:
    """One job: stages, segments, checkpoints, timings and the bottleneck hint."""
    from reelserve.local import open_data_dir

    dd = open_data_dir(data, store)
    try:
        _report(dd, _get(dd, job_id), as_json)
    finally:
        dd.close()


def _get(dd: Any, job_id: str) -> Job:
    job = dd.store.get_job(job_id)
    if job is None:
        raise NotFound(f"no job {job_id}; see `reelserve jobs list`")
    return job


@jobs_app.command("resume")
@cli_errors
def jobs_resume(
    job_id: Annotated[str | None, typer.Argument()] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every unfinished job.")] = False,
    force: Annotated[bool, typer.Option(help="Take over a job whose owner looks alive.")] = False,
    device: Annotated[str | None, typer.Option()] = None,
    data: DataOpt = None,
    store: StoreOpt = None,
) -> None:
    """Finish interrupted jobs from their last checkpoints (only unfinished work is redone)."""
    from reelserve.local import open_data_dir, owner_is_dead

    if (job_id is None) == (not all_):
        raise InvalidInput("give a job id or --all (not both)")
    dd = open_data_dir(data, store)
    try:
        if job_id is not None:
            todo = [_get(dd, job_id)]
        else:
            pending = dd.store.list_jobs(
                status=[JobStatus.QUEUED, JobStatus.RUNNING], limit=10_000, order="asc"
            )
            todo = [j for j in pending if j.status is JobStatus.QUEUED or owner_is_dead(j.lease_owner)]
        failed = 0
        for job in todo:
            done = _resume_one(dd, job, force=force, device=device)
            _report(dd, done)
            failed += done.status is not JobStatus.SUCCEEDED
        if not todo:
            err.print("nothing to resume")
        if failed:
            raise typer.Exit(1)
    finally:
        dd.close()


@jobs_app.command("cancel")
@cli_errors
def jobs_cancel(job_id: str, data: DataOpt = None, store: StoreOpt = None) -> None:
    """Cancel a job; a running model stops at its next denoising step."""
    from reelserve.local import open_data_dir

    dd = open_data_dir(data, store)
    try:
        job = _get(dd, job_id)
        if job.status.terminal:
            raise Conflict(f"job {job_id} is already {job.status.value}")
        job = dd.store.finish_job(
            job_id, JobStatus.CANCELLED, error_code="cancelled", error_message="cancelled by the user"
        )
        out.print(f"{job.id} {job.status.value}")
    finally:
        dd.close()


@models_app.command("list")
@cli_errors
def models_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The model catalog as a table."""
    from rich.table import Table

    from reelserve.models.catalog import load_catalog

    cards = load_catalog()
    if as_json:
        sys.stdout.write(json.dumps([c.to_dict() for c in cards.values()]) + "\n")
        return
    table = Table(title="model catalog")
    table.add_column("name", no_wrap=True)
    for col in ("task", "family", "fps", "max frames", "steps", "params (B)", "memory GB", "weights"):
        table.add_column(col)
    for c in cards.values():
        table.add_row(
            c.name,
            c.task,
            c.family,
            str(c.native_fps),
            str(c.max_frames),
            f"{c.default_steps} (min {c.min_steps})",
            f"{c.params_b:g}",
            f"{c.memory_gb:g}",
            "built-in" if c.builtin else "--weights DIR",
        )
    out.print(table)


@models_app.command("build")
@cli_errors
def models_build(
    name: str, out_dir: Annotated[Path, typer.Option("--out", help="Directory to write.")]
) -> None:
    """Write a built-in model as a diffusers weights directory (loadable with --weights)."""
    from reelserve.models.catalog import get_card
    from reelserve.models.registry import load_model

    card = get_card(name)
    if not card.builtin:
        raise InvalidInput(f"{name} is not built in; only built-in models can be written")
    load_model(name).save_pretrained(out_dir)
    out.print(f"wrote {name} to {out_dir}")


def _mount_optional() -> None:
    """Mount the tools that live in their own packages (each owns its Typer app)."""
    import importlib

    for module, name in (
        ("reelserve.sim.cli", None),
        ("reelserve.bench.cli", None),
        ("reelserve.api.cli", None),
        ("reelserve.pipeline.analyze.cli", None),
        ("reelserve.models.profile_cli", None),
        ("reelserve.engine.cli", None),  # reelserve sessions list | show
    ):
        try:
            sub = importlib.import_module(module).app
        except (ImportError, AttributeError):
            continue
        app.add_typer(sub, name=name)


def main() -> None:
    _mount_optional()
    app()
