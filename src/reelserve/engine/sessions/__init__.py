"""Streaming generation sessions: chunk after chunk, each continuing the last, pushed as fMP4."""

from __future__ import annotations

from reelserve.engine.sessions.spec import ChunkRecord, SessionSpec

__all__ = ["ChunkRecord", "SessionSpec"]
