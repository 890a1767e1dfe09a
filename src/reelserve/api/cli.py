"""``reelserve serve``, ``reelserve keys create|list|revoke`` and ``reelserve audit verify``.

The key and audit commands work on the data directory directly, also while a server runs on it
(SQLite in WAL mode lets them write beside the server).
"""

from __future__ import annotations

import json
import logging
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from reelserve.cli_common import DataOpt, StoreOpt, cli_errors
from reelserve.core.errors import InvalidInput, UnknownName

if TYPE_CHECKING:
    from reelserve.engine.plan import EnginePlan
    from reelserve.engine.sessions.manager import ManagerConfig
    from reelserve.sched.provision.engine_config import Scheduling

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, add_completion=False)
keys_app = typer.Typer(no_args_is_help=True, help="API keys: create, list, revoke.")
audit_app = typer.Typer(no_args_is_help=True, help="The hash-chained audit log.")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")


def _first_admin_key(engine: Any) -> str | None:
    from reelserve.store.governance import count_keys, create_key

    if count_keys(engine) > 0:
        return None
    plain, _ = create_key(engine, org="default", project="default", role="admin", name="first admin")
    return plain


@app.command()
@cli_errors
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes that run jobs (0 = API only).")] = 1,
    public_url: Annotated[str | None, typer.Option(help="Base URL for reference links.")] = None,
    max_queue: Annotated[int, typer.Option(help="Queued jobs before admission answers 429.")] = 100_000,
    engine: Annotated[
        str | None,
        typer.Option(
            help="local: one in-process model per job worker; model: a model worker per device "
            "(batched steps, preemption, streaming sessions share it); ray: the same model workers as "
            "Ray actors (needs the ray extra; joins $RAY_ADDRESS if set). Default: local, model with --plan."
        ),
    ] = None,
    devices: Annotated[
        str | None, typer.Option(help="--engine model/ray: cpu,cpu or cuda:0,cuda:1 ... (default cpu).")
    ] = None,
    plan: Annotated[
        Path | None,
        typer.Option(
            help="Start the model workers a `reelserve plan --out` file plans (--engine model/ray)."
        ),
    ] = None,
    method: Annotated[str, typer.Option(help="--plan: chosen, greedy or milp.")] = "chosen",
    device_map: Annotated[
        str | None,
        typer.Option(help="--plan: local devices per GPU type, e.g. 'H100=cuda:0,cuda:1;A100=cuda:2'."),
    ] = None,
    model_map: Annotated[
        str | None, typer.Option(help="--plan: load another model instead, e.g. wan2.1-t2v-14b=tiny-wan.")
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="--plan: fail if this node falls short of the plan.")
    ] = False,
    ordering: Annotated[
        str | None,
        typer.Option(
            help="The model workers' queue order: edf, or streams-first (a session's first chunk yields "
            "a batch slot to streaming ones for up to 2 s; the closed loop's). Default: the plan's, else edf."
        ),
    ] = None,
    headroom: Annotated[
        int | None,
        typer.Option(
            help="Batch slots a new session leaves free on a worker for its idle sessions' resumes "
            "(0 = off; the closed loop's is 1). Default: the plan's, else 0."
        ),
    ] = None,
    chunk_target_ms: Annotated[
        float | None,
        typer.Option(
            help="slo: per-chunk latency target, ms (0 = off). A new session finding no batch slot is "
            "admitted past a worker's capacity while its predicted latency stays within it; a streaming "
            "chunk is due min(its session's deadline_ms, this). Needs --ordering edf. "
            "Default: the plan's, else 0."
        ),
    ] = None,
    ttff_target_s: Annotated[
        float | None,
        typer.Option(
            help="slo: a session's first chunk is due this many seconds after the session opened "
            "(0 = off; EDF then runs it before streaming chunks only once it is due earlier). Needs "
            "--ordering edf. Default: the plan's (its workload's TTFF limit), else 0."
        ),
    ] = None,
    data: DataOpt = None,
    store: StoreOpt = None,
) -> None:
    """Start the API and local workers on the data directory (a first admin key on first start)."""
    import uvicorn

    from reelserve.api.app import create_app
    from reelserve.api.logging import configure_logging
    from reelserve.api.settings import ApiSettings
    from reelserve.local import open_data_dir

    engine = engine or ("model" if plan is not None else "local")
    if engine not in ENGINES:  # before anything is configured or written
        raise UnknownName("engine", engine, list(ENGINES), param="engine")
    planned = _plan(engine, devices, plan, method, device_map, model_map, strict)
    scheduling = _scheduling(
        planned,
        ordering=ordering,
        headroom=headroom,
        chunk_target_ms=chunk_target_ms,
        ttff_target_s=ttff_target_s,
    )
    configure_logging(logging.INFO)
    with open_data_dir(data, store) as dd:
        root, url = dd.root, str(dd.store.engine.url.render_as_string(hide_password=False))
        first = _first_admin_key(dd.store.engine)
    if first is not None:
        typer.echo(f"first admin key (shown once; store it now): {first}", err=True)
    settings = ApiSettings(data_dir=root, store_url=url, public_url=public_url, max_queue=max_queue)
    backend = _backend(engine, devices or "cpu", workers, url, str(root / "blobs"), planned)
    pool = getattr(backend, "pool", None)  # model/ray: the batchers of its workers (none started yet)
    if pool is not None:
        pool.cfg = replace(pool.cfg, ordering=scheduling.ordering)
    backend.start()
    try:
        app_ = create_app(settings, backend if workers > 0 else None)  # no workers: ready without any
        app_.state.engine_plan = None if planned is None else planned.info()  # GET /v1/engine shows it
        app_.state.session_config = _session_config(scheduling)
        config = uvicorn.Config(app_, host=host, port=port, log_config=None, access_log=False)
        server = uvicorn.Server(config)
        typer.echo(
            f"reelserve API on http://{host}:{port} (data {root}, engine {engine}, {workers} workers)",
            err=True,
        )
        # uvicorn restores the SIGTERM handler it found and re-raises the signal after its own
        # shutdown; with the default handler that would kill us before the workers drain.
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        server.run()
    finally:
        backend.stop(drain=True)
        typer.echo("reelserve API stopped; workers drained", err=True)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


#: The worker backends ``serve`` can run.
ENGINES = ("local", "model", "ray")


def _plan(
    engine: str,
    devices: str | None,
    plan: Path | None,
    method: str,
    device_map: str | None,
    model_map: str | None,
    strict: bool,
) -> EnginePlan | None:
    """``--plan``: check everything before anything starts; print one line per shortfall and note."""
    if plan is None:
        if device_map or model_map or strict or method != "chosen":
            raise InvalidInput(
                "--method, --device-map, --model-map and --strict go with --plan", param="plan"
            )
        return None
    if engine == "local":
        raise InvalidInput("--plan starts model workers: use --engine model or --engine ray", param="engine")
    if devices is not None:
        raise InvalidInput("--plan takes its devices from --device-map, not --devices", param="devices")
    from reelserve.engine.plan import plan_from_cli

    planned = plan_from_cli(plan, method, device_map, model_map, strict)
    for line in planned.shortfalls:
        typer.echo(f"warning: {line}", err=True)
    for line in planned.notes:
        typer.echo(f"note: {line}", err=True)
    where = ", ".join(f"{w.model} on {w.device} ({w.gpu})" for w in planned.workers)
    typer.echo(f"plan {planned.method} of {plan}: {len(planned.workers)} model workers: {where}", err=True)
    return planned


def _scheduling(plan: EnginePlan | None, **flags: Any) -> Scheduling:
    """The flags given (``Scheduling`` fields; None = not given) over the plan's over the defaults
    (edf, 0, no targets); bad values and bad combinations exit 2."""
    from reelserve.sched.provision.engine_config import Scheduling

    base = Scheduling() if plan is None else plan.scheduling
    given = {k: v for k, v in flags.items() if v is not None}
    chosen = replace(base, **given)
    if chosen != Scheduling():
        targets = f", chunk target {chosen.chunk_target_ms:g} ms, TTFF target {chosen.ttff_target_s:g} s"
        line = f"scheduling: ordering {chosen.ordering}, headroom {chosen.headroom}"
        typer.echo(line + (targets if chosen.slo else ""), err=True)
    return chosen


def _session_config(scheduling: Scheduling) -> ManagerConfig:
    """The session manager's settings (``REELSERVE_*``) with the scheduling switches."""
    from reelserve.engine.sessions.manager import config_from_env

    cfg = config_from_env()
    return replace(
        cfg,
        pool=replace(cfg.pool, ordering=scheduling.ordering),
        placement=replace(
            cfg.placement, headroom=scheduling.headroom, admit_ms=float(scheduling.chunk_target_ms)
        ),
        ttff_target_s=float(scheduling.ttff_target_s),
    )


def _backend(
    engine: str, devices: str, workers: int, store_url: str, blob_root: str, plan: EnginePlan | None = None
) -> Any:
    """The worker backend behind ``serve``; unknown names list the valid ones."""
    if engine == "local":
        from reelserve.engine.local import LocalBackend, WorkerConfig

        return LocalBackend(WorkerConfig(store_url=store_url, blob_root=blob_root), workers=workers)
    if engine == "model":
        from reelserve.engine.model.backend import ModelBackend
        from reelserve.engine.model.pool import PoolConfig

        devs = tuple(d.strip() for d in devices.split(",") if d.strip())
        backend = ModelBackend(PoolConfig(devices=devs), store_url, blob_root, job_slots=max(1, workers) * 4)
        if plan is not None:
            from reelserve.engine.plan import PlannedPool

            backend.pool = PlannedPool(backend.pool.cfg, plan.workers)
        return backend
    if engine == "ray":
        from reelserve.engine.ray import serve_backend

        return serve_backend(devices, workers, store_url, blob_root, plan)
    raise UnknownName("engine", engine, list(ENGINES), param="engine")


@keys_app.command("create")
@cli_errors
def keys_create(
    project: Annotated[str, typer.Option(help="The project the key may act in.")] = "default",
    role: Annotated[str, typer.Option(help="viewer, editor, service or admin.")] = "editor",
    org: Annotated[str, typer.Option(help="The organisation.")] = "default",
    name: Annotated[str, typer.Option(help="A label for listings.")] = "",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print the key alone.")] = False,
    data: DataOpt = None,
    store: StoreOpt = None,
) -> None:
    """Create an API key; it is shown once and stored hashed."""
    from reelserve.local import open_data_dir
    from reelserve.store.governance import create_key

    with open_data_dir(data, store) as dd:
        plain, key = create_key(dd.store.engine, org=org, project=project, role=role, name=name)
    if quiet:
        sys.stdout.write(plain + "\n")
        return
    typer.echo(f"{key.id}  {key.org}/{key.project}  {key.role.value}")
    typer.echo(f"key (shown once): {plain}")


@keys_app.command("list")
@cli_errors
def keys_list(
    as_json: Annotated[bool, typer.Option("--json")] = False, data: DataOpt = None, store: StoreOpt = None
) -> None:
    """Every key: id, prefix, org/project, role, created, revoked (never the key)."""
    from reelserve.local import open_data_dir
    from reelserve.store.governance import list_keys

    with open_data_dir(data, store) as dd:
        keys = list_keys(dd.store.engine)
    rows = [
        {
            "id": k.id, "prefix": k.prefix, "name": k.name, "org": k.org, "project": k.project,
            "role": k.role.value, "created_at": k.created_at, "revoked_at": k.revoked_at,
        }
        for k in keys
    ]  # fmt: skip
    if as_json:
        sys.stdout.write(json.dumps(rows) + "\n")
        return
    for r in rows:
        state = "revoked" if r["revoked_at"] else "live"
        typer.echo(
            f"{r['id']}  {r['prefix']}…  {r['org']}/{r['project']}  {r['role']:<8} {state}  {r['name']}"
        )


@keys_app.command("revoke")
@cli_errors
def keys_revoke(key_id: str, data: DataOpt = None, store: StoreOpt = None) -> None:
    """Revoke a key by id (servers stop accepting it within a few seconds)."""
    from reelserve.local import open_data_dir
    from reelserve.store.governance import revoke_key

    with open_data_dir(data, store) as dd:
        key = revoke_key(dd.store.engine, key_id)
    typer.echo(f"{key.id} revoked")


@audit_app.command("verify")
@cli_errors
def audit_verify(data: DataOpt = None, store: StoreOpt = None) -> None:
    """Recompute the hash chain; exit 1 naming the first changed or removed event."""
    from reelserve.local import open_data_dir
    from reelserve.store.governance import verify_audit

    with open_data_dir(data, store) as dd:
        report = verify_audit(dd.store.engine)
    if not report.ok:
        typer.echo(f"audit log BROKEN after {report.events} good events: {report.problem}", err=True)
        raise typer.Exit(1)
    typer.echo(f"audit log ok: {report.events} events, chain intact")
