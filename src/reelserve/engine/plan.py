"""``reelserve serve --plan plan.json``: the planned worker groups on this node's devices.

The plan's ``engine`` section (``sched/provision/engine_config.py``) lists worker groups — stage,
catalog model, GPU type, spot, replicas — and the stages served elsewhere. ``--device-map`` says which
local devices stand for each GPU type (``H100=cuda:0,cuda:1;A100=cuda:2``); ``--model-map`` swaps a
catalog model for another (``wan2.1-t2v-14b=tiny-wan``: no weights can be downloaded here). Each group
gets one model worker per mapped device, up to its replicas. Whatever the plan asks that this node
cannot give (a GPU type with no devices, fewer devices than replicas, a stage served elsewhere, a model
that needs weights) is a *shortfall*: one line each, printed at start and kept in ``GET /v1/engine``;
``strict`` turns any shortfall into an error. Bad input raises ``InvalidInput`` (CLI exit 2).

The section also names the scheduling policy the plan is made for and the switches of it the engine
runs (``ordering``, ``headroom``; the closed loop's are ``streams-first`` and 1; ``closed-loop+slo``
adds ``chunk_target_ms`` and ``ttff_target_s``): ``serve --plan`` starts with them unless
``--ordering`` / ``--headroom`` / ``--chunk-target-ms`` / ``--ttff-target-s`` say otherwise. A plan
without them (an older ``reelserve plan``) starts with the defaults, ``edf``, 0 and no targets.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from reelserve.core.errors import InvalidInput, UnknownName
from reelserve.engine.model.client import ModelWorkerClient
from reelserve.engine.model.pool import ModelPool, PoolConfig
from reelserve.sched.provision.engine_config import ENGINE_MODELS, ElsewhereStage, Scheduling, WorkerGroup
from reelserve.sched.provision.gpus import DEFAULT_GPUS

__all__ = [
    "METHODS",
    "EnginePlan",
    "PlannedPool",
    "PlannedWorker",
    "build_engine_plan",
    "load_plan",
    "parse_device_map",
    "parse_model_map",
    "plan_from_cli",
]

#: ``--method`` values: a planner's own plan, or the one ``reelserve plan`` chose.
METHODS = ("chosen", "greedy", "milp")

_DEVICE = re.compile(r"^(cpu|mps|cuda:\d+)$")


@dataclass(frozen=True, slots=True)
class PlannedWorker:
    """One model worker the plan asks for and this node runs."""

    device: str  #: local device standing for the GPU type
    model: str  #: catalog model it loads (after --model-map)
    gpu: str  #: the plan's GPU type (Ray: the actor's accelerator type)
    spot: bool  #: the plan's pool was spot
    stage: str  #: the plan's stage


@dataclass(frozen=True, slots=True)
class EnginePlan:
    """The workers to start and everything of the plan this node does not provide."""

    source: str  #: the plan file
    method: str  #: the planner whose plan this is
    workload: str  #: the plan's workload name
    workers: tuple[PlannedWorker, ...]  #: one per model worker, in start order
    shortfalls: tuple[str, ...]  #: what the plan asks and this node cannot give, one line each
    notes: tuple[str, ...]  #: facts worth a line that are not shortfalls (unused devices, spot)
    served_elsewhere: tuple[str, ...]  #: stages of the plan this engine does not serve
    policy: str | None = None  #: the scheduling policy the plan is made for; None = an older plan
    scheduling: Scheduling = field(default_factory=Scheduling)  #: its switches (or the defaults)

    def info(self) -> dict[str, Any]:
        """For ``GET /v1/engine``'s ``plan``."""
        return {
            "source": self.source,
            "method": self.method,
            "workload": self.workload,
            "workers": [asdict(w) for w in self.workers],
            "shortfalls": list(self.shortfalls),
            "notes": list(self.notes),
            "served_elsewhere": list(self.served_elsewhere),
            "policy": self.policy,
            "ordering": self.scheduling.ordering,
            "headroom": self.scheduling.headroom,
            "chunk_target_ms": self.scheduling.chunk_target_ms,
            "ttff_target_s": self.scheduling.ttff_target_s,
        }


def load_plan(path: Path, method: str = "chosen") -> tuple[str, dict[str, Any]]:
    """The named method's plan config from a ``reelserve plan --out`` file: (method, config)."""
    if method not in METHODS:
        raise UnknownName("plan method", method, list(METHODS), param="method")
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        why = exc.strerror or exc
        msg = f"cannot read the plan {path}: {why}; write one with `reelserve plan ... --out {path}`"
        raise InvalidInput(msg, param="plan") from None
    except ValueError as exc:
        raise InvalidInput(
            f"the plan {path} is not JSON ({exc}); write it with `reelserve plan`", param="plan"
        ) from None
    methods = doc.get("methods") if isinstance(doc, dict) else None
    if isinstance(methods, dict):
        name = str(doc.get("chosen")) if method == "chosen" else method
    elif isinstance(doc, dict) and "method" in doc:  # one planner's config on its own
        methods, name = {doc["method"]: doc}, str(doc["method"]) if method == "chosen" else method
    else:
        raise InvalidInput(
            f"{path} is not a reelserve plan (no methods); write it with `reelserve plan`", param="plan"
        )
    cfg = methods.get(name)
    if not isinstance(cfg, dict):
        raise UnknownName("plan method", name, ["chosen", *methods], param="method")
    if not cfg.get("feasible"):
        raise InvalidInput(
            f"the {name} plan in {path} is infeasible: nothing to start; re-plan with relaxed limits "
            "or choose another --method",
            param="plan",
        )
    if not isinstance(cfg.get("engine"), dict):
        msg = (
            f"the {name} plan in {path} has no engine section (an older `reelserve plan` wrote it); re-run it"
        )
        raise InvalidInput(msg, param="plan")
    return name, cfg


def _pairs(text: str | None, sep: str, flag: str, form: str) -> list[tuple[str, str]]:
    """``A=x<sep>B=y`` -> [(A, x), (B, y)]; an entry not of the form ``form`` is bad input."""
    out = []
    for part in (p.strip() for p in (text or "").split(sep)):
        left, eq, right = (s.strip() for s in part.partition("="))
        if part and not (eq and left and right):
            raise InvalidInput(
                f"{flag} entry {part!r} is not {form}", param=flag.strip("-").replace("-", "_")
            )
        if part:
            out.append((left, right))
    return out


def parse_device_map(text: str | None, known: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """``H100=cuda:0,cuda:1;A100=cuda:2`` -> {GPU type: devices}; a cuda device may appear once."""
    known = sorted(set(known))
    out: dict[str, tuple[str, ...]] = {}
    form = "TYPE=DEVICE[,DEVICE...]; e.g. 'H100=cuda:0,cuda:1;A100=cuda:2'"
    for gpu, devs in _pairs(text, ";", "--device-map", form):
        if gpu not in known:
            raise UnknownName("GPU type", gpu, known, param="device_map")
        if gpu in out:
            raise InvalidInput(f"--device-map names {gpu} twice; list its devices once", param="device_map")
        names = tuple(d.strip() for d in devs.split(","))
        bad = next((d for d in names if not _DEVICE.match(d)), None)
        if bad is not None:
            raise InvalidInput(
                f"--device-map {gpu}: {bad!r} is not a device; use cpu, mps or cuda:N", param="device_map"
            )
        out[gpu] = names
    cuda = [d for devs in out.values() for d in devs if d.startswith("cuda")]
    twice = sorted({d for d in cuda if cuda.count(d) > 1})
    if twice:
        raise InvalidInput(
            f"--device-map gives {', '.join(twice)} more than once; a GPU runs one worker", param="device_map"
        )
    return out


def parse_model_map(text: str | None) -> dict[str, str]:
    """``wan2.1-t2v-14b=tiny-wan[,...]`` -> {planned model: model to load}; both must be served models."""
    pairs = _pairs(text, ",", "--model-map", "MODEL=MODEL; e.g. wan2.1-t2v-14b=tiny-wan")
    for name in (n for pair in pairs for n in pair):
        if name not in ENGINE_MODELS:
            raise UnknownName("model", name, sorted(ENGINE_MODELS), param="model_map")
    return dict(pairs)


def _section(cfg: Mapping[str, Any]) -> tuple[list[WorkerGroup], list[ElsewhereStage]]:
    engine = cfg["engine"]
    try:
        groups = [WorkerGroup(**g) for g in engine.get("workers", [])]
        elsewhere = [
            ElsewhereStage(**{**e, "pools": tuple(e["pools"])}) for e in engine.get("served_elsewhere", [])
        ]
    except (TypeError, KeyError, AttributeError) as exc:
        raise InvalidInput(
            f"the plan's engine section is malformed ({exc}); re-run `reelserve plan`", param="plan"
        ) from None
    if any(not isinstance(g.replicas, int) or g.replicas < 0 for g in groups):
        raise InvalidInput(
            "the plan's engine section has a negative or fractional replica count", param="plan"
        )
    return groups, elsewhere


def _scheduling(cfg: Mapping[str, Any]) -> tuple[str | None, Scheduling]:
    """The plan's policy and its engine switches; a plan without them gets the defaults."""
    engine = cfg["engine"]
    policy = engine.get("policy")
    try:
        return policy, Scheduling(
            engine.get("ordering", "edf"),
            engine.get("headroom", 0),
            engine.get("chunk_target_ms", 0.0),
            engine.get("ttff_target_s", 0.0),
        )
    except InvalidInput as exc:
        raise InvalidInput(
            f"the plan's engine section is malformed ({exc.message}); re-run `reelserve plan`", param="plan"
        ) from None


def _pools_text(pools: Iterable[Mapping[str, Any]]) -> str:
    return (
        " + ".join(f"{p['replicas']} x {p['gpu']}{' spot' if p['spot'] else ''}" for p in pools) or "no pools"
    )


def build_engine_plan(
    source: str,
    method: str,
    cfg: Mapping[str, Any],
    device_map: Mapping[str, tuple[str, ...]],
    model_map: Mapping[str, str],
) -> EnginePlan:
    """Assign each worker group's replicas to mapped devices, in plan order; list what is missing."""
    from reelserve.models.catalog import get_card  # the engine's catalog: which models need weights

    groups, elsewhere = _section(cfg)
    free = {gpu: list(devs) for gpu, devs in device_map.items()}
    workers: list[PlannedWorker] = []
    short = [f"stage {e.stage}: {e.reason} (plan: {_pools_text(e.pools)})" for e in elsewhere]
    notes: list[str] = []
    for g in groups:
        model = model_map.get(g.model, g.model)
        where = (
            f"stage {g.stage} ({g.variant} -> {model}) on {g.replicas} x {g.gpu}{' spot' if g.spot else ''}"
        )
        if get_card(model).weights_required:
            short.append(
                f"{where}: {model} needs a weights directory, which model workers do not load; none started "
                f"(map it to a built-in model, e.g. --model-map {g.model}=tiny-wan)"
            )
            continue
        if g.gpus_per_replica > 1:
            short.append(
                f"{where}: a replica needs {g.gpus_per_replica} GPUs; a model worker here uses one device"
            )
        devs = free.get(g.gpu)
        if devs is None:
            short.append(f"{where}: --device-map gives no {g.gpu} devices; none started")
            continue
        take, devs[:] = devs[: g.replicas], devs[g.replicas :]
        if len(take) < g.replicas:
            short.append(
                f"{where}: {len(take)} {g.gpu} device(s) mapped; {g.replicas - len(take)} replicas short"
            )
        if g.spot and take:
            notes.append(f"{where}: planned as spot; this node's devices run it as they are")
        workers.extend(PlannedWorker(d, model, g.gpu, g.spot, g.stage) for d in take)
    notes += [
        f"--device-map {gpu}: {','.join(d)} unused (the plan asks no more {gpu})"
        for gpu, d in free.items()
        if d
    ]
    unused = sorted(set(model_map) - {g.model for g in groups})
    notes += [f"--model-map {m}: no worker group of this plan loads {m}" for m in unused]
    served = tuple(f"{e.stage} ({e.kind} {e.variant})" for e in elsewhere)
    workload = str(cfg.get("workload", ""))
    policy, scheduling = _scheduling(cfg)
    return EnginePlan(
        source, method, workload, tuple(workers), tuple(short), tuple(notes), served, policy, scheduling
    )


def plan_from_cli(
    path: Path, method: str, device_map: str | None, model_map: str | None, strict: bool
) -> EnginePlan:
    """Everything ``serve --plan`` checks before starting anything; raises ``InvalidInput`` on bad input."""
    name, cfg = load_plan(path, method)
    groups, _ = _section(cfg)
    known = set(DEFAULT_GPUS) | {g.gpu for g in groups}
    plan = build_engine_plan(
        str(path), name, cfg, parse_device_map(device_map, known), parse_model_map(model_map)
    )
    if not plan.workers:
        lines = "; ".join(plan.shortfalls) or "the plan has no worker groups"
        raise InvalidInput(
            f"no model worker of the {name} plan can start on this node: {lines}", param="plan"
        )
    if strict and plan.shortfalls:
        lines = "; ".join(plan.shortfalls)
        raise InvalidInput(f"--strict: this node falls short of the {name} plan: {lines}", param="plan")
    return plan


class PlannedPool(ModelPool):
    """``ModelPool`` whose workers take the plan's slots (device and model each), lowest free slot first.

    It never runs more workers than the plan has slots: ``start(n)`` starts at most as many as are
    free (a session manager asking for a worker while the first ones still load gets none), and a
    replacement for a lost worker takes the slot it left, so the pool keeps the plan's shape.
    """

    def __init__(self, cfg: PoolConfig, slots: tuple[PlannedWorker, ...]) -> None:
        super().__init__(replace(cfg, devices=tuple(s.device for s in slots), model=slots[0].model))
        self.slots = slots
        self.slot_of: dict[str, int] = {}  #: worker id -> index into ``slots`` (started or starting)
        self._held: set[int] = set()  #: slots reserved by a ``start`` in progress
        self._slot_lock = threading.Lock()
        self._local = threading.local()  #: the slots this thread's ``start`` reserved, in order

    def start(self, n: int | None = None) -> list[str]:
        with self._slot_lock:
            taken = set(self.slot_of.values()) | self._held
            mine = [i for i in range(len(self.slots)) if i not in taken][
                : len(self.slots) if n is None else n
            ]
            self._held |= set(mine)
        if not mine:
            return []
        self._local.queue = list(mine)
        try:
            return super().start(len(mine))
        finally:
            self._local.queue = []
            with self._slot_lock:  # a slot whose worker did not start (its model failed) is free again
                self._held -= set(mine)
                self.slot_of = {w: i for w, i in self.slot_of.items() if w in self.workers or i in self._held}

    def _new_client(self) -> ModelWorkerClient:
        base = super()._new_client()
        queue: list[int] = getattr(self._local, "queue", [])
        with self._slot_lock:
            if queue:
                index = queue.pop(0)
            else:
                taken = set(self.slot_of.values()) | self._held
                free = [i for i in range(len(self.slots)) if i not in taken]
                index = free[0] if free else len(self.slot_of) % len(self.slots)
            self.slot_of[base.id] = index
        slot = self.slots[index]
        return self._client(type(base)(replace(base.cfg, device=slot.device, model=slot.model)), slot)

    def _client(self, client: ModelWorkerClient, slot: PlannedWorker) -> ModelWorkerClient:
        """Hook for backends that place workers by the slot's GPU type (Ray)."""
        return client

    def remove(self, worker: str, drain: bool = True) -> None:
        super().remove(worker, drain)
        with self._slot_lock:
            self.slot_of.pop(worker, None)
