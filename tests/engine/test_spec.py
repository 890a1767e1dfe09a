"""Session settings (fix-it messages), the MSE type string, encode workers and session retention."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from reelserve.core.errors import InvalidInput, LimitExceeded
from reelserve.engine.encode import encode_segment, init_stream, make_encode_pool
from reelserve.engine.sessions.manager import ManagerConfig, SessionManager, config_from_env, mse_type
from reelserve.engine.sessions.session import Session, SessionStatus
from reelserve.engine.sessions.spec import SessionSpec, chunk_seed
from reelserve.media.fmp4 import FragmentedEncoder


def test_a_chunk_generates_one_frame_more_than_it_emits() -> None:
    spec = SessionSpec("a kite", chunk_frames=8).validate()
    assert spec.gen_frames == 9 and spec.batch_key == ("tiny-wan", 64, 64, 9, 2)
    assert chunk_seed(5, 0) == 5 and chunk_seed(5, 2) == 5 + 2 * 1_000_003


@pytest.mark.parametrize(
    ("changes", "error", "words"),
    [
        ({"chunk_frames": 6}, InvalidInput, "try 8"),
        ({"chunk_frames": 84}, LimitExceeded, "over the limit"),
        ({"width": 30}, InvalidInput, "multiple of 16"),
        ({"max_chunks": 0}, InvalidInput, "max_chunks"),
        ({"prompt": "  "}, InvalidInput, "prompt"),
        ({"model": "nope"}, InvalidInput, "tiny-wan"),
    ],
)
def test_bad_settings_say_how_to_fix_them(changes: dict[str, object], error: type, words: str) -> None:
    base = {"prompt": "a kite", "chunk_frames": 8}
    with pytest.raises(error) as err:
        SessionSpec(**{**base, **changes}).validate()  # type: ignore[arg-type]
    assert words in str(err.value)


def test_mse_type_comes_from_the_avcc_box() -> None:
    init = b"\x00" * 20 + b"avcC" + bytes([1, 0x64, 0x00, 0x1F]) + b"\x00" * 8
    assert mse_type(init) == 'video/mp4; codecs="avc1.64001f"'
    assert mse_type(b"no box").startswith("video/mp4")


def test_devices_and_autoscaling_come_from_the_environment() -> None:
    cfg = config_from_env({"REELSERVE_DEVICES": "cuda:0, cuda:1", "REELSERVE_AUTOSCALE": "1"})
    assert cfg.pool.devices == ("cuda:0", "cuda:1") and cfg.autoscale
    assert config_from_env({}).pool.devices == ("cpu",)


def test_encode_workers_in_processes_give_the_same_stream_as_threads() -> None:
    frames = np.random.default_rng(0).integers(0, 255, (2, 4, 32, 32, 3), dtype=np.uint8)
    streams = []
    for threads, processes in ((1, 0), (0, 1)):
        with make_encode_pool(threads, processes) as pool:
            enc, init = pool.submit(init_stream, FragmentedEncoder(32, 32, 8)).result(120)
            out = [init]
            for chunk in frames:
                enc, seg = pool.submit(encode_segment, enc, chunk).result(120)
                out.append(seg)
        streams.append(b"".join(out))
    assert streams[0] == streams[1] and enc.frames == 8 and enc.segments == 2


def test_ended_sessions_are_forgotten_after_the_keep_time() -> None:
    async def scenario() -> tuple[int, int, list[str]]:
        mgr = SessionManager(ManagerConfig(keep_ended_s=10.0))
        old, new, live = (Session(i, "p", SessionSpec("a kite")) for i in ("old", "new", "live"))
        for s in (old, new, live):
            mgr.sessions[s.id] = s
        old.end(SessionStatus.FINISHED)
        new.end(SessionStatus.CLOSED)
        assert old.ended_at is not None
        first = mgr.purge(old.ended_at + 5)
        second = mgr.purge(old.ended_at + 11)
        mgr.encode_pool.shutdown()
        return first, second, sorted(mgr.sessions)

    assert asyncio.run(scenario()) == (0, 2, ["live"])
