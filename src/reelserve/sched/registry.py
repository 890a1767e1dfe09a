"""A string-keyed registry, one instance per extension point.

ORDERINGS = Registry[OrderFn]("ordering")

@ORDERINGS.register("edf")
def edf(...): ...

ORDERINGS.get("edf")      # the function
ORDERINGS.get("nope")     # UnknownName listing the valid names
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from reelserve.core.errors import UnknownName

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Names to entries for one kind of thing; registering a name twice is a programming error."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorate(entry: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = entry
            return entry

        return decorate

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownName(self.kind, name, list(self._entries)) from None

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._entries))

    def __contains__(self, name: object) -> bool:
        return name in self._entries
