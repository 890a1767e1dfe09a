"""Time a streaming chunk's real path through the engine, piece by piece (``reelserve profile --chunk``).

The model worker's own code runs here, in this process: a ``Batcher`` (``plan_step``, ``start``,
``step_many``, the batched ``decode``) over ``WorkerSession``s, each finished chunk handled as
``worker.op_chunk`` handles it (keep the tail latent, ``export_state``, pickle the reply with its
frames and state), then the parent's side as ``engine.sessions.driver`` runs it: the reply over a
real ``multiprocessing`` pipe to a reader thread, the hop back onto the event loop, and the fMP4
``encode_segment`` on an encode thread with the session's own ``FragmentedEncoder``. The request's
way to the worker (pipe, the worker's poll waking up) is timed the same way.

For every running-set size b = 1..max_batch, ``rounds`` times, b sessions ask for their next chunk
together; every step's ``StepTiming`` is kept. The result holds *samples*, not medians, so the
simulator can draw each step's time from the measured distribution (``sim.streaming.ChunkCost.
from_chunk_path``). The batcher's ``max_wait_s`` is 0 here: the wait for company is the batching
policy's, which the simulator runs itself.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from multiprocessing import Pipe
from multiprocessing.reduction import ForkingPickler
from typing import Any

import numpy as np

from reelserve.core.errors import InvalidInput, ReelserveError
from reelserve.engine.encode import encode_segment, init_stream
from reelserve.engine.model.batcher import Batcher, StepTiming, WorkItem
from reelserve.engine.model.sessions import WorkerSession, export_state
from reelserve.engine.sessions.spec import SessionSpec, chunk_seed
from reelserve.media.codecs import EncodeSettings
from reelserve.media.fmp4 import FragmentedEncoder
from reelserve.models.wan import WanT2V

__all__ = ["measure_chunk_path"]


def _ms(seconds: float) -> float:
    return round(1000.0 * seconds, 3)


class _Chunks:
    """``max_batch`` sessions on one in-process batcher, handled as the model worker handles them."""

    def __init__(self, model: WanT2V, spec: SessionSpec, max_batch: int, preset: str) -> None:
        self.model = model
        self.batcher = Batcher(model, max_batch, max_wait_s=0.0, preempt=False)
        self.sessions = [
            WorkerSession(SessionSpec(f"{spec.prompt}, take {i}", **_spec_fields(spec, seed=i)))
            for i in range(max_batch)
        ]
        settings = EncodeSettings(crf=23, preset=preset, threads=1, faststart=False)
        self.encoders = [
            init_stream(FragmentedEncoder(spec.width, spec.height, spec.fps, settings))[0]
            for _ in range(max_batch)
        ]
        self.replies: list[tuple[int, bytes]] = []  #: (session, pickled reply) of the last round

    def round(self, batch: int) -> None:
        """Sessions 0..batch-1 each ask for their next chunk; run the batcher until all are done."""
        self.replies = []
        for k in range(batch):
            self._submit(k)
        while self.batcher.busy:
            self.batcher.tick()

    def _submit(self, k: int) -> None:
        sess = self.sessions[k]
        spec, index = sess.spec, sess.next_index
        sess.busy = True

        def done(item: WorkItem, frames: np.ndarray | None, err: ReelserveError | None) -> None:
            # as ``worker.op_chunk``'s callback: keep the tail, export the state, reply (pickled)
            sess.busy = False
            if err is not None:
                raise err
            assert frames is not None and item.latents is not None
            sess.tail = item.latents[:, :, -1:].clone()
            sess.next_index += 1
            state = export_state(sess)
            reply = {"started": item.started, "generated": time.time(), "steps_run": item.steps_run,
                     "preemptions": 0, "batch_size": item.max_batch,
                     "frames": frames[1:], "index": index, "state": state}  # fmt: skip
            n = len(self.replies)  # the reply's request id: the n-th reply of this step
            self.replies.append((k, bytes(ForkingPickler.dumps((n, "ok", reply)))))

        self.batcher.submit(
            WorkItem(
                f"s{k}/{index}", sess.conditioning(self.model), chunk_seed(spec.seed, index), spec.width,
                spec.height, spec.gen_frames, spec.steps, done, cond_latents=sess.tail,
            )
        )  # fmt: skip


def _spec_fields(spec: SessionSpec, seed: int) -> dict[str, Any]:
    return {"width": spec.width, "height": spec.height, "chunk_frames": spec.chunk_frames,
            "steps": spec.steps, "fps": spec.fps, "seed": seed}  # fmt: skip


class _Replay:
    """One step's replies over a real pipe: the worker's writes, the client's reader thread, and a
    thread blocked on the worker's end for the next requests (as its ``conn.poll`` is)."""

    def __init__(self, replies: list[tuple[int, bytes]]) -> None:
        self.replies = replies
        self.worker_end, self.parent_end = Pipe()
        self.futures: list[Future[Any]] = [Future() for _ in replies]
        self.sent = [0.0] * len(replies)
        self.received: dict[int, float] = {}
        self.all_received = threading.Event()

    def reader(self) -> None:  # ``ModelWorkerClient._read``: resolve the caller's future per answer
        while (msg := self.parent_end.recv()) is not None:
            self.futures[msg[0]].set_result(msg[2])

    def worker(self) -> None:  # the model worker reading the next requests
        while (msg := self.worker_end.recv()) is not None:
            self.received[msg[0]] = time.perf_counter()
            if len(self.received) == len(self.replies):
                self.all_received.set()

    def send(self) -> None:  # the worker's ``on_done`` callbacks, one reply after another
        for n, (_, blob) in enumerate(self.replies):
            self.sent[n] = time.perf_counter()
            self.worker_end.send_bytes(blob)  # what ``Connection.send`` writes after pickling

    def close(self) -> None:  # None stops each thread (closing a pipe does not wake a blocked one)
        self.worker_end.send(None)
        self.parent_end.send(None)


async def _parent_side(
    replies: list[tuple[int, bytes]], encoders: list[FragmentedEncoder], pool: ThreadPoolExecutor
) -> tuple[list[float], list[float], list[float]]:
    """The driver's side of one step's replies, as the engine runs it: the worker writes them back to
    back; each session's coroutine awaits its own, encodes on the shared encode pool (concurrently
    with the others') and sends its next request. Per chunk: (reply s, encode s incl. waiting for a
    pool thread, request s)."""
    io = _Replay(replies)
    loop = asyncio.get_running_loop()
    out: list[tuple[float, float, float]] = [(0.0, 0.0, 0.0)] * len(replies)

    async def driver(n: int, k: int) -> None:
        res = await asyncio.wrap_future(io.futures[n])
        t1 = time.perf_counter()
        encoders[k], _ = await loop.run_in_executor(pool, encode_segment, encoders[k], res["frames"])
        t2 = time.perf_counter()
        io.parent_end.send((n, "chunk", {"sid": f"s{k}", "index": res["index"] + 1, "steps": None}))
        out[n] = (t1 - io.sent[n], t2 - t1, t2)

    threads = [threading.Thread(target=f, daemon=True) for f in (io.reader, io.worker, io.send)]
    for t in threads:
        t.start()
    try:
        await asyncio.gather(*(driver(n, k) for n, (k, _) in enumerate(replies)))
        io.all_received.wait(5.0)
    finally:
        io.close()
        for t in threads:
            t.join(5.0)
    request = [io.received[n] - t2 for n, (_, _, t2) in enumerate(out)]
    return [r for r, _, _ in out], [e for _, e, _ in out], request


def measure_chunk_path(
    model: WanT2V,
    spec: SessionSpec,
    *,
    max_batch: int = 4,
    rounds: int = 10,
    encode_preset: str = "ultrafast",
    encode_threads: int = 2,
) -> dict[str, Any]:
    """Samples (ms) of every part of a chunk's path at ``spec``'s size, steps and chunk length.

    ``step_ms[b]``: one ``step_many`` over a running set of b; ``decode_ms[k]``: the batched decode of
    k chunks finishing together; ``admit_ms``: admitting one chunk (``start`` with its continuation
    latent); ``finish_ms``: one finished chunk's callback on the worker (tail, state export, pickled
    reply); ``reply_ms``: that reply to the driver's coroutine (pipe, reader thread, event loop);
    ``encode_ms``: its fMP4 segment; ``request_ms``: the next request to the worker's poll;
    ``open_ms``: a new session's record and prompt encoding on the worker, before its first chunk;
    ``deliver_ms[k]``: reply + encode of each of k chunks handed back together, encoded concurrently on
    ``encode_threads`` threads as the session manager's pool does (``ManagerConfig.encode_threads``) —
    each hand-back's k chunks in reply order, one hand-back after another, so the simulator can draw a
    whole hand-back (``ChunkCost.deliver_group_ms``).
    """
    if max_batch < 1 or rounds < 1:
        raise InvalidInput("the chunk-path profile needs max_batch >= 1 and rounds >= 1")
    chunks = _Chunks(model, spec, max_batch, encode_preset)
    timings: list[StepTiming] = []
    parts: dict[str, list[float]] = {"reply_ms": [], "encode_ms": [], "request_ms": []}
    deliver: dict[str, list[float]] = {}  #: reply + encode, by the number of chunks handed back together
    with ThreadPoolExecutor(encode_threads, thread_name_prefix="encode") as pool:
        for batch in (1, max_batch):  # warm-up: allocators, kernels, the encoder; not recorded
            chunks.round(batch)
            asyncio.run(_parent_side(chunks.replies, chunks.encoders, pool))
        # sizes interleaved round by round: a minute of extra load on a shared machine then slows
        # every size a little instead of one size a lot
        for batch in [b for _ in range(rounds) for b in range(1, max_batch + 1)]:
            chunks.batcher.timings.clear()
            chunks.round(batch)
            timings += chunks.batcher.timings
            reply, encode, request = asyncio.run(_parent_side(chunks.replies, chunks.encoders, pool))
            for name, values in zip(parts, (reply, encode, request), strict=True):
                parts[name] += [_ms(v) for v in values]
            both = zip(reply, encode, strict=True)
            deliver.setdefault(str(batch), []).extend(_ms(r + e) for r, e in both)
    return {
        "open_ms": _open_ms(model, spec, rounds),
        "width": spec.width,
        "height": spec.height,
        "frames": spec.gen_frames,
        "chunk_frames": spec.chunk_frames,
        "steps": spec.steps,
        "max_batch": max_batch,
        "rounds": rounds,
        "step_ms": _by(timings, "batch", lambda t: t.step_s),
        "step_cpu_ms": _by(timings, "batch", lambda t: t.step_cpu_s),
        "decode_ms": _by([t for t in timings if t.finished], "finished", lambda t: t.decode_s),
        # one sample per chunk: the tick's time spread evenly over the chunks it admitted / finished
        "admit_ms": [_ms(t.admit_s / t.admitted) for t in timings for _ in range(t.admitted)],
        "finish_ms": [_ms(t.done_s / t.finished) for t in timings for _ in range(t.finished)],
        **parts,
        "deliver_ms": deliver,
    }


def _open_ms(model: WanT2V, spec: SessionSpec, n: int) -> list[float]:
    """A new session on the worker, as ``op_open`` then its first ``op_chunk`` make it: the session
    record and its prompt's text encoding (once per prompt), ``n`` fresh prompts."""
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        WorkerSession(
            SessionSpec(f"{spec.prompt}, new session {i}", **_spec_fields(spec, seed=i))
        ).conditioning(model)
        out.append(_ms(time.perf_counter() - t0))
    return out


def _by(timings: list[StepTiming], key: str, value: Any) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for t in timings:
        out.setdefault(str(getattr(t, key)), []).append(_ms(value(t)))
    return dict(sorted(out.items(), key=lambda kv: int(kv[0])))
