"""The embedded defaults: a data directory holding a SQLite store and a filesystem blob store."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from reelserve.core.errors import InvalidInput
from reelserve.store import FsBlobStore, SqlStore, default_url, open_store

__all__ = ["DataDir", "open_data_dir", "owner_is_dead"]

DEFAULT_DATA = "./reelserve-data"


@dataclass
class DataDir:
    root: Path
    store: SqlStore
    blobs: FsBlobStore

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> DataDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_data_dir(data: str | Path | None = None, store_url: str | None = None) -> DataDir:
    """Open (creating if needed) ``data`` or ``$REELSERVE_DATA`` or ``./reelserve-data``."""
    root = Path(data or os.environ.get("REELSERVE_DATA") or DEFAULT_DATA).expanduser().resolve()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"cannot create the data directory {root}: {exc.strerror}", param="data") from exc
    if not os.access(root, os.W_OK):
        raise InvalidInput(f"the data directory {root} is not writable", param="data")
    url = store_url or os.environ.get("REELSERVE_STORE") or default_url(root)
    return DataDir(root, open_store(url), FsBlobStore(root / "blobs"))


def owner_is_dead(owner: str | None) -> bool:
    """True when a lease owner (``host:pid:nonce``) is a process on this host that no longer runs."""
    if not owner:
        return True
    parts = owner.split(":")
    if len(parts) < 2 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False  # another host: only its lease expiry can tell
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
