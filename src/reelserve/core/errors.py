"""One error hierarchy for reelserve.

    ReelserveError                  code, message, retryable=False
    ├── InvalidInput                bad user input; HTTP 400/422, CLI exit 2
    │   ├── UnknownName             a registry lookup failed; lists the valid names
    │   └── LimitExceeded           a size/length/count bound; HTTP 413
    ├── NotFound                    HTTP 404
    ├── Conflict                    idempotency or state conflict; HTTP 409
    ├── Forbidden                   HTTP 403
    ├── Unauthorized                HTTP 401
    ├── Overloaded                  queue over its bound; HTTP 429, retry later
    ├── Cancelled                   the job was cancelled while running
    ├── WeightsError                a weights directory is missing or corrupt
    ├── StorageError                metadata or blob I/O failed (retryable)
    ├── MediaError                  encode/decode/probe failed
    └── ModelError                  the model raised during generation
        └── OutOfMemory             the device ran out of memory (retryable at a smaller batch)

Retryable errors set ``retryable = True``; the pipeline retries them with backoff and sends
everything else to the dead-letter list at once. Messages say what to do, not only what failed.
"""

from __future__ import annotations

__all__ = [
    "Cancelled",
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "LimitExceeded",
    "MediaError",
    "ModelError",
    "NotFound",
    "OutOfMemory",
    "Overloaded",
    "ReelserveError",
    "StorageError",
    "Unauthorized",
    "UnknownName",
    "WeightsError",
]


class ReelserveError(Exception):
    """Base of every error reelserve raises on purpose."""

    code: str = "internal_error"
    retryable: bool = False

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "message": self.message, "param": self.param}


class InvalidInput(ReelserveError):
    code = "invalid_input"


class UnknownName(InvalidInput):
    code = "unknown_name"

    def __init__(self, kind: str, name: str, valid: list[str] | tuple[str, ...], *, param: str | None = None):
        listed = ", ".join(sorted(valid)) or "(none registered)"
        super().__init__(f"unknown {kind} {name!r}; valid {kind}s: {listed}", param=param)
        self.valid = tuple(sorted(valid))


class LimitExceeded(InvalidInput):
    code = "limit_exceeded"


class NotFound(ReelserveError):
    code = "not_found"


class Conflict(ReelserveError):
    code = "conflict"


class Forbidden(ReelserveError):
    code = "forbidden"


class Unauthorized(ReelserveError):
    code = "unauthorized"


class Overloaded(ReelserveError):
    code = "overloaded"
    retryable = True

    def __init__(self, message: str, *, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Cancelled(ReelserveError):
    code = "cancelled"


class WeightsError(ReelserveError):
    code = "weights_error"


class StorageError(ReelserveError):
    code = "storage_error"
    retryable = True


class MediaError(ReelserveError):
    code = "media_error"


class ModelError(ReelserveError):
    code = "model_error"


class OutOfMemory(ModelError):
    code = "out_of_memory"
    retryable = True
