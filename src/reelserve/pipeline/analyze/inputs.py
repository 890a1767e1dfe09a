"""Where an analysis's videos come from: uploads (kept as blobs), blob references, allowed local paths.

Local paths are read by the server, so over HTTP they are refused unless they lie under a directory
listed in ``REELSERVE_ANALYZE_ROOTS`` (``os.pathsep``-separated); the CLI reads any file the user can.
A blob reference (sha256) resolves only to an artifact of a job in the caller's own project.
"""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa

from reelserve.core.errors import Forbidden, InvalidInput, NotFound
from reelserve.store.schema import artifacts, jobs

__all__ = ["ROOTS_ENV", "allowed_path", "find_blob"]

ROOTS_ENV = "REELSERVE_ANALYZE_ROOTS"


def allowed_path(raw: str) -> Path:
    """``raw`` resolved, if it is an existing file under an allowed root; else a clear error."""
    roots = [Path(r).expanduser().resolve() for r in os.environ.get(ROOTS_ENV, "").split(os.pathsep) if r]
    if not roots:
        raise Forbidden(f"local paths are disabled on this server; upload the video, or set {ROOTS_ENV}")
    path = Path(raw).expanduser().resolve()
    if not any(path.is_relative_to(root) for root in roots):
        raise Forbidden(f"{raw} is outside the directories this server may read", param="videos")
    if not path.is_file():
        raise InvalidInput(f"no such video file: {raw}", param="videos")
    return path


def find_blob(engine: sa.Engine, project: str, sha256: str) -> Path:
    """The stored file of blob ``sha256`` if an artifact of ``project`` references it."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise InvalidInput("a blob reference is a lowercase hex sha256 (64 characters)", param="videos")
    query = (
        sa.select(artifacts.c.path)
        .join(jobs, jobs.c.id == artifacts.c.job_id)
        .where(artifacts.c.sha256 == sha256, jobs.c.project == project)
        .limit(1)
    )
    with engine.connect() as conn:
        path = conn.scalar(query)
    if path is None or not Path(path).is_file():
        raise NotFound(f"no blob {sha256[:12]}… in this project", param="videos")
    return Path(path)
