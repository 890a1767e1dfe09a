"""Write a file beside its target and rename it into place, so readers never see half a file."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

from reelserve.core.errors import MediaError

__all__ = ["atomic_target", "check_writable_dir", "commit", "discard", "temp_path_for"]


def check_writable_dir(path: Path) -> None:
    """Raise `MediaError` unless ``path``'s directory exists and is writable (checked before any work)."""
    parent = path.parent
    if not parent.is_dir():
        raise MediaError(f"cannot write {path}: directory {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise MediaError(f"cannot write {path}: directory {parent} is not writable; choose another path")


def temp_path_for(target: Path) -> Path:
    """A fresh temporary name in ``target``'s directory (same filesystem, so the rename is atomic)."""
    check_writable_dir(target)
    # A leading dot hides the partial file from listings that skip dotfiles; the suffix marks it partial.
    return target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.part")


def commit(tmp: Path, target: Path) -> None:
    """Atomically move the finished ``tmp`` onto ``target`` (replacing an older file there)."""
    os.replace(tmp, target)


def discard(tmp: Path) -> None:
    """Remove a partial file; a file that was never created is fine."""
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()


@contextlib.contextmanager
def atomic_target(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    On any exception the temporary file is removed and the exception propagates; an existing
    file at ``path`` is left untouched.
    """
    target = Path(path)
    tmp = temp_path_for(target)
    try:
        yield tmp
        commit(tmp, target)
    except BaseException:
        discard(tmp)
        raise
