"""The analysis index: per-video results, searchable text (captions, labels, objects, moderation) and
embeddings with nearest-neighbour search. SQLAlchemy Core on SQLite and PostgreSQL.

Text search: SQLite uses an FTS5 table (porter stemming, bm25 ranking) kept in step with
``analysis_texts`` by triggers; PostgreSQL a stored ``tsvector`` column (english configuration) with
a GIN index, ranked by ``ts_rank``. Both are created by migration 3 (`create_tables`).

Vectors: float32 bytes in ``analysis_vectors``, searched by brute force in numpy (normalised dot
product). That is exact and fast enough up to ~10^5-10^6 vectors (one matrix product over a few
hundred MB); beyond that, a vector index (pgvector HNSW, FAISS) would replace `nearest`.

Metrics: freshness (age of the newest indexed result) and per-video latency (submitted → indexed).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import sqlalchemy as sa

from reelserve.core.errors import InvalidInput
from reelserve.store.engine import transaction
from reelserve.store.schema import Json

__all__ = ["AnalysisIndex", "create_tables", "index_metadata", "texts_of", "vector_space"]

index_metadata = sa.MetaData()

videos = sa.Table(
    "analysis_videos",
    index_metadata,
    sa.Column("id", sa.String(80), primary_key=True),  #: "<job id>/<position in the request>"
    sa.Column("job_id", sa.String(40), nullable=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("error_code", sa.String(100), nullable=True),
    sa.Column("duration_s", sa.Double, nullable=True),
    sa.Column("latency_s", sa.Double, nullable=True),
    sa.Column("submitted_at", sa.Double, nullable=True),
    sa.Column("indexed_at", sa.Double, nullable=False),
    sa.Column("result", Json, nullable=False),
    sa.Index("ix_analysis_videos_indexed", "indexed_at"),
    sa.Index("ix_analysis_videos_job", "job_id"),
)

texts = sa.Table(
    "analysis_texts",
    index_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "video_id", sa.String(80), sa.ForeignKey("analysis_videos.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("kind", sa.String(16), nullable=False),  #: caption, label, object, moderation
    sa.Column("time_s", sa.Double, nullable=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("score", sa.Double, nullable=True),
    sa.Index("ix_analysis_texts_video", "video_id"),
)

vectors = sa.Table(
    "analysis_vectors",
    index_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "video_id", sa.String(80), sa.ForeignKey("analysis_videos.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("time_s", sa.Double, nullable=True),  #: None: the video's mean embedding
    sa.Column("dim", sa.Integer, nullable=False),
    sa.Column("vector", sa.LargeBinary, nullable=False),  #: float32, little-endian, L2-normalised
    sa.Index("ix_analysis_vectors_model", "model", "video_id"),
)

_SQLITE_FTS = (
    "CREATE VIRTUAL TABLE analysis_fts USING fts5(text, content='analysis_texts', content_rowid='id', "
    "tokenize='porter unicode61')",
    "CREATE TRIGGER analysis_texts_ai AFTER INSERT ON analysis_texts BEGIN "
    "INSERT INTO analysis_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER analysis_texts_ad AFTER DELETE ON analysis_texts BEGIN "
    "INSERT INTO analysis_fts(analysis_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
)
_PG_FTS = (
    "ALTER TABLE analysis_texts ADD COLUMN tsv tsvector "
    "GENERATED ALWAYS AS (to_tsvector('english', text)) STORED",
    "CREATE INDEX ix_analysis_texts_tsv ON analysis_texts USING GIN (tsv)",
)


def create_tables(conn: sa.Connection) -> None:
    """Migration 3: the index tables and the backend's full-text machinery."""
    for table in (videos, texts, vectors):
        table.create(conn)
    for ddl in _SQLITE_FTS if conn.dialect.name == "sqlite" else _PG_FTS:
        conn.exec_driver_sql(ddl)


def texts_of(result: dict[str, Any]) -> Iterator[tuple[str, float | None, str, float | None]]:
    """(kind, time, text, score) of every searchable string in a result."""
    for sample in result.get("samples") or []:
        at = sample.get("time_s")
        if sample.get("caption"):
            yield "caption", at, sample["caption"], None
        for item in sample.get("labels") or []:
            yield "label", at, item["label"], item["score"]
        for item in sample.get("objects") or []:
            yield "object", at, item["label"], item["score"]
        for item in (sample.get("moderation") or {}).get("labels") or []:
            yield "moderation", at, item["label"], item["score"]


def vector_space(embed: dict[str, str] | None) -> str | None:
    """Vectors are comparable only within one model: "<model name>@<weights sha256 prefix>"."""
    if not embed:
        return None
    return f"{embed['model']}@{embed['weights_sha256'][:12]}"


def _fts_query(query: str) -> str:
    words = re.findall(r"\w+", query.lower())
    if not words:
        raise InvalidInput("the search query has no words", param="query")
    return " ".join(f'"{w}"' for w in words)  # quoted terms: no FTS5 syntax from user input


class AnalysisIndex:
    """Reads and writes the index tables through one engine (``SqlStore.engine``)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def put(
        self,
        video_id: str,
        result: dict[str, Any],
        *,
        job_id: str | None = None,
        frame_vectors: np.ndarray | None = None,
    ) -> None:
        """Insert or replace one video's result, texts and vectors (one transaction; idempotent)."""
        now = time.time()
        row = {
            "id": video_id,
            "job_id": job_id,
            "source": str(result.get("video", "")),
            "status": result.get("status", "succeeded"),
            "error_code": (result.get("error") or {}).get("code"),
            "duration_s": result.get("duration_s"),
            "latency_s": result.get("latency_s"),
            "submitted_at": result.get("submitted_at"),
            "indexed_at": now,
            "result": {k: v for k, v in result.items() if not k.startswith("_")},
        }
        with transaction(self.engine, write=True) as conn:
            conn.execute(sa.delete(texts).where(texts.c.video_id == video_id))
            conn.execute(sa.delete(vectors).where(vectors.c.video_id == video_id))
            conn.execute(sa.delete(videos).where(videos.c.id == video_id))
            conn.execute(sa.insert(videos).values(row))
            rows = [
                {"video_id": video_id, "kind": k, "time_s": t, "text": s, "score": sc}
                for k, t, s, sc in texts_of(result)
            ]
            if rows:
                conn.execute(sa.insert(texts), rows)
            vecs = self._vector_rows(video_id, result, frame_vectors)
            if vecs:
                conn.execute(sa.insert(vectors), vecs)

    @staticmethod
    def _vector_rows(
        video_id: str, result: dict[str, Any], frames: np.ndarray | None
    ) -> list[dict[str, Any]]:
        model = vector_space((result.get("models") or {}).get("embed"))
        if model is None:
            return []
        rows = []
        if result.get("embedding"):
            mean = np.asarray(result["embedding"], "<f4")
            rows.append(
                {
                    "video_id": video_id,
                    "model": model,
                    "time_s": None,
                    "dim": len(mean),
                    "vector": mean.tobytes(),
                }
            )
        times = [s["time_s"] for s in result.get("samples") or []]
        if frames is not None:
            for at, vec in zip(times, np.asarray(frames, "<f4"), strict=True):
                rows.append(
                    {
                        "video_id": video_id,
                        "model": model,
                        "time_s": at,
                        "dim": len(vec),
                        "vector": vec.tobytes(),
                    }
                )
        return rows

    def search_text(self, query: str, limit: int = 20) -> list[dict[str, Any]]:
        """Best-matching texts first: video, source, kind, time, text, rank (higher is better)."""
        with transaction(self.engine, write=False) as conn:
            if conn.dialect.name == "sqlite":
                sql = sa.text(
                    "SELECT t.video_id, v.source, t.kind, t.time_s, t.text, -bm25(analysis_fts) AS rank "
                    "FROM analysis_fts JOIN analysis_texts t ON t.id = analysis_fts.rowid "
                    "JOIN analysis_videos v ON v.id = t.video_id "
                    "WHERE analysis_fts MATCH :q ORDER BY rank DESC, t.id LIMIT :n"
                )
                rows = conn.execute(sql, {"q": _fts_query(query), "n": limit})
            else:
                sql = sa.text(
                    "SELECT t.video_id, v.source, t.kind, t.time_s, t.text, "
                    "ts_rank(t.tsv, plainto_tsquery('english', :q)) AS rank "
                    "FROM analysis_texts t JOIN analysis_videos v ON v.id = t.video_id "
                    "WHERE t.tsv @@ plainto_tsquery('english', :q) ORDER BY rank DESC, t.id LIMIT :n"
                )
                _fts_query(query)  # the same "no words" check on both backends
                rows = conn.execute(sql, {"q": query, "n": limit})
            return [dict(r._mapping) for r in rows]

    def nearest(
        self, vector: np.ndarray, k: int = 10, *, model: str | None = None, videos_only: bool = False
    ) -> list[dict[str, Any]]:
        """The ``k`` stored vectors closest (cosine) to ``vector``: video, source, time, score."""
        query = sa.select(
            vectors.c.video_id, vectors.c.time_s, vectors.c.dim, vectors.c.vector, videos.c.source
        )
        query = query.join(videos, videos.c.id == vectors.c.video_id)
        if model is not None:
            query = query.where(vectors.c.model == model)
        if videos_only:
            query = query.where(vectors.c.time_s.is_(None))
        with transaction(self.engine, write=False) as conn:
            rows = [r for r in conn.execute(query) if r.dim == len(vector)]
        if not rows:
            return []
        matrix = np.frombuffer(b"".join(r.vector for r in rows), "<f4").reshape(len(rows), -1)
        q = np.asarray(vector, np.float32) / max(float(np.linalg.norm(vector)), 1e-12)
        scores = matrix @ q
        best = np.argsort(-scores, kind="stable")[:k]
        return [
            {
                "video_id": rows[i].video_id,
                "source": rows[i].source,
                "time_s": rows[i].time_s,
                "score": float(scores[i]),
            }
            for i in best
        ]

    def has_vectors(self) -> bool:
        with transaction(self.engine, write=False) as conn:
            return conn.execute(sa.select(vectors.c.id).limit(1)).first() is not None

    def videos(self) -> Iterator[dict[str, Any]]:
        """Every indexed video's stored result (plus id, job and timestamps), oldest first."""
        with transaction(self.engine, write=False) as conn:
            for row in conn.execute(sa.select(videos).order_by(videos.c.indexed_at, videos.c.id)):
                yield {**row.result, "id": row.id, "job_id": row.job_id, "indexed_at": row.indexed_at}

    def metrics(self, now: float | None = None) -> dict[str, Any]:
        """Freshness (seconds since the newest result was indexed) and per-video latency percentiles."""
        with transaction(self.engine, write=False) as conn:
            rows = conn.execute(sa.select(videos.c.status, videos.c.latency_s, videos.c.indexed_at)).all()
        now = time.time() if now is None else now
        lat = np.array([r.latency_s for r in rows if r.latency_s is not None], np.float64)
        pct = {f"p{p}": float(np.percentile(lat, p)) for p in (50, 90, 99)} if len(lat) else {}
        return {
            "videos": len(rows),
            "failed": sum(r.status == "failed" for r in rows),
            "freshness_s": now - max(r.indexed_at for r in rows) if rows else None,
            "latency_s": {"mean": float(lat.mean()), **pct} if len(lat) else {},
        }
