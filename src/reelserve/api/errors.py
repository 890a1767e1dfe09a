"""The one place where exceptions become HTTP responses: ``{"error": {code, message, param}}``.

    ReelserveError subclass      status   extra header
    Unauthorized                 401      WWW-Authenticate: Bearer
    Forbidden                    403
    NotFound                     404
    Conflict                     409
    LimitExceeded                413
    InvalidInput, UnknownName    400
    (request body schema)        422
    Overloaded                   429      Retry-After
    StorageError                 503      Retry-After
    anything else                500      (a bug: logged with its type, never its message)

Messages of validation errors name the field and the rule, never echo the input (it may be a prompt).
"""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from reelserve.api.schemas import ErrorResponse
from reelserve.core.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    LimitExceeded,
    NotFound,
    Overloaded,
    ReelserveError,
    StorageError,
    Unauthorized,
)

__all__ = ["error_response", "install_error_handlers", "responses", "status_of", "validation_error"]

log = logging.getLogger("reelserve.api")

_STATUS: tuple[tuple[type[ReelserveError], int], ...] = (
    (Unauthorized, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (LimitExceeded, 413),
    (InvalidInput, 400),
    (Overloaded, 429),
    (StorageError, 503),
)
_DESCRIPTIONS = {
    400: "Invalid input (the message says how to fix it)",
    401: "Missing or unknown API key",
    403: "The key's role may not do this",
    404: "No such resource in the key's project",
    409: "Conflicts with the resource's state",
    413: "Over a size, length or count limit",
    422: "The body does not match the schema",
    429: "The queue is full; retry after Retry-After seconds",
    503: "Storage busy; retry",
}


def status_of(exc: ReelserveError) -> int:
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def error_response(
    status: int, code: str, message: str, param: str | None = None, **headers: str
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "param": param}}
    return JSONResponse(body, status_code=status, headers=headers or None)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for these error statuses (401 is on every authed route)."""
    return {s: {"model": ErrorResponse, "description": _DESCRIPTIONS[s]} for s in statuses}


def validation_error(errors: list[Any]) -> JSONResponse:
    """A 422 naming the first offending field and rule (never the input value)."""
    first = errors[0] if errors else {}
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header")]
    param = ".".join(loc) or None
    rule = first.get("msg", "invalid value")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return error_response(422, "invalid_request", f"{param or 'body'}: {rule}{more}", param)


def _reelserve(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ReelserveError)
    status = status_of(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, Overloaded | StorageError):
        retry = getattr(exc, "retry_after_s", 1.0)
        headers["Retry-After"] = str(max(1, math.ceil(retry)))
    if status == 500:
        log.error("unhandled reelserve error", extra={"code": exc.code, "error_type": type(exc).__name__})
        return error_response(500, exc.code, "internal error; the server log has the details", **headers)
    return error_response(status, exc.code, exc.message, exc.param, **headers)


def _request_validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError | ValidationError)
    return validation_error(list(exc.errors()))


def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed", 413: "limit_exceeded"}.get(
        exc.status_code, "http_error"
    )
    return error_response(exc.status_code, code, str(exc.detail), None, **(exc.headers or {}))


def _unhandled(_: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled exception", extra={"code": "internal_error", "error_type": type(exc).__name__})
    return error_response(500, "internal_error", "internal error; the server log has the details")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ReelserveError, _reelserve)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(ValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unhandled)
