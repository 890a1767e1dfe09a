"""Ordered slots: the device and the cores go to the oldest analysis, and to inference before decoding."""

from __future__ import annotations

import threading
import time

import pytest

from reelserve.pipeline.analyze.cpu import OrderedSlots


def _waiters(slots: OrderedSlots, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(slots._waiting) < count:  # the threads have reached the queue
        assert time.monotonic() < deadline, "waiters never queued"
        time.sleep(0.001)


def _start(slots: OrderedSlots, key: tuple[object, ...], n: int, log: list[object]) -> threading.Thread:
    def run() -> None:
        with slots.hold(key, n):
            log.append(key)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_waiters_are_served_smallest_key_first() -> None:
    slots, log = OrderedSlots(1), []
    threads = []
    with slots.hold((0,)):
        for n, key in enumerate([(3,), (1,), (2,)]):  # asked for in this order
            threads.append(_start(slots, key, 1, log))
            _waiters(slots, n + 1)
    for t in threads:
        t.join()
    assert log == [(1,), (2,), (3,)]
    assert slots.used == 0


def test_nobody_jumps_ahead_into_slots_a_smaller_key_needs() -> None:
    # Two cores; a decoder holds one. Inference (key 0) wants both, so a later decoder (key 1) must
    # not take the free one, though it fits: inference runs next, then the decoder.
    slots, log = OrderedSlots(2), []
    with slots.hold((1, "first decoder")):
        compute = _start(slots, (0, "model"), 2, log)
        _waiters(slots, 1)
        decoder = _start(slots, (1, "second decoder"), 1, log)
        _waiters(slots, 2)
        assert slots.used == 1 and log == []  # the free slot stays free for the model
    compute.join()
    decoder.join()
    assert log == [(0, "model"), (1, "second decoder")]


def test_a_smaller_waiter_that_fits_lets_others_share_the_rest() -> None:
    slots, log = OrderedSlots(3), []
    with slots.hold((9,)):
        _start(slots, (0,), 1, log).join()  # fits beside the holder: no waiting
        assert log == [(0,)]


def test_zero_slots_never_wait_and_bad_capacity_is_refused() -> None:
    slots = OrderedSlots(1)
    with slots.hold((5,)), slots.hold((0,), 0):  # a GPU call takes no cores
        assert slots.used == 1
    with pytest.raises(ValueError):
        OrderedSlots(0)
