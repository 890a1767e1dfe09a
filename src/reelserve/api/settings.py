"""Server settings: parsed at the edge (CLI flags, environment), handed inward frozen."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["ApiSettings"]


@dataclass(frozen=True, slots=True)
class ApiSettings:
    data_dir: Path  #: holds the SQLite store (unless ``store_url``) and the blobs
    store_url: str | None = None  #: a PostgreSQL (or other SQLite) URL instead of the data dir's
    public_url: str | None = None  #: base of ``reference`` URLs (default: the request's own base URL)
    max_body_bytes: int = 16 * 1024 * 1024  #: larger request bodies get 413 before they are read
    max_queue: int = 100_000  #: queued jobs; admission beyond it gets 429 with Retry-After
    max_batch_variants: int = 20_000
    retry_after_s: float = 5.0  #: the Retry-After of a full queue
    poll_after_ms: int = 500  #: ``openai-poll-after-ms`` on unfinished videos
    key_cache_s: float = 2.0  #: a revoked key stops working within this long
    sync_timeout_s: float = 900.0  #: ``/v1/videos/sync`` gives up waiting (the job goes on)
    tick_s: float = 0.25  #: the background loop: metrics scan, batch completion, webhooks
    webhook_timeout_s: float = 5.0
    webhook_attempts: int = 6  #: then the delivery is marked failed
    webhook_backoff_s: float = 1.0  #: doubled after each failed attempt
    stream_chunk_frames: int = 8  #: frames per fMP4 media segment (delivery=stream)
