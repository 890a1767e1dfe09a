"""Export indexed analyses for downstream systems: JSONL (one video per line) or Parquet.

JSONL carries each stored result as is. Parquet has one row per video with typed columns: scalars,
``shot_boundaries`` and ``samples`` as lists of structs, ``embedding`` as list<float32>. Nested
sample fields that vary by task (labels, objects, moderation) are JSON strings inside the struct, so
the schema does not depend on which tasks ran. Files are written to a temporary name and renamed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from reelserve.core.errors import InvalidInput

__all__ = ["FORMATS", "export", "parquet_schema"]

FORMATS = ("jsonl", "parquet")


def parquet_schema() -> Any:
    import pyarrow as pa

    sample = pa.struct(
        [
            ("time_s", pa.float64()),
            ("caption", pa.string()),
            ("labels", pa.string()),
            ("objects", pa.string()),
            ("moderation", pa.string()),
        ]
    )
    boundary = pa.struct([("time_s", pa.float64()), ("frame", pa.int64()), ("score", pa.float64())])
    return pa.schema(
        [
            ("id", pa.string()),
            ("job_id", pa.string()),
            ("video", pa.string()),
            ("status", pa.string()),
            ("error_code", pa.string()),
            ("error_message", pa.string()),
            ("duration_s", pa.float64()),
            ("fps", pa.float64()),
            ("width", pa.int64()),
            ("height", pa.int64()),
            ("codec", pa.string()),
            ("latency_s", pa.float64()),
            ("indexed_at", pa.float64()),
            ("shot_boundaries", pa.list_(boundary)),
            ("samples", pa.list_(sample)),
            ("embedding", pa.list_(pa.float32())),
        ]
    )


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True)


def _row(video: dict[str, Any]) -> dict[str, Any]:
    error = video.get("error") or {}
    samples = [
        {
            "time_s": s.get("time_s"),
            "caption": s.get("caption"),
            "labels": _dumps(s.get("labels")),
            "objects": _dumps(s.get("objects")),
            "moderation": _dumps(s.get("moderation")),
        }
        for s in video.get("samples") or []
    ]
    row = {name: video.get(name) for name in parquet_schema().names}
    row.update(
        error_code=error.get("code"),
        error_message=error.get("message"),
        samples=samples,
        shot_boundaries=video.get("shot_boundaries") or [],
        embedding=video.get("embedding"),
    )
    return row


def export(videos: Iterable[dict[str, Any]], path: str | os.PathLike[str], fmt: str) -> int:
    """Write ``videos`` (results as stored in the index) to ``path``; returns how many were written."""
    if fmt not in FORMATS:
        raise InvalidInput(
            f"unknown export format {fmt!r}; valid formats: {', '.join(FORMATS)}", param="format"
        )
    target = Path(path)
    if not target.parent.is_dir():
        raise InvalidInput(f"output directory {target.parent} does not exist", param="output")
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        count = _write_jsonl(videos, tmp) if fmt == "jsonl" else _write_parquet(videos, tmp)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return count


def _write_jsonl(videos: Iterable[dict[str, Any]], path: Path) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for video in videos:
            out.write(json.dumps(video, sort_keys=True) + "\n")
            count += 1
    return count


def _write_parquet(videos: Iterable[dict[str, Any]], path: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [_row(v) for v in videos]
    pq.write_table(pa.Table.from_pylist(rows, schema=parquet_schema()), str(path))
    return len(rows)
