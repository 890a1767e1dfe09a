"""Admission of generation jobs: validate at the edge, then one idempotent insert."""

from __future__ import annotations

import os
from pathlib import Path

from reelserve.core.errors import InvalidInput
from reelserve.core.records import GenerationSpec, Job, Priority
from reelserve.models.catalog import get_card, validate_request
from reelserve.store.base import Store

__all__ = ["check_output_path", "parse_size", "submit_generation", "validate_spec"]

MAX_PROMPT_CHARS = 4000


def parse_size(size: str) -> tuple[int, int]:
    """``"WIDTHxHEIGHT"`` → (width, height), with a message that shows the expected form."""
    parts = size.lower().replace("×", "x").split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise InvalidInput(f"size must look like 256x256 (WIDTHxHEIGHT), got {size!r}", param="size")
    return int(parts[0]), int(parts[1])


def validate_spec(spec: GenerationSpec) -> None:
    if not spec.prompt.strip():
        raise InvalidInput("prompt must not be empty", param="prompt")
    if len(spec.prompt) > MAX_PROMPT_CHARS:
        raise InvalidInput(
            f"prompt is {len(spec.prompt)} characters; the limit is {MAX_PROMPT_CHARS}", param="prompt"
        )
    card = get_card(spec.model)
    validate_request(card, width=spec.width, height=spec.height, frames=spec.num_frames, steps=spec.steps)
    if spec.segment_frames and (spec.segment_frames < 5 or (spec.segment_frames - 1) % card.vae_temporal):
        raise InvalidInput("segment frames must be of the form 4k+1 and at least 5", param="segment_frames")
    if not 1 <= spec.fps <= 240:
        raise InvalidInput(f"fps must be between 1 and 240, got {spec.fps}", param="fps")
    if not 0 <= spec.crf <= 51:
        raise InvalidInput(f"crf must be between 0 and 51, got {spec.crf}", param="crf")
    if spec.guidance_scale < 0 or spec.guidance_scale > 50:
        raise InvalidInput(
            f"guidance scale must be between 0 and 50, got {spec.guidance_scale}", param="guidance_scale"
        )
    if spec.checkpoint_every < 0:
        raise InvalidInput("checkpoint interval must be 0 (never) or more steps", param="checkpoint_every")
    if card.weights_required and not spec.weights:
        raise InvalidInput(f"{card.name} needs a local weights directory (--weights DIR)", param="weights")


def check_output_path(path: Path) -> Path:
    """The absolute output path, if its directory exists and is writable; else a clear error."""
    path = path.expanduser().resolve()
    if path.is_dir():
        raise InvalidInput(
            f"output {path} is a directory; give a file name such as {path / 'out.mp4'}", param="output"
        )
    parent = path.parent
    if not parent.is_dir():
        raise InvalidInput(f"output directory {parent} does not exist", param="output")
    if not os.access(parent, os.W_OK):
        raise InvalidInput(f"output directory {parent} is not writable", param="output")
    return path


def submit_generation(
    store: Store,
    spec: GenerationSpec,
    *,
    project: str = "default",
    idempotency_key: str | None = None,
    priority: Priority = Priority.INTERACTIVE,
    deadline: float | None = None,
    output_path: Path | None = None,
    max_attempts: int = 3,
) -> tuple[Job, bool]:
    """Validate and admit a text-to-video job; the same key returns the same job."""
    validate_spec(spec)
    out = None if output_path is None else str(check_output_path(output_path))
    return store.create_job(
        project=project,
        kind="t2v",
        spec=spec.to_dict(),
        priority=priority,
        idempotency_key=idempotency_key,
        deadline=deadline,
        max_attempts=max_attempts,
        output_path=out,
    )
