"""``reelserve profile``: measure a model on this machine's devices and write its cost profile."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

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
            path = _out_path(out_path, device, len(names) > 1)
            path.write_text(json.dumps(result, indent=2) + "\n")
            fit = result["latency_profile"]
            out.print(
                f"{device}: step {fit['step_ms']} ms at ref × tokens^{fit['token_exponent']} × "
                f"batch^{fit['batch_exponent']}; wrote {path}"
            )
    except ReelserveError as exc:
        err.print(f"[red]error[/] ({exc.code}): {exc.message}")
        raise typer.Exit(2 if isinstance(exc, InvalidInput) else 1) from None
