"""A bounded queue that measures itself: the backpressure between decode workers and the model worker.

``put`` blocks while ``maxsize`` items wait, so decoders never run more than ``maxsize`` chunks ahead
of the model (memory stays bounded); the time each side spent blocked tells which one is the
bottleneck: decoders blocked on ``put`` = the model is slower; the model blocked on ``get`` = decode is.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["BoundedQueue", "QueueStats"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class QueueStats:
    maxsize: int  #: the bound
    high_water: int  #: most items ever waiting at once (never above maxsize)
    put_wait_s: float  #: producers' total time blocked on a full queue
    get_wait_s: float  #: consumers' total time blocked on an empty queue
    items: int  #: items that went through


class BoundedQueue(Generic[T]):
    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("a bounded queue needs maxsize >= 1")
        self._queue: queue.Queue[T] = queue.Queue(maxsize)
        self._lock = threading.Lock()
        self.maxsize = maxsize
        self._high = 0
        self._put_wait = 0.0
        self._get_wait = 0.0
        self._items = 0

    def put(self, item: T) -> None:
        start = time.perf_counter()
        self._queue.put(item)
        waited = time.perf_counter() - start
        size = self._queue.qsize()
        with self._lock:
            self._put_wait += waited
            self._high = max(self._high, size)
            self._items += 1

    def get(self) -> T:
        start = time.perf_counter()
        item = self._queue.get()
        with self._lock:
            self._get_wait += time.perf_counter() - start
        return item

    def stats(self) -> QueueStats:
        with self._lock:
            return QueueStats(self.maxsize, self._high, self._put_wait, self._get_wait, self._items)
