"""The event loop's order, and the workload generators and trace readers."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from reelserve.core.errors import InvalidInput, UnknownName
from reelserve.sim.loop import Event, EventLoop
from reelserve.sim.workload import JobShape, StreamingShape, WorkloadParams, build_workload
from reelserve.sim.workload.trace import read_trace


@dataclass
class Log:
    now: float = 0.0
    seen: list[tuple[float, str]] = field(default_factory=list)


class Note(Event[Log]):
    def __init__(self, time: float, name: str, then: float | None = None) -> None:
        super().__init__(time)
        self.name = name
        self.then = then

    def handle(self, world: Log) -> Iterable[Event[Log]]:
        world.seen.append((world.now, self.name))
        return [Note(self.then, self.name + "+")] if self.then is not None else []


def test_loop_runs_in_time_order_with_insertion_order_ties_and_stops_at_until() -> None:
    loop: EventLoop[Log] = EventLoop(Log())
    loop.schedule([Note(2.0, "b"), Note(1.0, "a", then=2.0), Note(2.0, "c"), Note(9.0, "late")])
    assert loop.run(until=5.0) == 4
    assert loop.world.seen == [(1.0, "a"), (2.0, "b"), (2.0, "c"), (2.0, "a+")]
    assert loop.world.now == 5.0 and len(loop) == 1
    with pytest.raises(ValueError, match="past"):
        loop.schedule([Note(1.0, "old")])


def test_streaming_generator_is_deterministic_and_shaped() -> None:
    shape = StreamingShape(sessions=400, hours=0.5, burstiness=2.0, mean_idle_s=10.0)
    a = build_workload("streaming", WorkloadParams(streaming=shape), seed=5)
    b = build_workload("streaming", WorkloadParams(streaming=shape), seed=5)
    c = build_workload("streaming", WorkloadParams(streaming=shape), seed=6)
    assert a == b and a != c
    assert len(a.sessions) == 400 and all(0 <= s.arrival < 1800 for s in a.sessions)
    assert any(len(s.segments) > 1 for s in a.sessions)  # idle gaps
    assert any(seg.prompt_changes for s in a.sessions for seg in s.segments)
    chunks = sorted(s.chunks for s in a.sessions)
    assert chunks[-1] > 5 * chunks[len(chunks) // 2]  # heavy tail


def test_job_generators() -> None:
    batch = build_workload("batch", WorkloadParams(jobs=JobShape(count=50, deadline_h=1.0)), 1)
    assert len(batch.jobs) == 50 and {j.deadline for j in batch.jobs} == {3600.0}
    dag = build_workload("dag", WorkloadParams(jobs=JobShape(videos=2, minutes=1.0, ttff_s=10.0)), 1)
    scenes = [j for j in dag.jobs if j.group == "v000"]
    assert len(scenes) == 12
    assert [j.deadline - scenes[0].arrival for j in scenes[:3]] == [10.0, 15.0, 20.0]


def test_traces_in_csv_and_jsonl(tmp_path: Path) -> None:
    csv_path = tmp_path / "s.csv"
    csv_path.write_text("id,arrival_s,segments,resolution\nx,1.5,3:10;2:0,480p\ny,0.5,4,720p\n")
    sessions, jobs = read_trace(csv_path)
    assert [s.id for s in sessions] == ["y", "x"] and jobs == ()
    assert sessions[1].chunks == 5 and sessions[1].segments[0].idle_s == 10.0
    jl = tmp_path / "j.jsonl"
    jl.write_text(
        json.dumps({"id": "j1", "arrival_s": 0, "deadline_s": 60, "priority": "interactive"}) + "\n"
    )
    sessions, jobs = read_trace(jl)
    assert sessions == () and jobs[0].deadline == 60.0
    wl = build_workload("trace", WorkloadParams(trace=str(csv_path)), 0)
    assert wl.kind == "streaming"


def test_bad_workloads_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(UnknownName, match="batch, dag, streaming, trace"):
        build_workload("podcasts", WorkloadParams(), 1)
    with pytest.raises(InvalidInput, match="sessions"):
        build_workload("streaming", WorkloadParams(streaming=StreamingShape(sessions=0)), 1)
    with pytest.raises(InvalidInput, match="tail-alpha"):
        build_workload("streaming", WorkloadParams(streaming=StreamingShape(tail_alpha=0.9)), 1)
    with pytest.raises(InvalidInput, match="needs --trace"):
        build_workload("trace", WorkloadParams(), 1)
    empty = tmp_path / "e.csv"
    empty.write_text("id,arrival_s,segments\n")
    with pytest.raises(InvalidInput, match="empty"):
        read_trace(empty)
    bad = tmp_path / "b.jsonl"
    bad.write_text('{"id": "x", "arrival_s": "soon", "segments": "2"}\n')
    with pytest.raises(InvalidInput, match="bad row"):
        read_trace(bad)
