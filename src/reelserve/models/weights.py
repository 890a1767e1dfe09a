"""Weights directories (diffusers layout) and their content hashes."""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any

from reelserve.core.errors import WeightsError

__all__ = ["REQUIRED_PARTS", "check_weights_dir", "hash_state_dicts", "hash_weights_dir"]

REQUIRED_PARTS = ("transformer", "vae", "text_encoder", "tokenizer", "scheduler")
_CACHE_NAME = ".reelserve-weights.json"


def check_weights_dir(path: Path) -> None:
    """Raise ``WeightsError`` saying what is missing when ``path`` is not a diffusers Wan layout."""
    if not path.is_dir():
        raise WeightsError(f"weights directory {path} does not exist or is not a directory")
    index = path / "model_index.json"
    if not index.is_file():
        raise WeightsError(f"{path} has no model_index.json: expected a diffusers pipeline directory")
    try:
        json.loads(index.read_text())
    except (OSError, ValueError) as exc:
        raise WeightsError(f"{index} is not valid JSON ({exc}); the weights directory is corrupt") from exc
    missing = [part for part in REQUIRED_PARTS if not (path / part).is_dir()]
    if missing:
        raise WeightsError(f"{path} lacks the sub-directories {', '.join(missing)} of a Wan pipeline")


def _file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def hash_weights_dir(path: Path) -> str:
    """sha256 over every file's relative path and content hash. Per-file hashes are cached in the
    directory (keyed by size and mtime) when it is writable, since real weights are tens of GB."""
    cache_file = path / _CACHE_NAME
    cache: dict[str, Any] = {}
    if cache_file.is_file():
        try:
            cache = json.loads(cache_file.read_text())
        except ValueError:
            cache = {}
    total = hashlib.sha256()
    fresh: dict[str, Any] = {}
    for file in sorted(p for p in path.rglob("*") if p.is_file() and p.name != _CACHE_NAME):
        rel = file.relative_to(path).as_posix()
        st = file.stat()
        key = f"{st.st_size}:{st.st_mtime_ns}"
        entry = cache.get(rel)
        digest = entry["sha256"] if entry and entry.get("key") == key else _file_sha(file)
        fresh[rel] = {"key": key, "sha256": digest}
        total.update(f"{rel}\0{digest}\n".encode())
    if fresh != cache:
        # A read-only weights directory is fine: we hash again next time.
        with contextlib.suppress(OSError):
            cache_file.write_text(json.dumps(fresh))
    return total.hexdigest()


def hash_state_dicts(modules: dict[str, Any]) -> str:
    """sha256 over the parameters of in-memory modules (for models built in code)."""
    total = hashlib.sha256()
    for name in sorted(modules):
        for key, tensor in sorted(modules[name].state_dict().items()):
            total.update(f"{name}.{key}\0".encode())
            total.update(tensor.detach().to("cpu").contiguous().numpy().tobytes())
    return total.hexdigest()
