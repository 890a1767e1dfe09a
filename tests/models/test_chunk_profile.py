"""The chunk-path profile's samples from the driver's chunks and the worker's stamps (pure; no worker)."""

from __future__ import annotations

from typing import Any

import pytest

from reelserve.engine.model.chunk_profile import DriverChunk, chunk_path_samples


def _step(batch: int, finished: int, *, admitted: int = 0, step: float = 0.005) -> dict[str, Any]:
    return {"batch": batch, "admitted": admitted, "admit_s": 0.001 * admitted, "step_s": step,
            "step_cpu_s": step / 2, "finished": finished, "decode_s": 0.1 * finished,
            "done_s": 0.004 * finished}  # fmt: skip


def _stamps() -> dict[str, Any]:
    # a and b asked together at 10.000 (the worker polling since 9.990) and finished at step 2, replies
    # written at 10.050 and 10.052; a asked again at 10.070 while the worker was in a step (polling only
    # since 10.080): read at the step's end; it finished alone at step 4
    return {
        "steps": [_step(2, 0, admitted=2), _step(2, 2), _step(1, 0, admitted=1), _step(1, 1, step=0.007)],
        "read": {"a/1": (10.0003, 9.99), "b/1": (10.0004, 9.99), "a/2": (10.085, 10.08)},
        "answered": {"a/1": (2, 10.050), "b/1": (2, 10.052), "a/2": (4, 10.200)},
        "opened": [0.003, 0.004],
        "late": [0.0004, 0.002],  # two waits for company that ended 0.4 and 2 ms past their wake
        "ended": {1: 10.010, 2: 10.063, 3: 10.090, 4: 10.202},  # when each step's hand-backs were done
    }


CHUNKS = [
    DriverChunk("a/1", sent=10.0, got=10.051, encoded=10.061),
    DriverChunk("b/1", sent=10.0, got=10.053, encoded=10.069),
    DriverChunk("a/2", sent=10.070, got=10.201, encoded=10.211),
]


def test_steps_and_decodes_are_keyed_by_what_ran() -> None:
    out = chunk_path_samples(CHUNKS, _stamps())
    assert out["step_ms"] == {"1": [5.0, 7.0], "2": [5.0, 5.0]}
    assert out["step_cpu_ms"] == {"1": [2.5, 3.5], "2": [2.5, 2.5]}
    assert out["decode_ms"] == {"1": [100.0], "2": [200.0]}
    assert out["admit_ms"] == [1.0, 1.0, 1.0] and out["finish_ms"] == [4.0, 4.0, 4.0]
    assert out["open_ms"] == [3.0, 4.0]
    assert out["wake_late_ms"] == [0.4, 2.0]
    assert "wake_late_ms" in chunk_path_samples(CHUNKS, {k: v for k, v in _stamps().items() if k != "late"})


def test_the_driver_side_runs_from_the_reply_written_and_hand_backs_group_by_step() -> None:
    out = chunk_path_samples(CHUNKS, _stamps())
    assert out["reply_ms"] == pytest.approx([1.0, 1.0, 1.0])
    assert out["encode_ms"] == pytest.approx([10.0, 16.0, 10.0])
    # step 2 handed back a then b (in the order their replies were written); step 4 handed back a alone
    assert out["deliver_ms"] == {"1": pytest.approx([11.0]), "2": pytest.approx([11.0, 17.0])}
    # from the end of the step that finished them: a/1 was encoded 2 ms before step 2's hand-backs
    # were done (its next request then waits for that end), b/1 6 ms after; a/2 9 ms after step 4's
    assert out["handback_ms"] == {"1": pytest.approx([9.0]), "2": pytest.approx([-2.0, 6.0])}
    stamps = _stamps()
    del stamps["ended"][4]  # a hand-back size without its step's end: no hand-backs from the end at all
    assert chunk_path_samples(CHUNKS, stamps)["handback_ms"] == {}


def test_a_request_sent_during_a_step_is_no_transit_sample() -> None:
    out = chunk_path_samples(CHUNKS, _stamps())
    # a/2 was sent at 10.070, before the worker's poll began (10.080): its 15 ms were the step's, which
    # the simulator models itself; only a/1 and b/1 (sent while it polled) are transit samples
    assert out["request_ms"] == pytest.approx([0.3, 0.4])
