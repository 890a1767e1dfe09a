"""``FsBlobStore``: content-addressed blobs in a local directory.

Layout: ``root/<area>/<ab>/<cd>/<sha256><suffix>`` for the areas ``scratch`` (intermediates,
expire) and ``durable`` (finals, never expired); in-flight writes live in ``root/<area>/.tmp/``
(the same file system, so the final ``os.replace`` is atomic). Every write is temp file → flush →
rename, so a reader never sees a partial blob and a killed process loses nothing it wrote.

What survives an operating-system crash or power loss depends on the area (``sync_areas``):
- ``durable`` blobs are fsynced, file and directory, before the ref is returned (inside
  ``sync_group()``: when the group exits): a final that a checkpoint recorded survives anything the
  disk survives. A stage may instead write finals inside ``unsynced()`` and have a later stage
  ``seal()`` them — verify their bytes and fsync them all at once — before the commit that makes
  the job succeeded (docs/durability.md: until then they are treated like intermediates).
- ``scratch`` blobs are not fsynced by default (each fsync costs 3–10 ms here, more than the rest of
  a small job's bookkeeping). After an OS crash one may be missing or truncated; every reader checks
  a scratch blob against its sha256 and treats a missing or corrupt one as lost, and the pipeline then
  redoes the stage that made it (docs/durability.md). ``FsBlobStore(root, sync_areas=AREAS)``
  fsyncs everything.

Writing content that is already stored is a no-op that returns the same ref. Nothing is created on
disk until the first write.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from reelserve.core.errors import InvalidInput, NotFound, StorageError, UnknownName
from reelserve.core.records import BlobRef

__all__ = ["AREAS", "BLOCK_SIZE", "BlobWriter", "FsBlobStore"]

AREAS = ("scratch", "durable")
BLOCK_SIZE = 1 << 20  #: bytes read per block while hashing a file
_TMP = ".tmp"
_SYNC_THREADS = 8
_sync_pool: ThreadPoolExecutor | None = None
_sync_pool_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _sync_pool
    with _sync_pool_lock:
        if _sync_pool is None:
            _sync_pool = ThreadPoolExecutor(_SYNC_THREADS, thread_name_prefix="blob-fsync")
        return _sync_pool


class _Group(threading.local):
    """Per thread: the paths whose fsync a `sync_group` defers (None outside a group), and whether
    the writes of an `unsynced` block skip their fsyncs altogether."""

    paths: list[Path] | None = None
    unsynced: bool = False


class FsBlobStore:
    """``BlobStore`` on a local directory (see the module docstring for layout and atomicity)."""

    def __init__(self, root: Path, *, sync_areas: tuple[str, ...] = ("durable",)) -> None:
        self.root = Path(root)
        unknown = set(sync_areas) - set(AREAS)
        if unknown:
            raise UnknownName("blob area", sorted(unknown)[0], AREAS, param="sync_areas")
        self.sync_areas = frozenset(sync_areas)
        self._group = _Group()
        self._real_areas: dict[str, str] = {}  #: area → its directory with symlinks resolved

    @contextmanager
    def sync_group(self) -> Iterator[None]:
        """Writes inside the block are renamed into place at once, and every fsync they need (files
        and directories) runs together, in parallel, when the block exits — one journal commit
        instead of one per fsync (6 fsyncs: 22 ms one by one, 5 ms together on this machine's disk).
        Record the refs only after the block: until it exits they are not yet crash-proof."""
        if self._group.paths is not None:  # nested: the outer group syncs
            yield
            return
        self._group.paths = []
        try:
            yield
            paths = list(dict.fromkeys(self._group.paths))
        finally:
            self._group.paths = None
        try:
            list(_pool().map(_fsync_path, paths))
        except OSError as exc:
            raise self._write_failed(exc) from exc

    @contextmanager
    def unsynced(self) -> Iterator[None]:
        """Writes inside the block are not fsynced at all, durable ones included: a stage whose
        finals are recorded as finished only by a later stage writes them here, and that stage
        `seal`s them (verify + fsync, in parallel) right before its commit — one fsync group per
        job instead of one per stage."""
        outer = self._group.unsynced
        self._group.unsynced = True
        try:
            yield
        finally:
            self._group.unsynced = outer

    def seal(self, refs: Sequence[BlobRef]) -> None:
        """Make these blobs crash-proof: check each one's bytes against its sha256, then fsync
        every file and directory together, in parallel. A blob that is missing or whose bytes do
        not match (an OS crash took an unsynced write) is removed, so writing the content again
        stores it afresh, and ``NotFound`` (missing) or ``StorageError`` (corrupt) names it."""
        unique = list({(r.area, r.sha256, _suffix_of(r)): r for r in refs}.values())
        for ref, problem in zip(unique, _pool().map(self._verify, unique), strict=True):
            if problem is not None:
                self.delete(ref)
                if problem == "missing":
                    raise NotFound(f"blob {ref.sha256} is missing from {ref.area}", param="blob")
                raise StorageError(f"blob {ref.sha256} in {ref.area} is {problem}; it must be made again")
        paths = list(dict.fromkeys(p for r in unique for p in (self.path(r), self.path(r).parent)))
        try:
            list(_pool().map(_fsync_path, paths))
        except OSError as exc:
            raise self._write_failed(exc) from exc

    def presync(self, refs: Sequence[BlobRef]) -> None:
        """Start flushing these blobs (files and directories) to disk in the background and return at
        once: the `seal` that must follow then finds little left to wait for. A hint only — it
        guarantees nothing, and its errors are left for the seal to report."""
        paths = dict.fromkeys(p for r in refs for p in (self.path(r), self.path(r).parent))
        for path in paths:
            _pool().submit(_fsync_quietly, path)

    def _verify(self, ref: BlobRef) -> str | None:
        """None when the stored bytes are the ref's; else what is wrong with them."""
        path = self.path(ref)
        try:
            if path.stat().st_size != ref.size:
                return "cut short"
            with open(path, "rb") as fh:
                sha = _sha256_of(fh)
        except FileNotFoundError:
            return "missing"
        return None if sha == ref.sha256 else "corrupt"

    def _syncs_now(self, area: str) -> bool:
        return area in self.sync_areas and self._group.paths is None and not self._group.unsynced

    # -- writing ------------------------------------------------------------------------------

    def put_bytes(self, data: bytes, area: str, suffix: str = "") -> BlobRef:
        sha = hashlib.sha256(data).hexdigest()
        target = self._target(area, sha, suffix)
        if (stored := self._stored(area, target, len(data))) is not None:
            return stored
        tmp = self._tmp_path(area, suffix)
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                self._sync(fh, area)
            return self._commit(tmp, area, sha, suffix)
        except OSError as exc:
            raise self._write_failed(exc) from exc
        finally:
            tmp.unlink(missing_ok=True)

    def put_file(self, path: Path, area: str, suffix: str = "") -> BlobRef:
        """Copy a finished file in, hashing it on the way (1 MiB blocks); ``path`` is left as is."""
        tmp = self._tmp_path(area, suffix)
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as src, open(tmp, "wb") as dst:
                while block := src.read(BLOCK_SIZE):
                    digest.update(block)
                    dst.write(block)
                self._sync(dst, area)
            return self._commit(tmp, area, digest.hexdigest(), suffix)
        except FileNotFoundError as exc:
            if Path(path).exists():
                raise self._write_failed(exc) from exc
            raise NotFound(f"no file to store at {path}", param="path") from exc
        except OSError as exc:
            raise self._write_failed(exc) from exc
        finally:
            tmp.unlink(missing_ok=True)

    def open_writer(self, area: str, suffix: str = "") -> BlobWriter:
        """``with blobs.open_writer("scratch", ".mp4") as w: encode_to(w.path)`` then ``w.ref``.
        The suffix is kept on the temp path, so tools that pick a format by extension work."""
        return BlobWriter(self, area, suffix)

    # -- reading ------------------------------------------------------------------------------

    def path(self, ref: BlobRef) -> Path:
        """Where the blob lives under this root (also when the root moved since the ref was made)."""
        return self._target(ref.area, ref.sha256, _suffix_of(ref))

    def get_bytes(self, ref: BlobRef) -> bytes:
        try:
            return self.path(ref).read_bytes()
        except FileNotFoundError as exc:
            msg = f"blob {ref.sha256} is missing from {ref.area}; re-run the job that made it"
            raise NotFound(msg) from exc

    def exists(self, ref: BlobRef) -> bool:
        return self.path(ref).is_file()

    def delete(self, ref: BlobRef) -> None:
        """Remove the blob file (missing is fine); empty fan-out directories are left in place."""
        self.path(ref).unlink(missing_ok=True)

    def iter_area(self, area: str) -> Iterator[BlobRef]:
        """Every complete blob of an area (in-flight temp files are not listed)."""
        base = self._area_dir(area)
        if not base.is_dir():
            return
        for first in sorted(base.iterdir()):
            if first.name == _TMP or not first.is_dir():
                continue
            for path in sorted(first.glob("*/*")):
                if path.is_file():
                    yield self._ref(area, path)

    # -- internals (also used by BlobWriter) --------------------------------------------------

    def _area_dir(self, area: str) -> Path:
        if area not in AREAS:
            raise UnknownName("blob area", area, AREAS, param="area")
        return self.root / area

    def _target(self, area: str, sha: str, suffix: str) -> Path:
        return self._area_dir(area) / sha[:2] / sha[2:4] / f"{sha}{suffix}"

    def _tmp_path(self, area: str, suffix: str) -> Path:
        tmp_dir = self._area_dir(area) / _TMP
        try:
            tmp_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._write_failed(exc) from exc
        return tmp_dir / f"{secrets.token_hex(8)}{suffix}"

    def _commit(self, tmp: Path, area: str, sha: str, suffix: str) -> BlobRef:
        """Rename a synced temp file to its content address (or drop it if already stored)."""
        target = self._target(area, sha, suffix)
        size = tmp.stat().st_size
        if (stored := self._stored(area, target, size)) is not None:
            return stored
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
            if self._group.unsynced or area not in self.sync_areas:
                pass
            elif self._group.paths is not None:
                self._group.paths += [target, target.parent]
            else:
                _sync_dir(target.parent)
        except OSError as exc:
            raise self._write_failed(exc) from exc
        return self._ref(area, target, size)

    def _sync(self, fh: BinaryIO, area: str) -> None:
        fh.flush()
        if self._syncs_now(area):
            os.fsync(fh.fileno())

    def _write_failed(self, exc: OSError) -> StorageError:
        message = f"could not store a blob under {self.root} ({exc}); check disk space and permissions"
        return StorageError(message)

    def _stored(self, area: str, path: Path, size: int) -> BlobRef | None:
        """The ref of an already stored blob with its age reset (orphan collection keys on age),
        or None when there is none. In an area that is not fsynced a stored copy may be one an OS
        crash cut short or garbled, so there it is kept only when its bytes still hash to its name
        (reading a file just written costs far less than renaming over it: ext4 flushes the new
        file's data on a rename that replaces one, 3.4 ms against 0.015 ms for a fresh name here);
        elsewhere a copy of the wrong size (a crash inside a `sync_group`) is written over. An
        `unsynced` write keeps a copy of the right size as well (it may be another job's sealed
        final, which must not be replaced by unsynced bytes); the `seal` that must follow checks
        its bytes."""
        try:
            if path.stat().st_size != size:
                return None
            if area not in self.sync_areas and not _intact(path):
                return None
            os.utime(path)
            return self._ref(area, path, size)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def remove_stale_temp(self, now: float, max_age_s: float = 24 * 3600.0) -> int:
        """Remove in-flight temp files older than ``max_age_s`` (left by crashed writers)."""
        removed = 0
        for area in AREAS:
            tmp_dir = self._area_dir(area) / _TMP
            for path in tmp_dir.glob("*") if tmp_dir.is_dir() else ():
                if path.stat().st_mtime <= now - max_age_s:
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed

    def _ref(self, area: str, path: Path, size: int | None = None) -> BlobRef:
        """The ref of a stored blob at ``path`` (under this root). Its recorded path is absolute with
        symlinks resolved; only the area directory can hold one (the fan-out directories below are
        ours), so that is resolved once per area instead of walking every component per blob."""
        real = self._real_areas.get(area)
        if real is None:
            real = self._real_areas[area] = os.path.realpath(self._area_dir(area))
        rel = path.relative_to(self._area_dir(area))
        size = path.stat().st_size if size is None else size
        return BlobRef(sha256=path.name[:64], size=size, area=area, path=os.path.join(real, rel))


class BlobWriter:
    """A temp file to write (``.path``), stored by content on a clean exit (``.ref``).

    On an exception the temp file is removed and nothing is stored.
    """

    def __init__(self, store: FsBlobStore, area: str, suffix: str) -> None:
        self._store = store
        self._area = area
        self._suffix = suffix
        self.path: Path = store._tmp_path(area, suffix)
        self._ref: BlobRef | None = None

    @property
    def ref(self) -> BlobRef:
        if self._ref is None:
            raise InvalidInput("the blob is stored only when the `with open_writer(...)` block exits cleanly")
        return self._ref

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None:
                sha = _hash_and_sync(self.path, self._store._syncs_now(self._area))
                self._ref = self._store._commit(self.path, self._area, sha, self._suffix)
        finally:
            self.path.unlink(missing_ok=True)


def _sha256_of(fh: BinaryIO) -> str:
    """The sha256 of an open file's remaining bytes, read in ``BLOCK_SIZE`` blocks."""
    digest = hashlib.sha256()
    while block := fh.read(BLOCK_SIZE):
        digest.update(block)
    return digest.hexdigest()


def _intact(path: Path) -> bool:
    """Whether a stored blob's bytes hash to the sha256 its name carries."""
    with open(path, "rb") as fh:
        return _sha256_of(fh) == path.name[:64]


def _hash_and_sync(path: Path, sync: bool) -> str:
    try:
        with open(path, "r+b") as fh:
            sha = _sha256_of(fh)
            if sync:
                os.fsync(fh.fileno())
    except FileNotFoundError as exc:
        raise InvalidInput(f"nothing was written to {path}; write the blob to the writer's `.path`") from exc
    return sha


def _suffix_of(ref: BlobRef) -> str:
    name = Path(ref.path).name
    return name[len(ref.sha256) :] if name.startswith(ref.sha256) else ""


def _fsync_quietly(path: Path) -> None:
    """`presync`'s flush: ``fdatasync`` (the data and the size, the bulk of the work; the seal's own
    ``fsync`` then finds little left), errors left for the seal."""
    with contextlib.suppress(OSError):
        _sync_dir(path, getattr(os, "fdatasync", os.fsync))


def _fsync_path(path: Path) -> None:
    _sync_dir(path)  # O_RDONLY + fsync works for a file as for a directory


def _sync_dir(directory: Path, flush: Callable[[int], None] | None = None) -> None:
    """``fsync`` (or ``flush``) a file or directory, looked up when called (tests count fsyncs)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        (flush or os.fsync)(fd)
    finally:
        os.close(fd)
