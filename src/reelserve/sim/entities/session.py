"""A simulated streaming session: what the workload asked for and where it is now."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from reelserve.sched.views import SessionView

__all__ = ["Segment", "SessionSpec", "SimSession"]


@dataclass(frozen=True, slots=True)
class Segment:
    """An active stretch of a session followed by an idle gap."""

    chunks: int  #: chunks generated in this stretch
    idle_s: float  #: idle seconds after it (0 for the last segment)
    prompt_changes: tuple[int, ...] = ()  #: chunk indices (within the stretch) that start a new prompt


@dataclass(frozen=True, slots=True)
class SessionSpec:
    """One session of a workload, as generated or read from a trace."""

    id: str  #: session id
    arrival: float  #: seconds from the start
    segments: tuple[Segment, ...]  #: active stretches and idle gaps, in order
    compute_units: float = 1.0  #: relative model cost
    resolution: str = "480p"  #: a key of sched.latency.RES_FACTOR
    frames: int = 32  #: frames per chunk
    state_mb: float = 256.0  #: state size (migration and offload cost)
    prompt_tokens: int = 77  #: tokens encoded when the prompt changes

    @property
    def chunks(self) -> int:
        return sum(s.chunks for s in self.segments)


@dataclass(slots=True, eq=False)
class SimSession:
    """Mutable simulator entity; ``view`` is rebuilt whenever a field the policies read changes."""

    spec: SessionSpec
    view: SessionView
    segment: int = 0  #: index of the current segment
    left: int = 0  #: chunks left in the current segment
    next_request: float = 0.0  #: when its next chunk is due to start (playback pacing)
    ready_at: float = 0.0  #: earliest it can run (after a migration or restore)
    first_done: float | None = None  #: when its first chunk completed (TTFF)
    pending_move: str | None = None  #: target worker once the in-flight chunk completes
    done: bool = False
    chunk_index: int = 0  #: chunks done in the current segment
    history: list[str] = field(default_factory=list)  #: workers it ran on (tests: nothing lost)

    @classmethod
    def start(cls, spec: SessionSpec) -> SimSession:
        view = SessionView(
            spec.id,
            None,
            True,
            spec.state_mb,
            spec.compute_units,
            spec.resolution,
            spec.frames,
            spec.prompt_tokens,
        )
        first = spec.segments[0].chunks if spec.segments else 0
        return cls(spec, view, 0, first, spec.arrival, spec.arrival)

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def worker(self) -> str | None:
        return self.view.worker

    @property
    def active(self) -> bool:
        return self.view.active

    def set(self, **changes: object) -> None:
        """Change fields of the policy view (worker, active, idle_since, prompt_tokens)."""
        self.view = replace(self.view, **changes)  # type: ignore[arg-type]
