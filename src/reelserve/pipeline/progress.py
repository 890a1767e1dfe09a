"""Progress events from running stages (the CLI draws them with Rich; the engine stores them)."""

from __future__ import annotations

from typing import Protocol

__all__ = ["NullProgress", "ProgressSink"]


class ProgressSink(Protocol):
    """Receives progress; a failing sink must never fail the job, so implementations swallow errors."""

    def stage_started(self, name: str, total: int) -> None: ...

    def advance(self, name: str, completed: int) -> None: ...

    def stage_finished(self, name: str) -> None: ...


class NullProgress:
    def stage_started(self, name: str, total: int) -> None:
        pass

    def advance(self, name: str, completed: int) -> None:
        pass

    def stage_finished(self, name: str) -> None:
        pass
