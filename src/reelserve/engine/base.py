"""The ``Backend`` seam: what the server needs of whatever runs its jobs.

Contract: ``start()`` launches the workers and returns at once (they claim jobs from the store on
their own); ``alive()`` counts workers that are running now; ``stop(drain=True)`` asks each worker
to stop at its next step boundary and hand its job back to the queue (``Store.release_job``), then
waits; ``stop(drain=False)`` kills them (their leases expire and the work is re-queued). A backend
is started at most once.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Backend"]


class Backend(Protocol):
    def start(self) -> None: ...

    def stop(self, drain: bool = True) -> None: ...

    def alive(self) -> int: ...
