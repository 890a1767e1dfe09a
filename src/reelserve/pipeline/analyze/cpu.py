"""Who computes next: the model device and the cores, shared by every analysis in a process, in order.

Two measured costs (docs/understanding.md) set the rules:

- **Oldest analysis first.** Two analyses that take turns chunk by chunk on one device both finish
  at the end; served oldest first, the first finishes in about half the time and the second no
  later, so mean latency drops by up to a quarter. So the device and the cores are granted by an
  ``order`` key, the analysis's admission (a smaller key goes first), not by whoever asks first.
- **The model before the decoders, on a CPU device.** A decoder running beside a multi-threaded
  torch forward pass slows that pass down (torch's threads meet at a barrier after every layer, so
  one pre-empted thread stalls the rest), while decoding costs a few per cent of a ResNet-50's time.
  So there is one slot per core: an inference call takes as many as torch has threads (none on a
  GPU), ahead of every decoder; a decoder takes one per packet (a millisecond or two), so the model
  waits at most that long and decoders fill every gap it leaves. The slots are process-wide, so
  concurrent analyses' decoders never outnumber the cores either.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from collections.abc import Iterator

__all__ = ["Order", "OrderedSlots", "computing", "cpu_slots", "decoding", "device_turns", "next_order"]

#: Smaller goes first. Built by `next_order` per analysis: (admission time, tie-breaker).
Order = tuple[float, int]

#: Inference calls go before decode work at the same order (first element of a slot key).
_COMPUTE, _DECODE = 0, 1


class OrderedSlots:
    """``capacity`` slots granted smallest key first: a holder may go ahead of a waiter with a smaller
    key only if the slots that waiter needs stay free (so nobody jumps the queue at its expense)."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be 1 or more, got {capacity}")
        self.capacity = capacity
        self._used = 0
        self._waiting: dict[int, tuple[tuple[object, ...], int]] = {}  # ticket → (key, slots)
        self._tickets = itertools.count()
        self._cond = threading.Condition()

    def _fits(self, key: tuple[object, ...], n: int) -> bool:
        ahead = sum(m for k, m in self._waiting.values() if k < key)  # type: ignore[operator]
        return self._used + ahead + n <= self.capacity

    @contextlib.contextmanager
    def hold(self, key: tuple[object, ...], slots: int = 1) -> Iterator[None]:
        """Hold ``slots`` slots (at most all of them; 0 = do not wait) while the block runs."""
        n = max(0, min(slots, self.capacity))
        if n == 0:
            yield
            return
        with self._cond:
            ticket = next(self._tickets)
            key = (*key, ticket)
            self._waiting[ticket] = (key, n)
            try:
                self._cond.wait_for(lambda: self._fits(key, n))
            finally:
                del self._waiting[ticket]
            self._used += n
        try:
            yield
        finally:
            with self._cond:
                self._used -= n
                self._cond.notify_all()

    @property
    def used(self) -> int:
        return self._used


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


_CPU = OrderedSlots(_cores())
_DEVICES: dict[str, OrderedSlots] = {}
_GUARD = threading.Lock()
_ORDERS = itertools.count()


def next_order() -> Order:
    """The order of an analysis admitted now (later admissions go after it)."""
    return (time.monotonic(), next(_ORDERS))


def cpu_slots() -> OrderedSlots:
    """The process-wide core slots (one per core this process may run on)."""
    return _CPU


def device_turns(device: str | None) -> OrderedSlots:
    """One model worker per device: a single slot, granted oldest analysis first."""
    with _GUARD:
        return _DEVICES.setdefault(device or "default", OrderedSlots(1))


@contextlib.contextmanager
def computing(device: str | None, order: Order, threads: int) -> Iterator[None]:
    """The device, then ``threads`` cores (0 on a GPU), for one inference call of analysis ``order``."""
    with device_turns(device).hold(order), _CPU.hold((_COMPUTE, *order), threads):
        yield


def decoding(order: Order) -> contextlib.AbstractContextManager[None]:
    """One core for one packet's decode work of analysis ``order``, after every waiting inference."""
    return _CPU.hold((_DECODE, *order))
