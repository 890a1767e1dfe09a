"""The analysis index on SQLite and PostgreSQL: full-text search, nearest neighbours, metrics, exports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from reelserve.core.errors import InvalidInput
from reelserve.pipeline.analyze.export import export
from reelserve.store import AnalysisIndex, SqlStore

EMBED = {"model": "tiny-clip", "weights_sha256": "ab" * 32}


def _result(video: str, captions: list[str], labels: list[str], vectors: np.ndarray) -> dict:
    samples = [
        {"time_s": float(i), "caption": c, "labels": [{"label": lab, "score": 0.9}]}
        for i, (c, lab) in enumerate(zip(captions, labels, strict=True))
    ]
    mean = vectors.mean(0)
    return {
        "video": video,
        "status": "succeeded",
        "error": None,
        "duration_s": float(len(captions)),
        "samples": samples,
        "shot_boundaries": [{"time_s": 1.0, "frame": 24, "score": 40.0}],
        "models": {"embed": EMBED},
        "embedding": (mean / np.linalg.norm(mean)).tolist(),
        "latency_s": 2.0 + len(video) % 3,
        "_embeddings": vectors,
    }


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, 16)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture
def filled(store: SqlStore) -> tuple[AnalysisIndex, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    index = AnalysisIndex(store.engine)
    vectors = {"a": _unit(rng, 2), "b": _unit(rng, 2), "c": _unit(rng, 3)}
    docs = {
        "j/0": ("/v/a.mp4", ["a dog running on the beach", "waves"], ["beach", "ocean"], vectors["a"]),
        "j/1": ("/v/b.mp4", ["a red car in a city street", "traffic"], ["city street", "car"], vectors["b"]),
        "k/0": (
            "/v/c.mp4",
            ["people dancing", "a crowd", "stage lights"],
            ["concert", "crowd", "stage"],
            vectors["c"],
        ),
    }
    for video_id, (source, captions, labels, vecs) in docs.items():
        index.put(video_id, _result(source, captions, labels, vecs), job_id=video_id[0], frame_vectors=vecs)
    return index, vectors


def test_full_text_finds_captions_and_labels(filled: tuple[AnalysisIndex, dict]) -> None:
    index, _ = filled
    hits = index.search_text("dogs run")  # stemming: dogs → dog, run → running
    assert [(h["video_id"], h["kind"], h["time_s"]) for h in hits] == [("j/0", "caption", 0.0)]
    street = index.search_text("city street")
    assert {h["video_id"] for h in street} == {"j/1"} and {h["kind"] for h in street} == {"caption", "label"}
    assert index.search_text("submarine") == []
    assert {h["video_id"] for h in index.search_text('crowd" (')} == {"k/0"}  # no FTS syntax from users
    with pytest.raises(InvalidInput):
        index.search_text("  !! ")


def test_nearest_neighbours_find_the_frame_and_the_video(filled: tuple[AnalysisIndex, dict]) -> None:
    index, vectors = filled
    space = f"tiny-clip@{'ab' * 6}"
    hits = index.nearest(vectors["c"][2], k=3, model=space)
    assert (hits[0]["video_id"], hits[0]["time_s"]) == ("k/0", 2.0) and hits[0]["score"] == pytest.approx(1.0)
    video_hits = index.nearest(vectors["b"].mean(0), k=1, model=space, videos_only=True)
    assert video_hits[0]["video_id"] == "j/1" and video_hits[0]["time_s"] is None
    assert index.nearest(vectors["a"][0], model="other@0") == []


def test_put_replaces_a_video(filled: tuple[AnalysisIndex, dict]) -> None:
    index, vectors = filled
    index.put(
        "j/0",
        _result("/v/a.mp4", ["a submarine"], ["ocean"], vectors["a"][:1]),
        frame_vectors=vectors["a"][:1],
    )
    assert index.search_text("dog") == [] and len(index.search_text("submarine")) == 1
    assert len(list(index.videos())) == 3


def test_metrics_report_freshness_and_latency(filled: tuple[AnalysisIndex, dict]) -> None:
    index, _ = filled
    newest = max(v["indexed_at"] for v in index.videos())
    metrics = index.metrics(now=newest + 5)
    assert metrics["videos"] == 3 and metrics["failed"] == 0
    assert metrics["freshness_s"] == pytest.approx(5.0)
    assert set(metrics["latency_s"]) == {"mean", "p50", "p90", "p99"}


def test_exports_read_back(filled: tuple[AnalysisIndex, dict], tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    index, _ = filled
    assert export(index.videos(), tmp_path / "out.jsonl", "jsonl") == 3
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["video"] for r in lines] == ["/v/a.mp4", "/v/b.mp4", "/v/c.mp4"]
    assert lines[1]["samples"][0]["caption"] == "a red car in a city street"
    assert export(index.videos(), tmp_path / "out.parquet", "parquet") == 3
    table = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert [r["id"] for r in table] == ["j/0", "j/1", "k/0"]
    assert table[0]["shot_boundaries"] == [{"time_s": 1.0, "frame": 24, "score": 40.0}]
    assert json.loads(table[2]["samples"][0]["labels"]) == [{"label": "concert", "score": 0.9}]
    assert len(table[0]["embedding"]) == 16
    with pytest.raises(InvalidInput, match="valid formats: jsonl, parquet"):
        export([], tmp_path / "x.csv", "csv")
