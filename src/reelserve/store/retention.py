"""Retention: expired scratch artifacts go, finals never do.

``sweep`` deletes the rows of expired artifacts (scratch only: finals have no expiry and the
durable area is never touched), then each blob file that no artifact row references any more.
Rows go first: a crash in between leaves an unreferenced file, never a row pointing at a missing
file. ``sweep_orphans`` collects such files — and blobs written by a stage that crashed before its
checkpoint — once they are older than a grace period (writing existing content again refreshes a
blob's age, so a blob about to be recorded is never collected).
"""

from __future__ import annotations

from reelserve.store.base import BlobStore, Store

__all__ = ["ORPHAN_GRACE_S", "sweep", "sweep_orphans"]

_BATCH = 1000
#: A scratch blob no artifact references is collected only when older than this.
ORPHAN_GRACE_S = 6 * 3600.0


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


def sweep_orphans(store: Store, blobs: BlobStore, now: float, grace_s: float = ORPHAN_GRACE_S) -> int:
    """Delete scratch blobs that no artifact references and that were last written before
    ``now - grace_s``; returns blobs deleted. The durable area is never touched."""
    deleted = 0
    for ref in blobs.iter_area("scratch"):
        try:
            written = blobs.path(ref).stat().st_mtime
        except FileNotFoundError:
            continue  # deleted meanwhile
        if written <= now - grace_s and not store.blob_referenced(ref.sha256):
            blobs.delete(ref)
            deleted += 1
    return deleted
