"""From a request body to an admitted job: parse (JSON or multipart), map, validate, bound the queue."""

from __future__ import annotations

import json
import math
import secrets
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel
from starlette.datastructures import UploadFile

from reelserve.api.schemas import GenerationFields
from reelserve.core.errors import InvalidInput, LimitExceeded, Overloaded
from reelserve.core.records import GenerationSpec
from reelserve.models.catalog import get_card, nearest_frames
from reelserve.pipeline.submit import parse_size, validate_spec

__all__ = ["Upload", "check_idempotency_key", "check_queue", "fields_of", "parse_body", "spec_from_fields"]

M = TypeVar("M", bound=BaseModel)
MAX_SECONDS = 600.0
DEFAULT_FRAMES = 17


@dataclass(frozen=True, slots=True)
class Upload:
    name: str
    content_type: str
    data: bytes = field(repr=False)


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        msg = str(exc) if isinstance(exc, ValueError) and "JSON" in str(exc) else "the body is not valid JSON"
        raise InvalidInput(f"malformed JSON body: {msg[:200]}", param="body", code="invalid_json") from None


async def parse_body(request: Request, model: type[M]) -> tuple[M, dict[str, Upload]]:
    """The body as ``model`` (JSON, or form fields of a multipart/urlencoded form) and any uploads."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    uploads: dict[str, Upload] = {}
    if ctype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        try:
            form = await request.form(max_files=4, max_fields=200)
        except Exception:  # a malformed multipart body is the client's error, whatever the parser says
            raise InvalidInput("malformed form body", param="body", code="invalid_form") from None
        data: dict[str, Any] = {}
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                uploads[key] = Upload(value.filename or key, value.content_type or "", await value.read())
            else:
                data[key] = value
    elif ctype in ("application/json", "") or ctype.endswith("+json"):
        data = _json(await request.body())
    else:
        raise InvalidInput(
            f"unsupported content type {ctype!r}; send application/json or multipart/form-data",
            param="content-type",
            code="unsupported_media_type",
        )
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object", param="body")
    _reject_nul(data, "")
    return model.model_validate(data), uploads


def _reject_nul(value: Any, path: str) -> None:
    """NUL characters cannot be stored as PostgreSQL text or JSONB: refuse them at the edge."""
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidInput("text must not contain NUL characters", param=path or "body")
    elif isinstance(value, dict):
        for key, item in value.items():
            _reject_nul(key, path)
            _reject_nul(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _reject_nul(item, f"{path}.{i}")


def _frames(fields: GenerationFields, card: Any, fps: int) -> int:
    if fields.num_frames is not None:
        return fields.num_frames
    if fields.seconds is None or fields.seconds == "":
        return DEFAULT_FRAMES
    try:
        seconds = float(fields.seconds)
    except ValueError:
        raise InvalidInput(f"seconds must be a number such as 4 or 2.5, got {str(fields.seconds)[:20]!r}",
                           param="seconds") from None  # fmt: skip
    if not math.isfinite(seconds) or seconds <= 0:
        raise InvalidInput("seconds must be a positive number", param="seconds")
    if seconds > MAX_SECONDS:
        raise LimitExceeded(f"seconds is over the limit of {MAX_SECONDS:g}", param="seconds")
    return nearest_frames(card, seconds, fps)


_FIELDS = frozenset(GenerationFields.model_fields)


def fields_of(layer: GenerationFields) -> dict[str, Any]:
    """The generation settings a request layer set explicitly (unset and null ones left out)."""
    dumped = layer.model_dump(exclude_unset=True, include=_FIELDS)  # type: ignore[arg-type]
    return {k: v for k, v in dumped.items() if v is not None}


def spec_from_fields(prompt: str, *layers: GenerationFields | dict[str, Any]) -> GenerationSpec:
    """A validated spec: later layers (e.g. a variant) override earlier ones (e.g. the template).
    A layer is a request model or a ``fields_of`` dict (a batch computes its template's once)."""
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update(layer if isinstance(layer, dict) else fields_of(layer))
    fields = GenerationFields.model_construct(**merged)  # every value was validated by its layer
    card = get_card(fields.model or "tiny-wan")
    fps = fields.fps or card.native_fps
    width, height = parse_size(fields.size) if fields.size else parse_size(card.resolutions[0])
    spec = GenerationSpec(
        prompt=prompt,
        model=card.name,
        width=width,
        height=height,
        num_frames=_frames(fields, card, fps),
        steps=fields.num_inference_steps or card.default_steps,
        seed=fields.seed if fields.seed is not None else secrets.randbelow(2**31),
        guidance_scale=fields.guidance_scale if fields.guidance_scale is not None else 1.0,
        negative_prompt=fields.negative_prompt or "",
        fps=fps,
    )
    validate_spec(spec)
    return spec


def check_idempotency_key(key: str | None) -> str | None:
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > 200 or key.startswith("batch:") or not key.isprintable():
        raise InvalidInput(
            "Idempotency-Key must be 1-200 printable characters and not start with 'batch:'",
            param="Idempotency-Key",
        )
    return key


def check_queue(queued: int, adding: int, bound: int, retry_after_s: float) -> None:
    """429 when admitting ``adding`` more jobs would take the queue over its bound."""
    if queued + adding > bound:
        raise Overloaded(
            f"the queue holds {queued} jobs (bound {bound}); retry later or submit fewer",
            retry_after_s=retry_after_s,
        )
