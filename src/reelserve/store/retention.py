"""Retention: expired scratch artifacts go, finals never do.

``sweep`` deletes the rows of expired artifacts (scratch only: finals have no expiry and the
durable area is never touched), then each blob file that no artifact row references any more.
Rows go first: a crash in between leaves an unreferenced file (swept by a later run of a
garbage collector), never a row pointing at a missing file.
"""

from __future__ import annotations

from reelserve.store.base import BlobStore, Store

__all__ = ["sweep"]

_BATCH = 1000


def sweep(store: Store, blobs: BlobStore, now: float) -> int:
    """Delete expired scratch artifacts (rows and unreferenced blobs); returns rows deleted."""
    deleted = 0
    while True:
        expired = [a for a in store.expired_artifacts(now, limit=_BATCH) if a.blob.area == "scratch"]
        if not expired:
            return deleted
        removed = store.delete_artifacts(expired)
        deleted += removed
        for ref in {a.blob.sha256: a.blob for a in expired}.values():
            if not store.blob_referenced(ref.sha256):
                blobs.delete(ref)
        if removed == 0:  # rows changed under us (re-pointed names); try again next sweep
            return deleted
