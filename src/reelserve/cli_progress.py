"""Rich rendering for the CLI: a progress bar per stage and per denoising step, and job summaries."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from reelserve.core.records import Job, StageRecord
from reelserve.pipeline.report import bottleneck_hint, timing_split

__all__ = ["RichProgress", "bottleneck_hint", "print_job", "timing_table"]

STAGE_ORDER = {"generate": 0, "encode": 1, "finalize": 2}


class RichProgress:
    """A ``ProgressSink`` drawing one bar per stage; drawing errors never reach the job."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description:>14}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def stage_started(self, name: str, total: int) -> None:
        if name not in self.tasks:
            self.tasks[name] = self.progress.add_task(name, total=total)

    def advance(self, name: str, completed: int) -> None:
        if name in self.tasks:
            self.progress.update(self.tasks[name], completed=completed)

    def stage_finished(self, name: str) -> None:
        if name in self.tasks:
            task = self.progress.tasks[self.tasks[name]]
            self.progress.update(self.tasks[name], completed=task.total)


def timing_table(stages: list[StageRecord]) -> Table:
    split = timing_split(stages)
    table = Table(title="time split", show_header=True)
    table.add_column("phase")
    table.add_column("seconds", justify="right")
    table.add_column("share", justify="right")
    total = split["total"] or 1.0
    for key, label in (
        ("load", "model load*"),
        ("text", "text encoding"),
        ("denoise", "denoising"),
        ("vae_decode", "VAE decode"),
        ("encode", "encode"),
        ("pictures", "thumbnail + spritesheet"),
        ("io", "storage"),
    ):
        value = split.get(key, 0.0)
        table.add_row(label, f"{value:.3f}", f"{100 * value / total:.1f}%")
    table.add_row("total", f"{split['total']:.3f}", "100%")
    table.caption = "* once per worker process; not part of the job's total"
    return table


def print_job(console: Console, job: Job, stages: list[StageRecord], artifacts: dict[str, Any]) -> None:
    console.print(
        f"[bold]{job.id}[/] {job.status.value} progress={job.progress:.2f} model={job.spec.get('model')}"
    )
    if job.error_code:
        console.print(f"  error: [red]{job.error_code}[/]: {job.error_message}")
    table = Table(show_header=True)
    for col in ("stage", "segment", "status", "attempt", "checkpoint", "seconds"):
        table.add_column(col)
    for rec in sorted(stages, key=lambda r: (STAGE_ORDER.get(r.stage, 99), r.segment)):
        ckpt = f"step {rec.state['step']}" if "step" in rec.state else (rec.output_sha256 or "")[:12]
        table.add_row(
            rec.stage,
            str(rec.segment),
            rec.status.value,
            str(rec.attempt),
            ckpt,
            f"{sum(rec.timings.values()):.3f}",
        )
    console.print(table)
    for name, path in artifacts.items():
        console.print(f"  {name}: {path}", soft_wrap=True, highlight=False)
    console.print(f"  bottleneck: {bottleneck_hint(timing_split(stages))}")
