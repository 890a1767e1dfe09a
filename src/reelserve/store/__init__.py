"""Metadata and blob storage: the ``Store`` and ``BlobStore`` seams and their implementations.

``open_store(url)`` gives a migrated ``SqlStore`` (SQLite file by default, PostgreSQL by URL);
``FsBlobStore(root)`` keeps content-addressed blobs on disk; ``sweep`` applies retention.
"""

from __future__ import annotations

from reelserve.store.base import BlobStore, JobDraft, NewJob, Store
from reelserve.store.blobs import FsBlobStore
from reelserve.store.engine import default_url
from reelserve.store.index import AnalysisIndex
from reelserve.store.retention import sweep, sweep_orphans
from reelserve.store.sql import SqlStore, open_store

__all__ = [
    "AnalysisIndex",
    "BlobStore",
    "FsBlobStore",
    "JobDraft",
    "NewJob",
    "SqlStore",
    "Store",
    "default_url",
    "open_store",
    "sweep",
    "sweep_orphans",
]
