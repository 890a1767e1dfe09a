"""FsBlobStore: content addressing, atomic writes, no temp files left behind."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from reelserve.core.errors import InvalidInput, NotFound, StorageError
from reelserve.store import FsBlobStore


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_put_bytes_is_content_addressed(blobs: FsBlobStore) -> None:
    data = b"frames" * 1000
    ref = blobs.put_bytes(data, "scratch", ".bin")
    sha = hashlib.sha256(data).hexdigest()
    assert ref.sha256 == sha and ref.size == len(data) and ref.area == "scratch"
    assert Path(ref.path) == blobs.root.resolve() / "scratch" / sha[:2] / sha[2:4] / f"{sha}.bin"
    assert blobs.get_bytes(ref) == data and blobs.exists(ref)


def test_same_content_same_ref_and_one_file(blobs: FsBlobStore) -> None:
    first = blobs.put_bytes(b"abc", "durable", ".mp4")
    second = blobs.put_bytes(b"abc", "durable", ".mp4")
    assert first == second
    assert _files(blobs.root) == [Path(first.path)]
    other_area = blobs.put_bytes(b"abc", "scratch", ".mp4")
    assert other_area.sha256 == first.sha256 and other_area.path != first.path


def test_put_file_streams_and_leaves_the_source(blobs: FsBlobStore, tmp_path: Path) -> None:
    src = tmp_path / "clip.mp4"
    data = bytes(range(256)) * 9000  # > 2 blocks of 1 MiB
    src.write_bytes(data)
    ref = blobs.put_file(src, "durable", ".mp4")
    assert ref.sha256 == hashlib.sha256(data).hexdigest() and ref.size == len(data)
    assert src.read_bytes() == data
    assert blobs.put_file(src, "durable", ".mp4") == ref
    with pytest.raises(NotFound):
        blobs.put_file(tmp_path / "missing.mp4", "durable")


def test_open_writer_stores_on_clean_exit(blobs: FsBlobStore) -> None:
    with blobs.open_writer("scratch", ".mp4") as writer:
        assert writer.path.suffix == ".mp4"
        writer.path.write_bytes(b"encoded")
        with pytest.raises(InvalidInput):
            _ = writer.ref
    assert blobs.get_bytes(writer.ref) == b"encoded"
    assert not writer.path.exists()
    assert _files(blobs.root) == [Path(writer.ref.path)]


def test_open_writer_removes_the_temp_file_on_error(blobs: FsBlobStore) -> None:
    with pytest.raises(RuntimeError), blobs.open_writer("durable", ".mp4") as writer:
        writer.path.write_bytes(b"half an mp4")
        raise RuntimeError("encoder crashed")
    assert _files(blobs.root) == []
    assert list(blobs.iter_area("durable")) == []


def test_unknown_area_is_invalid_input(blobs: FsBlobStore) -> None:
    with pytest.raises(InvalidInput, match="durable, scratch"):
        blobs.put_bytes(b"x", "archive")
    with pytest.raises(InvalidInput):
        blobs.open_writer("tmp")


def test_iter_area_delete_and_missing(blobs: FsBlobStore) -> None:
    refs = {blobs.put_bytes(bytes([i]), "scratch", ".npy") for i in range(5)}
    blobs.put_bytes(b"final", "durable")
    assert set(blobs.iter_area("scratch")) == refs
    victim = next(iter(refs))
    blobs.delete(victim)
    blobs.delete(victim)  # deleting twice is fine
    assert not blobs.exists(victim)
    assert set(blobs.iter_area("scratch")) == refs - {victim}
    with pytest.raises(NotFound):
        blobs.get_bytes(victim)


def test_path_follows_a_moved_root(blobs: FsBlobStore, tmp_path: Path) -> None:
    ref = blobs.put_bytes(b"movable", "durable", ".json")
    moved = tmp_path / "moved"
    blobs.root.rename(moved)
    assert FsBlobStore(moved).get_bytes(ref) == b"movable"


def test_remove_stale_temp(blobs: FsBlobStore) -> None:
    writer = blobs.open_writer("scratch", ".mp4")
    writer.path.write_bytes(b"left by a crashed encoder")
    assert blobs.remove_stale_temp(now=time.time(), max_age_s=3600) == 0
    old = time.time() - 7200
    os.utime(writer.path, (old, old))
    assert blobs.remove_stale_temp(now=time.time(), max_age_s=3600) == 1
    assert _files(blobs.root) == []


def test_an_unwritable_root_is_a_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file-not-dir"
    blocker.write_bytes(b"")
    blobs = FsBlobStore(blocker)
    with pytest.raises(StorageError):
        blobs.put_bytes(b"x", "scratch")


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The file descriptors `os.fsync` is called on, in order (the calls still happen)."""
    calls: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    return calls


def test_sync_group_defers_every_fsync_to_its_exit(tmp_path: Path, synced: list[int]) -> None:
    """Inside a group the blobs are in place and readable at once; the fsyncs (file and directory of
    each durable blob, never a scratch one) all run when the group exits."""
    blobs = FsBlobStore(tmp_path)
    with blobs.sync_group():
        first = blobs.put_bytes(b"video bytes", "durable", ".mp4")
        with blobs.sync_group():  # nested: the outer group syncs
            second = blobs.put_bytes(b"thumbnail bytes", "durable", ".jpg")
        with blobs.open_writer("durable", ".bin") as writer:
            writer.path.write_bytes(b"streamed")
        blobs.put_bytes(b"intermediate", "scratch")
        assert blobs.get_bytes(first) == b"video bytes" and blobs.get_bytes(second) == b"thumbnail bytes"
        assert synced == []
    assert len(synced) == 6  # three durable blobs: file + directory each


def test_a_durable_copy_of_the_wrong_size_is_written_over(tmp_path: Path) -> None:
    """A crash inside a sync group can leave a renamed but unsynced durable blob cut short; writing
    the same content again must repair it, not return the broken copy."""
    blobs = FsBlobStore(tmp_path)
    ref = blobs.put_bytes(b"the final video", "durable")
    blobs.path(ref).write_bytes(b"the fi")
    again = blobs.put_bytes(b"the final video", "durable")
    assert again.sha256 == ref.sha256 and blobs.get_bytes(again) == b"the final video"


def test_unsynced_writes_skip_fsyncs_and_seal_runs_them_together(tmp_path: Path, synced: list[int]) -> None:
    blobs = FsBlobStore(tmp_path)
    with blobs.unsynced():
        video = blobs.put_bytes(b"video bytes", "durable", ".mp4")
        with blobs.open_writer("durable", ".jpg") as writer:
            writer.path.write_bytes(b"thumbnail")
    assert synced == [] and blobs.get_bytes(video) == b"video bytes"
    blobs.put_bytes(b"after the block", "durable")
    assert len(synced) == 2  # outside the block durable writes sync again
    blobs.seal([video, writer.ref, video])
    assert len(synced) == 2 + 4  # two distinct blobs: file + directory each


def test_seal_removes_a_blob_an_os_crash_broke_so_it_can_be_made_again(tmp_path: Path) -> None:
    blobs = FsBlobStore(tmp_path)
    with blobs.unsynced():
        ref = blobs.put_bytes(b"the final video", "durable", ".mp4")
    blobs.path(ref).write_bytes(b"XXX final video")  # right size, wrong bytes
    with pytest.raises(StorageError, match="corrupt"):
        blobs.seal([ref])
    assert not blobs.exists(ref)
    with pytest.raises(NotFound):
        blobs.seal([ref])
    with blobs.unsynced():
        again = blobs.put_bytes(b"the final video", "durable", ".mp4")
    blobs.seal([again])
    assert blobs.get_bytes(again) == b"the final video"


def test_an_unsynced_write_keeps_a_stored_final_in_place(tmp_path: Path) -> None:
    """Another job's sealed final with the same content must not be replaced by unsynced bytes."""
    blobs = FsBlobStore(tmp_path)
    sealed = blobs.put_bytes(b"same clip", "durable", ".mp4")
    inode = blobs.path(sealed).stat().st_ino
    with blobs.unsynced():
        again = blobs.put_bytes(b"same clip", "durable", ".mp4")
    assert again.sha256 == sealed.sha256 and blobs.path(again).stat().st_ino == inode


def test_an_intact_scratch_copy_is_kept_and_a_garbled_one_written_over(tmp_path: Path) -> None:
    """Scratch blobs are not fsynced: a stored copy is reused only when its bytes still hash to its
    name (no rename over it), and one an OS crash garbled at the right size is replaced."""
    blobs = FsBlobStore(tmp_path)
    ref = blobs.put_bytes(b"latent bytes", "scratch", ".npy")
    inode = blobs.path(ref).stat().st_ino
    assert blobs.put_bytes(b"latent bytes", "scratch", ".npy") == ref
    assert blobs.path(ref).stat().st_ino == inode  # kept, not renamed over
    with blobs.open_writer("scratch", ".npy") as writer:
        writer.path.write_bytes(b"latent bytes")
    assert writer.ref == ref and blobs.path(ref).stat().st_ino == inode
    blobs.path(ref).write_bytes(b"XXXXXX bytes")  # same size, wrong bytes
    again = blobs.put_bytes(b"latent bytes", "scratch", ".npy")
    assert blobs.get_bytes(again) == b"latent bytes" and blobs.path(again).stat().st_ino != inode


def test_a_ref_records_the_path_with_symlinks_resolved(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    blobs = FsBlobStore(tmp_path / "link")
    ref = blobs.put_bytes(b"clip", "durable", ".mp4")
    assert ref.path == str(blobs.path(ref).resolve()) and ref.path.startswith(str(real.resolve()))
    assert next(blobs.iter_area("durable")) == ref


def test_presync_flushes_in_the_background_and_leaves_errors_to_the_seal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flushed: list[int] = []
    monkeypatch.setattr(os, "fdatasync", lambda fd: flushed.append(fd))
    blobs = FsBlobStore(tmp_path)
    with blobs.unsynced():
        ref = blobs.put_bytes(b"the final video", "durable", ".mp4")
    gone = blobs.put_bytes(b"deleted before the flush", "durable")
    blobs.delete(gone)
    blobs.presync([ref, gone])  # returns at once; a missing blob raises nothing here
    deadline = time.monotonic() + 10
    while len(flushed) < 3 and time.monotonic() < deadline:  # ref's file and directory, gone's directory
        time.sleep(0.01)
    assert len(flushed) == 3
    with pytest.raises(NotFound):
        blobs.seal([gone])  # the seal reports what the hint could not
