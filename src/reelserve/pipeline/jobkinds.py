"""Job kinds and their stage DAGs (a chain for now), registered by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from reelserve.core.errors import UnknownName
from reelserve.pipeline.context import StageContext

__all__ = ["StageDef", "register_kind", "stages_for"]


@dataclass(frozen=True, slots=True)
class StageDef:
    name: str
    #: How many segments this stage has for a job (1 for most stages).
    segments: Callable[[StageContext], int]
    #: Runs one segment and records its checkpoint as DONE.
    run: Callable[[StageContext, int], None]
    #: A job timestamp to set when every segment of the stage is done ("generated", "encoded").
    stamp: str | None = None


_KINDS: dict[str, list[StageDef]] = {}


def register_kind(kind: str, stages: list[StageDef]) -> None:
    _KINDS[kind] = stages


#: Modules whose import registers the built-in job kinds (any worker can run any of them).
BUILTIN_KINDS = ("reelserve.pipeline.t2v", "reelserve.pipeline.analyze.job")


def stages_for(kind: str) -> list[StageDef]:
    if kind not in _KINDS:
        import importlib

        for module in BUILTIN_KINDS:
            importlib.import_module(module)
    if kind not in _KINDS:
        raise UnknownName("job kind", kind, list(_KINDS))
    return _KINDS[kind]
