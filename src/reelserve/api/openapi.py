"""The OpenAPI document: request bodies that routes parse themselves (JSON or multipart) are declared
here, so the document stays complete and accurate."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from reelserve.api.schemas import BatchCreate, VideoCreate, VideoRemix

__all__ = ["POLL_RESPONSE", "SYNC_HEADERS", "body", "install_openapi"]

_REF = "#/components/schemas/{model}"
POLL_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "headers": {
            "openai-poll-after-ms": {
                "description": "On unfinished videos: milliseconds to wait before polling again",
                "schema": {"type": "integer"},
            }
        }
    }
}

SYNC_HEADERS = {
    "X-Reelserve-Video-Id": {"schema": {"type": "string"}, "description": "The job's id"},
    "X-Reelserve-Timings": {"schema": {"type": "string"}, "description": "JSON: the job's unix timestamps"},
    **{
        f"X-Reelserve-{name}-S": {
            "schema": {"type": "number"},
            "description": f"Seconds of the {name.lower()} interval",
        }
        for name in ("Queue", "Model", "Encode", "Finalize", "Total")
    },
}

BODY_MODELS: tuple[type[BaseModel], ...] = (VideoCreate, VideoRemix, BatchCreate)


def body(model: type[BaseModel], *, multipart_file: str | None = None) -> dict[str, Any]:
    """``openapi_extra`` for a route that reads ``model`` from the body itself."""
    ref = {"$ref": _REF.format(model=model.__name__)}
    content: dict[str, Any] = {"application/json": {"schema": ref}}
    if multipart_file is not None:
        file_part = {"type": "object", "properties": {multipart_file: {"type": "string", "format": "binary"}}}
        content["multipart/form-data"] = {"schema": {"allOf": [ref, file_part]}}
    return {"requestBody": {"required": True, "content": content}}


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
            schemas = doc.setdefault("components", {}).setdefault("schemas", {})
            for model in BODY_MODELS:
                schema = model.model_json_schema(ref_template=_REF)
                schemas.update(schema.pop("$defs", {}))
                schemas[model.__name__] = schema
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
