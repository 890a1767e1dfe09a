"""The live progress display (Rich) while queries run; silent when stderr is not a terminal."""

from __future__ import annotations

import sys
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

__all__ = ["LiveProgress"]


class LiveProgress:
    """``with LiveProgress(enabled) as p: p.phase("performance", 50); p.advance(ok=True)``."""

    def __init__(self, enabled: bool = True) -> None:
        console = Console(stderr=True)
        self.enabled = enabled and console.is_terminal and sys.stderr.isatty()
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("errors {task.fields[errors]}"),
            TimeElapsedColumn(),
            console=console,
            disable=not self.enabled,
        )
        self._task: TaskID | None = None
        self._errors = 0

    def __enter__(self) -> LiveProgress:
        self._progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.stop()

    def phase(self, name: str, total: int) -> None:
        self._errors = 0
        self._task = self._progress.add_task(name, total=total, errors=0)

    def advance(self, ok: bool) -> None:
        if self._task is None:
            return
        self._errors += 0 if ok else 1
        self._progress.update(self._task, advance=1, errors=self._errors)
