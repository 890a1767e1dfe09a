"""Time a streaming chunk's path through the engine, with the engine's concurrency (``reelserve profile
--chunk-path``).

Two processes, as in the engine. The worker side is a model worker process started the way the engine
starts one (``ModelWorkerClient``, forked from the pre-imported fork server) running the engine's own
worker (``engine.model.worker``): its pipe poll, ``op_open`` / ``op_chunk``, its ``Batcher``
(``plan_step`` with the engine's wait for company, admit, ``step_many``, the batched decode) and each
finished chunk's tail, state export and pickled reply. ``_TimedWorker`` only adds what the profile reads
back (``op_timings``): when each request was read, which step answered each chunk and when its reply was
written, the batcher's ``StepTiming``s, and each new session's prompt encoding. The driver side runs here
as ``engine.sessions.driver`` runs it: one coroutine per session awaits its chunk (the client's reader
thread, the hop onto the event loop), encodes the fMP4 segment on a shared pool of ``encode_threads``
threads with the session's own ``FragmentedEncoder`` and asks for the next chunk at once. So the
worker's next steps overlap the driver's encodes and contend with them for the cores, as in the engine.

Schedule: for running sets b = 1..max_batch, interleaved, b sessions ask for a chunk together and then
run closed-loop (each asks for its next chunk as soon as the last is encoded) for ``chunks_per_run``
chunks, until every session has made ``rounds`` chunks at every b. The sessions drift apart as the
engine's do, so every sample is keyed by what actually ran: ``step_ms`` by the step's running set,
``decode_ms`` by the chunks that finished together. The result holds samples, not medians
(``sim.streaming.ChunkCost.from_chunk_path`` draws from them).
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from typing import Any

from reelserve.core.errors import InvalidInput
from reelserve.engine.encode import encode_segment, init_stream
from reelserve.engine.model.batcher import Batcher, StepTiming
from reelserve.engine.model.client import ModelWorkerClient
from reelserve.engine.model.config import ModelWorkerConfig
from reelserve.engine.model.worker import _Worker, model_worker_main
from reelserve.engine.sessions.spec import SessionSpec
from reelserve.media.codecs import EncodeSettings
from reelserve.media.fmp4 import FragmentedEncoder

__all__ = ["CHUNK_PATH_VERSION", "ChunkPathProfiler", "DriverChunk", "chunk_path_samples"]

#: 2: worker process + driver overlapping (this module); 1 (no ``version`` key): all in one process
CHUNK_PATH_VERSION = 2


class _TimedBatcher(Batcher):
    """The engine's batcher, noting how late each wait for company really ended: the first tick at or
    after the wake it asked for (the worker loop's poll timeout, then a core to run on)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.wake: float | None = None  #: the wake (monotonic) the last tick asked for
        self.late: list[float] = []  #: seconds past the wake of each expired wait
        self.ended: dict[int, float] = {}  #: step number -> wall clock when it ended (callbacks done)

    def tick(self) -> float | None:
        now = time.monotonic()
        if self.wake is not None and now >= self.wake:
            self.late.append(now - self.wake)
        self.wake = super().tick()
        if self.wake is None and self.batch_sizes:  # a step ran, its hand-backs included
            self.ended[len(self.batch_sizes)] = time.time()
        return self.wake


class _TimedWorker(_Worker):
    """The engine's model worker, plus the profile's stamps (wall clock, shared with the parent)."""

    def __init__(self, cfg: ModelWorkerConfig, conn: Connection, term: list[bool]) -> None:
        super().__init__(cfg, conn, term)
        self.batcher = _TimedBatcher(self.model, cfg.max_batch, cfg.max_wait_s, cfg.preempt, cfg.ordering)
        self.polling_since = 0.0  #: when the loop last started polling its pipe (not in a step)
        self.keys: dict[int, str] = {}  #: request id -> "sid/index" of a chunk request
        self.read: dict[str, tuple[float, float]] = {}  #: chunk -> (read at, polling since)
        self.answered: dict[str, tuple[int, float]] = {}  #: chunk -> (step that finished it, reply written)
        self.opened: list[float] = []  #: seconds: a new session's prompt encoding

    def _timeout(self, wake: float | None) -> float:
        self.polling_since = time.time()  # called right before the loop polls its pipe
        return super()._timeout(wake)

    def handle(self, msg: tuple[int, str, dict[str, Any]]) -> None:
        rid, op, args = msg
        if op == "chunk":
            key = self.keys[rid] = f"{args['sid']}/{args['index']}"
            self.read[key] = (time.time(), self.polling_since)
        super().handle(msg)

    def reply(self, rid: int, result: Any) -> None:
        super().reply(rid, result)
        if rid in self.keys:
            self.answered[self.keys.pop(rid)] = (len(self.batcher.batch_sizes), time.time())

    def op_open(self, rid: int, sid: str, spec: dict[str, Any]) -> None:
        super().op_open(rid, sid, spec)
        t0 = time.perf_counter()  # the prompt encoding its first ``op_chunk`` would do
        self.sessions[sid].conditioning(self.model)
        self.opened.append(time.perf_counter() - t0)

    def op_timings(self, rid: int) -> None:
        """Everything stamped since the last call (metadata only), then forget it."""
        assert isinstance(self.batcher, _TimedBatcher)
        steps = [asdict(t) for t in self.batcher.timings]
        self.batcher.timings.clear()
        out = {"steps": steps, "read": self.read, "answered": self.answered, "opened": self.opened,
               "late": self.batcher.late, "ended": self.batcher.ended}  # fmt: skip
        self.read, self.answered, self.opened, self.batcher.late, self.batcher.ended = {}, {}, [], [], {}
        self.reply(rid, out)


def _timed_worker_main(cfg: ModelWorkerConfig, conn: Connection) -> None:
    model_worker_main(cfg, conn, _TimedWorker)


@dataclass(frozen=True, slots=True)
class DriverChunk:
    """One chunk as the driver saw it (wall-clock seconds)."""

    key: str  #: "sid/index"
    sent: float  #: its request written to the worker's pipe
    got: float  #: the session's coroutine has the reply
    encoded: float  #: its segment encoded


@dataclass
class _Stream:
    sid: str
    encoder: FragmentedEncoder
    index: int = 0  #: the next chunk


class ChunkPathProfiler:
    """A timed model worker process and the driver's encode pool; ``measure`` any number of times, then
    ``close`` (or use ``with``). Start with ``ChunkPathProfiler.start``."""

    def __init__(self, client: ModelWorkerClient, pool: ThreadPoolExecutor, preset: str) -> None:
        self.client = client
        self.pool = pool
        self.preset = preset
        self._opened = 0  #: sessions opened so far (ids stay unique across measurements)

    @classmethod
    def start(
        cls,
        model: str = "tiny-wan",
        device: str = "cpu",
        *,
        threads: int = 1,
        max_batch: int = 4,
        max_wait_s: float = 0.01,
        encode_threads: int = 2,
        encode_preset: str = "ultrafast",
    ) -> ChunkPathProfiler:
        """A worker configured as the engine's pool configures one (``PoolConfig`` defaults otherwise);
        ``encode_threads`` as ``ManagerConfig.encode_threads``. Blocks until the model is loaded."""
        if max_batch < 1 or encode_threads < 1:
            raise InvalidInput("the chunk-path profile needs max_batch >= 1 and encode_threads >= 1")
        cfg = ModelWorkerConfig("chunk-profile", device, model, max_batch, max_wait_s, threads=threads)
        client = ModelWorkerClient(cfg).start(_timed_worker_main).wait_ready()
        return cls(client, ThreadPoolExecutor(encode_threads, thread_name_prefix="encode"), encode_preset)

    def __enter__(self) -> ChunkPathProfiler:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.stop(drain=False)
        self.pool.shutdown(wait=False)

    def measure(self, spec: SessionSpec, *, rounds: int = 8, chunks_per_run: int = 4) -> dict[str, Any]:
        """Samples (ms) of every part of a chunk's path at ``spec``'s size, steps and chunk length (see
        ``chunk_path_samples`` for the keys)."""
        if rounds < 1 or chunks_per_run < 1:
            raise InvalidInput("the chunk-path profile needs rounds >= 1 and chunks_per_run >= 1")
        return asyncio.run(self._measure(spec, rounds, chunks_per_run))

    async def _measure(self, spec: SessionSpec, rounds: int, per_run: int) -> dict[str, Any]:
        top = self.client.cfg.max_batch
        streams = [await self._open(spec, k) for k in range(top)]
        for b in (1, top):  # warm-up: allocators, kernels, the encoders; not recorded
            await self._run(streams[:b], 1)
        await self._call("timings")  # forget the warm-up
        fresh = [await self._open(spec, k) for k in range(rounds)]  # their prompt encodings: ``open_ms``
        chunks: list[DriverChunk] = []
        # sizes interleaved run by run: a minute of extra load slows every size a little, not one a lot
        for done in range(0, rounds, per_run):
            for b in range(1, top + 1):
                chunks += await self._run(streams[:b], min(per_run, rounds - done))
        stamps = await self._call("timings")
        # a running set or a decode size no run happened to form: b sessions once more, together
        for _ in range(3):
            formed = {t["batch"] for t in stamps["steps"]} & {t["finished"] for t in stamps["steps"]}
            missing = [b for b in range(1, top + 1) if b not in formed]
            if not missing:
                break
            for b in missing:
                chunks += await self._run(streams[:b], 1)
            more = await self._call("timings")
            stamps = {k: _join(stamps[k], more[k]) for k in stamps}
        for s in (*streams, *fresh):
            await self._call("close", sid=s.sid)
        out = chunk_path_samples(chunks, stamps)
        return {"version": CHUNK_PATH_VERSION, "concurrency": "worker process + driver, overlapping",
                "width": spec.width, "height": spec.height, "frames": spec.gen_frames,
                "chunk_frames": spec.chunk_frames, "steps": spec.steps, "max_batch": top,
                "rounds": rounds, "chunks_per_run": per_run, **out}  # fmt: skip

    async def _call(self, op: str, **args: Any) -> Any:
        return await asyncio.wrap_future(self.client.call(op, **args))

    async def _open(self, spec: SessionSpec, k: int) -> _Stream:
        self._opened += 1
        sid = f"p{self._opened}"
        fields = {**spec.to_dict(), "prompt": f"{spec.prompt}, take {self._opened}", "seed": k}
        await self._call("open", sid=sid, spec=fields)
        settings = EncodeSettings(crf=23, preset=self.preset, threads=1, faststart=False)
        encoder, _ = init_stream(FragmentedEncoder(spec.width, spec.height, spec.fps, settings))
        return _Stream(sid, encoder)

    async def _run(self, streams: list[_Stream], chunks: int) -> list[DriverChunk]:
        """The streams ask for a chunk together, then each for its next as soon as the last is encoded
        (``driver._chunk``'s way: await the reply, encode on the shared pool, ask again)."""
        loop = asyncio.get_running_loop()

        async def drive(s: _Stream) -> list[DriverChunk]:
            out = []
            for _ in range(chunks):
                sent = time.time()
                res = await self._call("chunk", sid=s.sid, index=s.index)
                got = time.time()
                s.encoder, _ = await loop.run_in_executor(self.pool, encode_segment, s.encoder, res["frames"])
                out.append(DriverChunk(f"{s.sid}/{s.index}", sent, got, time.time()))
                s.index += 1
            return out

        return [c for part in await asyncio.gather(*(drive(s) for s in streams)) for c in part]


def _join(a: Any, b: Any) -> Any:
    return {**a, **b} if isinstance(a, dict) else [*a, *b]


def _ms(seconds: float) -> float:
    return round(1000.0 * max(0.0, seconds), 3)


def chunk_path_samples(chunks: list[DriverChunk], stamps: dict[str, Any]) -> dict[str, Any]:
    """The profile's samples (ms) from the driver's chunks and the worker's stamps (``op_timings``).

    ``step_ms[b]`` / ``step_cpu_ms[b]``: one ``step_many`` over a running set of b (wall / the worker
    thread's CPU); ``decode_ms[k]``: the batched decode of k chunks finishing together; ``admit_ms``:
    admitting one chunk; ``finish_ms``: one finished chunk's callback on the worker (tail, state export,
    pickled reply written); ``reply_ms``: from that reply written to the session's coroutine having it;
    ``encode_ms``: its fMP4 segment, waiting for a pool thread included; ``request_ms``: the next request
    to the worker reading it, for requests sent while the worker was polling (one sent during a step is
    read at the step's end, which the simulator models itself); ``open_ms``: a new session's prompt
    encoding on the worker; ``wake_late_ms``: how late each wait for company ended, past the wake the
    batcher asked for (the loop's poll timeout, then a core to run on); ``deliver_ms[k]``: reply +
    encode of each of k chunks handed back by one step, in reply order, hand-back after hand-back
    (``ChunkCost.deliver_group_ms`` draws one whole); ``handback_ms[k]``: the same chunks' segments
    encoded, counted from the end of the step that finished them (negative: encoded, and the next chunk
    asked for, while the worker was still handing back the others).
    """
    timings = [StepTiming(**t) for t in stamps["steps"]]
    read, answered = stamps["read"], stamps["answered"]
    reply = {c.key: c.got - answered[c.key][1] for c in chunks}
    encode = {c.key: c.encoded - c.got for c in chunks}
    by_step: dict[int, list[str]] = {}
    for key in sorted(reply, key=lambda k: answered[k][1]):
        by_step.setdefault(answered[key][0], []).append(key)
    deliver: dict[str, list[float]] = {}
    handback: dict[str, list[float]] = {}  #: from the step's end: < 0 when encoded before it ended
    ended, encoded = stamps.get("ended", {}), {c.key: c.encoded for c in chunks}
    for step, keys in by_step.items():
        deliver.setdefault(str(len(keys)), []).extend(_ms(reply[k] + encode[k]) for k in keys)
        if step in ended:
            ms = [round(1000.0 * (encoded[k] - ended[step]), 3) for k in keys]
            handback.setdefault(str(len(keys)), []).extend(ms)
    return {
        "open_ms": [_ms(v) for v in stamps["opened"]],
        "wake_late_ms": [_ms(v) for v in stamps.get("late", ())],
        "step_ms": _by(timings, "batch", lambda t: t.step_s),
        "step_cpu_ms": _by(timings, "batch", lambda t: t.step_cpu_s),
        "decode_ms": _by([t for t in timings if t.finished], "finished", lambda t: t.decode_s),
        # one sample per chunk: the tick's time spread evenly over the chunks it admitted / finished
        "admit_ms": [_ms(t.admit_s / t.admitted) for t in timings for _ in range(t.admitted)],
        "finish_ms": [_ms(t.done_s / t.finished) for t in timings for _ in range(t.finished)],
        "reply_ms": [_ms(reply[c.key]) for c in chunks],
        "encode_ms": [_ms(encode[c.key]) for c in chunks],
        "request_ms": [_ms(read[c.key][0] - c.sent) for c in chunks if c.sent >= read[c.key][1]],
        "deliver_ms": _sized(deliver),
        "handback_ms": _sized(handback) if len(handback) == len(deliver) else {},
    }


def _sized(groups: dict[str, list[float]]) -> dict[str, list[float]]:
    return dict(sorted(groups.items(), key=lambda kv: int(kv[0])))


def _by(timings: list[StepTiming], key: str, value: Any) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for t in timings:
        out.setdefault(str(getattr(t, key)), []).append(_ms(value(t)))
    return dict(sorted(out.items(), key=lambda kv: int(kv[0])))
