"""The one place that maps exceptions to HTTP statuses and the one error body."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from artifactstore.api.models import ErrorBody
from artifactstore.domain.schemas import json_pointer
from artifactstore.errors import (
    ArtifactStoreError,
    AuthError,
    ConfigurationError,
    Conflict,
    Gone,
    InvalidInput,
    NotFound,
)

__all__ = ["ERROR_RESPONSES", "STATUS_BY_CODE", "AuthError", "error_body", "status_for"]

logger = logging.getLogger(__name__)

# Codes whose status is not their exception class's (see docs/api.md for the full table).
STATUS_BY_CODE = {
    "unauthorized": 401,
    "forbidden": 403,
    "invalid_signature": 403,
    "upload_url_expired": 410,
    "download_url_expired": 410,
    "body_too_large": 413,
    "invalid_cursor": 400,
    "invalid_json": 400,
    "busy": 503,
    "stale_write": 503,
    "not_ready_yet": 503,
}
STATUS_BY_CLASS: tuple[tuple[type[ArtifactStoreError], int], ...] = (
    (AuthError, 401),
    (NotFound, 404),
    (Gone, 410),
    (Conflict, 409),
    (InvalidInput, 422),
    (ConfigurationError, 500),
)
# Codes the HTTP edge itself answers with (no exception class raises them).
HTTP_CODES = {
    400: "invalid_json",  # FastAPI's own "error parsing the body" (e.g. nesting too deep)
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
}
VALIDATION_CODES = {
    "json_invalid": "invalid_json",
    "extra_forbidden": "unknown_field",
    "missing": "missing_field",
}
INTERNAL_ERROR = "internal_error"
VALIDATION_ERROR = "validation_error"  # several kinds of field error in one request
INVALID_TYPE = "invalid_type"
INVALID_VALUE = "invalid_value"
INVALID_PARAMETER = "invalid_parameter"
MISSING_BODY = "missing_body"


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """``{"error": {"code", "message", "details"}}``."""
    return {"error": {"code": code, "message": message, "details": details}}


class ErrorResponse(JSONResponse):
    """An error body that always renders: lone surrogates escaped, non-finite numbers as text."""

    def render(self, content: Any) -> bytes:
        return json.dumps(
            _finite(content), ensure_ascii=True, allow_nan=False, default=str, separators=(",", ":")
        ).encode("ascii")


def _finite(value: Any) -> Any:
    # Details may echo what the caller sent, and Python's JSON parser accepts NaN and Infinity.
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def status_for(error: ArtifactStoreError) -> int:
    """HTTP status of one of our errors."""
    if error.code in STATUS_BY_CODE:
        return STATUS_BY_CODE[error.code]
    for cls, status in STATUS_BY_CLASS:
        if isinstance(error, cls):
            return status
    return 502


def _respond(
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
) -> ErrorResponse:
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return ErrorResponse(error_body(code, message, details), status_code=status, headers=headers)


def _ours(_: Request, exc: Exception) -> ErrorResponse:
    assert isinstance(exc, ArtifactStoreError)
    return _respond(status_for(exc), exc.code, exc.message, exc.details)


def _field_code(error: dict[str, Any]) -> str:
    kind = str(error.get("type", ""))
    loc = tuple(error.get("loc", ()))
    if kind in VALIDATION_CODES:
        if kind == "missing" and loc == ("body",):
            return MISSING_BODY
        return VALIDATION_CODES[kind]
    if loc and loc[0] != "body":
        return INVALID_PARAMETER
    if kind.endswith(("_type", "_parsing")) or kind == "int_from_float":
        return INVALID_TYPE
    return INVALID_VALUE


def _validation(_: Request, exc: Exception) -> ErrorResponse:
    assert isinstance(exc, RequestValidationError)
    details = []
    for error in exc.errors():
        loc = list(error.get("loc", ()))
        details.append(
            {
                "loc": loc,
                "pointer": json_pointer(loc[1:]) if loc[:1] == ["body"] else None,
                "code": _field_code(error),
                "message": error.get("msg"),
                "type": error.get("type"),
            }
        )
    codes = {d["code"] for d in details}
    code = codes.pop() if len(codes) == 1 else VALIDATION_ERROR
    if "invalid_json" in {d["code"] for d in details}:
        code = "invalid_json"  # nothing else about a body that is not JSON is meaningful
    first = details[0] if details else {"loc": [], "message": "invalid request"}
    message = f"{'/'.join(map(str, first['loc']))}: {first['message']}"
    return _respond(400 if code == "invalid_json" else 422, code, message, details)


def _http(_: Request, exc: Exception) -> ErrorResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    return _respond(exc.status_code, code, str(exc.detail), headers=exc.headers)


def _unexpected(request: Request, exc: Exception) -> ErrorResponse:
    # The traceback goes to the log (never the request's headers: they carry the token).
    logger.error(
        "unhandled %s on %s %s",
        type(exc).__name__,
        request.method,
        request.url.path,
        exc_info=exc,
    )
    return _respond(500, INTERNAL_ERROR, "the service failed; retry later")


def install_error_handlers(app: FastAPI) -> None:
    """Every error, the framework's own included, gets the one body."""
    app.add_exception_handler(ArtifactStoreError, _ours)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": description, "model": ErrorBody}
    for status, description in (
        (400, "Broken JSON (invalid_json) or an invalid pagination cursor (invalid_cursor)"),
        (401, "Missing or unknown token (unauthorized)"),
        (403, "Token lacks the scope or producer (forbidden)"),
        (404, "Not found"),
        (409, "Conflict"),
        (413, "Request body over 5.5 MB (body_too_large)"),
        (422, "Invalid input"),
        (500, "The service failed (internal_error)"),
    )
}
