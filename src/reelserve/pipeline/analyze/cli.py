"""``reelserve analyze / search / export / index-stats``: video understanding from the command line.

Mounted into the main CLI by ``_mount_optional``. An analysis is a durable ``analyze`` job in the data
directory's store (so ``reelserve jobs resume`` finishes an interrupted one, redoing only unfinished
videos); its results are indexed for ``search`` and ``export``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from reelserve.cli_common import DataOpt, StoreOpt, cli_errors
from reelserve.core.errors import Conflict
from reelserve.core.records import JobStatus

__all__ = ["app"]

app = typer.Typer(add_completion=False, help="Analyse videos: shots, labels, objects, captions, embeddings.")
out = Console()
err = Console(stderr=True)

WeightsOpt = Annotated[
    Path | None, typer.Option("--weights-dir", help="DIR with one save_pretrained sub-directory per task.")
]


@app.command("analyze")
@cli_errors
def analyze(
    videos: Annotated[list[Path], typer.Argument(help="Video files to analyse.")],
    tasks: Annotated[
        str, typer.Option(help="Comma list of shots,labels,objects,captions,embed,moderation.")
    ] = ("shots,labels"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON on stdout.")] = False,
    fps: Annotated[float, typer.Option(help="Frames sampled per second for the frame tasks.")] = 1.0,
    chunk_seconds: Annotated[
        float, typer.Option(help="Time chunk length (cut at the next keyframe).")
    ] = 10.0,
    mode: Annotated[
        str, typer.Option(help="chunked (one call per chunk) or combined (one per video).")
    ] = "chunked",
    batch_size: Annotated[int, typer.Option(help="Frames per forward pass.")] = 8,
    weights_dir: WeightsOpt = None,
    decoders: Annotated[int, typer.Option(help="Decode worker threads.")] = 2,
    decode_threads: Annotated[int, typer.Option(help="FFmpeg threads per decoder (0 = automatic).")] = 1,
    shot_detector: Annotated[
        str, typer.Option(help="content (PySceneDetect) or learned (ShotNet).")
    ] = "content",
    device: Annotated[str | None, typer.Option(help="cpu, cuda, ... (default: cuda if present).")] = None,
    model_threads: Annotated[int, typer.Option(help="torch CPU threads (0 = torch default).")] = 0,
    project: Annotated[str, typer.Option()] = "default",
    key: Annotated[
        str | None, typer.Option(help="Idempotency key: the same key returns the same job.")
    ] = None,
    data: DataOpt = None,
    store: StoreOpt = None,
) -> None:
    """Analyse videos; results per video with timestamps (shot boundaries in seconds)."""
    from reelserve.local import open_data_dir
    from reelserve.pipeline.analyze.job import job_results, submit_analysis
    from reelserve.pipeline.analyze.spec import AnalyzeSpec, parse_tasks

    spec = AnalyzeSpec(
        tasks=parse_tasks(tasks),
        fps=fps,
        chunk_seconds=chunk_seconds,
        mode=mode,
        batch_size=batch_size,
        decoders=decoders,
        decode_threads=decode_threads,
        shot_detector=shot_detector,
        weights_dir=None if weights_dir is None else str(weights_dir.expanduser().resolve()),
        device=device,
        model_threads=model_threads,
    )
    with open_data_dir(data, store) as dd:
        job, _ = submit_analysis(dd.store, videos, spec, project=project, idempotency_key=key)
        if not job.status.terminal:
            job = _run(dd, job, quiet=as_json)
        results = job_results(dd.store, dd.blobs, job.id)
    if as_json:
        sys.stdout.write(json.dumps({"id": job.id, "status": job.status.value, "videos": results}) + "\n")
    else:
        _print_results(job.id, results)
    if job.status is not JobStatus.SUCCEEDED or any(r.get("status") == "failed" for r in results):
        raise typer.Exit(1)


def _run(dd: Any, job: Any, *, quiet: bool) -> Any:
    from reelserve.cli_progress import RichProgress
    from reelserve.pipeline.runner import JobRunner

    runner = JobRunner(dd.store, dd.blobs)
    claimed = dd.store.claim_job(runner.worker_id, runner.lease_s, job_id=job.id)
    if claimed is None:
        raise Conflict(f"analysis {job.id} is running elsewhere; see `reelserve jobs show {job.id}`")
    if quiet:
        return runner.run(claimed)
    with RichProgress(err) as progress:
        return runner.run(claimed, progress)


def _print_results(job_id: str, results: list[dict[str, Any]]) -> None:
    table = Table(title=f"analysis {job_id}")
    for col in ("video", "status", "duration", "shot boundaries (s)", "first label", "first caption"):
        table.add_column(col)
    for r in results:
        samples = r.get("samples") or [{}]
        labels = samples[0].get("labels") or [{}]
        cuts = ", ".join(f"{b['time_s']:.3f}" for b in r.get("shot_boundaries") or [])
        error = (r.get("error") or {}).get("message", "")
        table.add_row(
            Path(r["video"]).name,
            r["status"] if not error else f"{r['status']}: {error}",
            f"{r.get('duration_s') or 0:.2f}s",
            cuts,
            str(labels[0].get("label", "")),
            str(samples[0].get("caption", "")),
        )
    out.print(table)


@app.command("search")
@cli_errors
def search(
    query: Annotated[str, typer.Argument(help="Words to look for in captions and labels.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    limit: Annotated[int, typer.Option(help="Hits per kind.")] = 10,
    weights_dir: WeightsOpt = None,
    data: DataOpt = None,
    store: StoreOpt = None,
) -> None:
    """Full-text hits in captions and labels, and nearest frames by text embedding."""
    from reelserve.local import open_data_dir
    from reelserve.pipeline.analyze.search import search_index

    with open_data_dir(data, store) as dd:
        hits = search_index(dd.store.engine, query, limit=limit, weights_dir=weights_dir)
    if as_json:
        sys.stdout.write(json.dumps(hits) + "\n")
        return
    table = Table(title=f"search: {query}")
    for col in ("match", "video", "time (s)", "text / score"):
        table.add_column(col)
    for hit in hits["text"]:
        table.add_row(hit["kind"], Path(hit["source"]).name, f"{hit['time_s'] or 0:.2f}", hit["text"])
    for hit in hits["vector"]:
        table.add_row(
            "embedding", Path(hit["source"]).name, f"{hit['time_s'] or 0:.2f}", f"{hit['score']:.3f}"
        )
    out.print(table)


@app.command("export")
@cli_errors
def export_cmd(
    output: Annotated[Path, typer.Option("-o", "--output", help="File to write.")],
    fmt: Annotated[str, typer.Option("--format", help="jsonl or parquet.")] = "jsonl",
    data: DataOpt = None,
    store: StoreOpt = None,
) -> None:
    """Export every indexed analysis (one record per video) to JSONL or Parquet."""
    from reelserve.local import open_data_dir
    from reelserve.pipeline.analyze.export import export
    from reelserve.store.index import AnalysisIndex

    with open_data_dir(data, store) as dd:
        count = export(AnalysisIndex(dd.store.engine).videos(), output.expanduser().resolve(), fmt)
    err.print(f"wrote {count} videos to {output}")


@app.command("index-stats")
@cli_errors
def index_stats(data: DataOpt = None, store: StoreOpt = None) -> None:
    """Index freshness and per-video latency (JSON)."""
    from reelserve.local import open_data_dir
    from reelserve.store.index import AnalysisIndex

    with open_data_dir(data, store) as dd:
        sys.stdout.write(json.dumps(AnalysisIndex(dd.store.engine).metrics()) + "\n")
