"""Search the analysis index: full-text over captions and labels, and text → image embeddings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from reelserve.store.index import AnalysisIndex, vector_space

__all__ = ["search_index"]


def search_index(
    engine: sa.Engine, query: str, *, limit: int = 10, weights_dir: Path | None = None
) -> dict[str, Any]:
    """``{"query", "text": [...], "vector": [...]}``; the vector part runs when embeddings are indexed."""
    index = AnalysisIndex(engine)
    text_hits = index.search_text(query, limit=limit)
    vector_hits: list[dict[str, Any]] = []
    if index.has_vectors():
        from reelserve.models.understanding import load_task

        embed_dir = None if weights_dir is None else Path(weights_dir).expanduser() / "embed"
        model = load_task("embed", embed_dir)
        space = vector_space({"model": model.name, "weights_sha256": model.weights_hash})
        vector_hits = index.nearest(model.embed_text([query])[0], limit, model=space)
    return {"query": query, "text": text_hits, "vector": vector_hits}
