"""Where and how big the Ray runtime is: one per process, started on first use or joined.

Ray writes session files, sockets, logs and an auth token. ``ensure_ray`` points all of it into a
directory we choose — ``_temp_dir``, ``RAY_TMPDIR`` and, while the Ray daemons start (they inherit
it), ``HOME`` — never ``~/.ray`` or ``/tmp/ray``. ``XDG_CACHE_HOME`` is pinned to the real home's cache
first, so model caches (Hugging Face, torch hub) resolve as before inside the actors. The dashboard
is off, logical CPUs are bounded, usage statistics are off (no network), the object store is capped,
and actors run at normal priority (``RAY_worker_niceness=0``: Ray's default, 15, starves the model
workers behind everything else on a busy host). ``ray.init`` runs on a thread that lives until
``shutdown_ray`` (see ``_init_on_keeper``). With ``address`` (or ``RAY_ADDRESS``) it joins a running
cluster instead (KubeRay, or another process's runtime; ``RAY_AUTH_TOKEN_PATH`` names its token).
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["RayRuntime", "ensure_ray", "shutdown_ray"]

log = logging.getLogger("reelserve.engine.ray")

#: AF_UNIX socket paths are limited to 107 bytes; Ray adds ~65 (t/session_<date>_<pid>/sockets/...)
_MAX_ROOT_CHARS = 40
_lock = threading.Lock()
_token: str | None = None  #: see `_process_token`
_release = threading.Event()  #: lets the thread that started Ray's daemons end (after shutdown)
_keepers: list[threading.Thread] = []
_owned: list[Path | None] = []  #: root of the runtime this process started; None: keep its files
_saved_env: dict[str, str | None] = {}  #: variables ensure_ray set, with their earlier values


@dataclass(frozen=True, slots=True)
class RayRuntime:
    root: str | None = None  #: Ray's files go here (a short fresh temp directory if None or too long)
    num_cpus: int | None = None  #: logical CPUs Ray may place actors on (None: this machine's count)
    address: str | None = None  #: join this cluster instead of starting one (default: $RAY_ADDRESS)
    object_store_mb: int = 512  #: shared-memory object store cap (session frames travel through it)
    resources: tuple[tuple[str, float], ...] = ()  #: custom resources a started node declares


def _root_dir(rt: RayRuntime) -> tuple[Path, bool]:
    """The directory for Ray's files and whether it is a fresh temp directory (removed at shutdown)."""
    if rt.root is not None and len(str(Path(rt.root).resolve())) <= _MAX_ROOT_CHARS:
        root = Path(rt.root).resolve()
        root.mkdir(parents=True, exist_ok=True)
        return root, False
    if rt.root is not None:
        log.info("ray root too long for unix sockets; using a temp directory", extra={"chars": len(rt.root)})
    return Path(tempfile.mkdtemp(prefix="rs-ray-")), True


def ensure_ray(rt: RayRuntime) -> bool:
    """Start (or join) Ray unless this process already has it; True when this call started it."""
    import ray

    with _lock:
        if ray.is_initialized():
            return False
        _set_env("RAY_USAGE_STATS_ENABLED", "0", keep=True)
        address = rt.address or os.environ.get("RAY_ADDRESS")
        if address:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
            log.info("joined a ray cluster", extra={"address": address})
            return False
        _start_local(rt)
        return True


def _set_env(name: str, value: str, keep: bool = False) -> None:
    """Set a variable for the runtime's lifetime (``shutdown_ray`` restores it); ``keep``: if unset."""
    if keep and name in os.environ:
        return
    _saved_env.setdefault(name, os.environ.get(name))
    os.environ[name] = value


def _start_local(rt: RayRuntime) -> None:
    import ray

    root, fresh = _root_dir(rt)
    home = root / "home"
    home.mkdir(exist_ok=True)
    # Ray (2.60) authenticates its daemons with a token. ray.init writes one under $HOME/.ray only
    # the first time in a process: a second runtime (after shutdown_ray) would start daemons that
    # find none and abort. So this process writes its own token for every runtime, and points Ray
    # at it; the same token each time, since the driver may keep the one it loaded.
    token_file = home / ".ray" / "auth_token"
    token_file.parent.mkdir(exist_ok=True)
    token_file.write_text(_process_token())
    token_file.chmod(0o600)
    _set_env("RAY_AUTH_TOKEN_PATH", str(token_file))
    real_home = os.environ.get("HOME", str(Path.home()))
    _set_env("XDG_CACHE_HOME", str(Path(real_home) / ".cache"), keep=True)
    _set_env("RAY_TMPDIR", str(root))
    # Ray runs workers at nice 15; the model actors are this server's main work, as local workers are
    _set_env("RAY_worker_niceness", "0", keep=True)
    os.environ["HOME"] = str(home)  # the daemons and worker processes started now inherit it
    try:
        _init_on_keeper(
            num_cpus=rt.num_cpus or os.cpu_count() or 1,
            object_store_memory=rt.object_store_mb * 1024 * 1024,
            include_dashboard=False,
            resources=dict(rt.resources) or None,
            log_to_driver=False,
            configure_logging=False,
            _temp_dir=str(root / "t"),
        )
    finally:
        os.environ["HOME"] = real_home
    _owned.append(root if fresh else None)  # a chosen root keeps Ray's logs after shutdown
    log.info("ray started", extra={"root": str(root), "address": ray.get_runtime_context().gcs_address})


def _process_token() -> str:
    """This process's Ray authentication token (made once, kept for every runtime it starts)."""
    global _token
    if _token is None:
        _token = secrets.token_hex(32)
    return _token


def _init_on_keeper(**kwargs: Any) -> None:
    """``ray.init`` on a thread that lives until ``shutdown_ray``.

    Ray starts its daemons with ``PR_SET_PDEATHSIG`` (SIGKILL), which fires when the *thread* that
    forked them ends, not the process: started from a short-lived thread (a backend's start thread),
    the whole runtime would be killed as soon as that thread returned.
    """
    import ray

    started: Future[None] = Future()

    def keep() -> None:
        try:
            ray.init(**kwargs)
        except BaseException as exc:
            started.set_exception(exc)
            return
        started.set_result(None)
        _release.wait()

    _release.clear()
    keeper = threading.Thread(target=keep, name="ray-runtime", daemon=True)
    keeper.start()
    started.result()
    _keepers.append(keeper)


def shutdown_ray() -> None:
    """Stop the runtime this process started (a joined cluster is only disconnected)."""
    import ray

    with _lock:
        ray.shutdown()
        _release.set()
        while _keepers:
            _keepers.pop().join(10.0)
        for name, value in _saved_env.items():  # e.g. a token path into a root removed below
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        _saved_env.clear()
        while _owned:
            root = _owned.pop()
            if root is not None:
                shutil.rmtree(root, ignore_errors=True)
