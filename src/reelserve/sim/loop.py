"""The event loop: a heap of timestamped events; pop the earliest, set the clock, handle it.

A handler returns the new events it causes. Ties in time break on insertion order, so a run is
deterministic. ``World`` is whatever state the handlers mutate (a streaming cluster, a job farm);
the loop knows nothing about it except that it has a clock ``now``.
"""

from __future__ import annotations

import heapq
import itertools
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Generic, Protocol, TypeVar

__all__ = ["Event", "EventLoop", "World"]


class World(Protocol):
    """The state events act on."""

    now: float  #: simulated seconds; set by the loop before each handler runs


W = TypeVar("W", bound=World)


class Event(ABC, Generic[W]):
    """Something that happens at ``time``; ``handle`` returns the events it causes."""

    __slots__ = ("time",)

    def __init__(self, time: float) -> None:
        self.time = time

    @abstractmethod
    def handle(self, world: W) -> Iterable[Event[W]]:
        """Apply the event to ``world`` (whose clock is already ``self.time``)."""


class EventLoop(Generic[W]):
    """Runs events in time order until the heap is empty or ``until`` is passed."""

    def __init__(self, world: W) -> None:
        self.world = world
        self._heap: list[tuple[float, int, Event[W]]] = []
        self._seq = itertools.count()
        self.handled = 0  #: events handled so far

    def schedule(self, events: Iterable[Event[W]]) -> None:
        for event in events:
            if event.time < self.world.now - 1e-9:
                raise ValueError(
                    f"{type(event).__name__} scheduled in the past: {event.time} < {self.world.now}"
                )
            heapq.heappush(self._heap, (event.time, next(self._seq), event))

    def run(self, until: float = float("inf")) -> int:
        """Handle events with ``time <= until``; returns how many were handled in this call."""
        start = self.handled
        heap = self._heap
        while heap and heap[0][0] <= until:
            time, _, event = heapq.heappop(heap)
            self.world.now = time
            new = event.handle(self.world)
            for ev in new:
                heapq.heappush(heap, (ev.time, next(self._seq), ev))
            self.handled += 1
        if until != float("inf"):
            self.world.now = max(self.world.now, until)
        return self.handled - start

    def __len__(self) -> int:
        return len(self._heap)
