"""What every ``reelserve`` sub-command shares: the error boundary and the data-directory options.

Imports nothing heavy (no torch, no database), so the pure tools (``sim``, ``plan``) can use it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from reelserve.core.errors import InvalidInput, ReelserveError

__all__ = ["DataOpt", "StoreOpt", "cli_errors", "err"]

F = TypeVar("F", bound=Callable[..., Any])
err = Console(stderr=True)

DataOpt = Annotated[
    str | None, typer.Option("--data", help="Data directory (default $REELSERVE_DATA or ./reelserve-data).")
]
StoreOpt = Annotated[
    str | None, typer.Option("--store", help="Metadata store URL (default: SQLite in the data dir).")
]


def cli_errors(fn: F) -> F:
    """Our errors → one line on stderr and exit 2 (bad input) or 1; never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ReelserveError as exc:
            err.print(f"[red]error[/] ({exc.code}): {exc.message}", highlight=False)
            raise typer.Exit(2 if isinstance(exc, InvalidInput) else 1) from None

    return wrapper  # type: ignore[return-value]
