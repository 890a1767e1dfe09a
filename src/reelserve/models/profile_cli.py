"""``reelserve profile``: measure a model on this machine's devices and write its cost profile."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from reelserve.core.errors import InvalidInput, ReelserveError

__all__ = ["app", "profile_command"]

app = typer.Typer(add_completion=False, help="Measure model cost profiles.")
out = Console()
err = Console(stderr=True)


def _sizes(text: str) -> list[tuple[int, int]]:
    try:
        pairs = [tuple(int(v) for v in part.lower().split("x")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InvalidInput(f"--sizes takes WxH pairs such as 64x64,128x128 (got {text!r})") from None
    if not pairs or any(len(p) != 2 or min(p) <= 0 for p in pairs):
        raise InvalidInput(f"--sizes takes WxH pairs such as 64x64,128x128 (got {text!r})")
    return [(p[0], p[1]) for p in pairs]


def _ints(text: str, name: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InvalidInput(f"--{name} takes comma-separated integers (got {text!r})") from None
    if not values or min(values) <= 0:
        raise InvalidInput(f"--{name} takes positive integers (got {text!r})")
    return values


def _out_path(base: Path, device: str, several: bool) -> Path:
    if not several:
        return base
    return base.with_name(f"{base.stem}.{device.replace(':', '-')}{base.suffix or '.json'}")


def _chunk_path(
    model_name: str, point: Any, steps: int, max_batch: int, rounds: int, threads: int
) -> Callable[[str], dict[str, Any]]:
    """``engine.model.chunk_profile`` at ``point``'s size and chunk length, on a device: a model worker
    process of its own (the engine's) and this process's encode threads, overlapping as in the engine."""
    from reelserve.engine.sessions.spec import SessionSpec

    spec = SessionSpec(
        "a red fox running through snow", model=model_name, width=point.width, height=point.height,
        chunk_frames=point.frames - 1, steps=steps,
    ).validate()  # fmt: skip
    if rounds < 1:
        raise InvalidInput(f"--rounds takes a positive integer (got {rounds})")

    def run(device: str) -> dict[str, Any]:
        from reelserve.engine.model.chunk_profile import ChunkPathProfiler

        start = ChunkPathProfiler.start(model_name, device, threads=threads, max_batch=max_batch)
        with start as profiler:
            return {"chunk_path": profiler.measure(spec, rounds=rounds)}

    return run


@app.command("profile")
def profile_command(
    model: Annotated[str, typer.Option(help="catalog model name")] = "tiny-wan",
    devices: Annotated[str, typer.Option(help="comma-separated devices, e.g. cpu or cuda:0,cuda:1")] = "cpu",
    sizes: Annotated[str, typer.Option(help="WxH sizes to measure")] = "64x64,128x128",
    frames: Annotated[str, typer.Option(help="frame counts (4k+1)")] = "9,17",
    batches: Annotated[str, typer.Option(help="batch sizes (clips denoised together)")] = "1,2,4",
    steps: Annotated[int, typer.Option(help="denoising steps timed per point")] = 4,
    repeats: Annotated[int, typer.Option(help="repeats of text, decode and encode timings")] = 3,
    threads: Annotated[int, typer.Option(help="torch threads on a CPU device (engine workers use 1)")] = 1,
    out_path: Annotated[Path, typer.Option("--out", help="profile JSON to write")] = Path("profile.json"),
    chunk_path: Annotated[
        bool,
        typer.Option(
            help="also time a streaming chunk's path through the engine's own code (batcher, state "
            "export, reply, fMP4 encode) at the smallest size and frame count, batches 1..max(--batches)"
        ),
    ] = False,
    rounds: Annotated[int, typer.Option(help="--chunk-path: chunks per batch size and session")] = 8,
) -> None:
    """Run MODEL on DEVICES and write the profile ``reelserve sim --profile PATH`` reads."""
    from reelserve.models.catalog import get_card, validate_request
    from reelserve.models.profile import grid, measure_profile

    try:
        points = grid(_sizes(sizes), _ints(frames, "frames"), _ints(batches, "batches"))
        card = get_card(model)
        for p in points:
            validate_request(card, width=p.width, height=p.height, frames=p.frames, steps=steps)
        names = [d.strip() for d in devices.split(",") if d.strip()]
        if not names:
            raise InvalidInput("--devices needs at least one device, e.g. cpu")
        top = max(_ints(batches, "batches"))
        chunks = _chunk_path(model, points[0], steps, top, rounds, threads) if chunk_path else None
        for device in names:
            result = measure_profile(
                model,
                device,
                points,
                steps=steps,
                repeats=repeats,
                threads=threads,
                progress=lambda r: out.print(
                    f"{r['width']}x{r['height']}x{r['frames']} b{r['batch']}: step {r['step_ms']:.1f} ms, "
                    f"text {r['text_ms']:.1f}, decode {r['vae_decode_ms']:.1f}, encode {r['encode_ms']:.1f}"
                ),
            )
            if chunks is not None:
                result.update(chunks(device))
            file = _out_path(out_path, device, len(names) > 1)
            file.write_text(json.dumps(result, indent=2) + "\n")
            if "chunk_path" in result:
                medians = {
                    k: round(statistics.median(v), 1) for k, v in result["chunk_path"]["step_ms"].items()
                }
                out.print(f"{device}: chunk path, step ms by running set {medians}")
            fit = result["latency_profile"]
            out.print(
                f"{device}: step {fit['step_ms']} ms at ref × tokens^{fit['token_exponent']} × "
                f"batch^{fit['batch_exponent']}; wrote {file}"
            )
    except ReelserveError as exc:
        err.print(f"[red]error[/] ({exc.code}): {exc.message}")
        raise typer.Exit(2 if isinstance(exc, InvalidInput) else 1) from None
