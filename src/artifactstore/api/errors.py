"""The one place that maps exceptions to HTTP statuses and the one error body."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from artifactstore.errors import (
    ArtifactStoreError,
    ConfigurationError,
    Conflict,
    InvalidInput,
    NotFound,
)

STATUS_BY_CODE = {
    "unauthorized": 401,
    "forbidden": 403,
    "invalid_signature": 403,
    "upload_url_expired": 403,
    "body_too_large": 413,
    "invalid_cursor": 400,
    "invalid_json": 400,
    "not_ready_yet": 503,
}
STATUS_BY_CLASS: tuple[tuple[type[ArtifactStoreError], int], ...] = (
    (NotFound, 404),
    (Conflict, 409),
    (InvalidInput, 422),
    (ConfigurationError, 500),
)


class AuthError(ArtifactStoreError):
    """401 (no or unknown token) or 403 (wrong scope or producer)."""

    code = "unauthorized"


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """``{"error": {"code", "message", "details"}}``."""
    return {"error": {"code": code, "message": message, "details": details}}


def status_for(error: ArtifactStoreError) -> int:
    """HTTP status of one of our errors."""
    if error.code in STATUS_BY_CODE:
        return STATUS_BY_CODE[error.code]
    for cls, status in STATUS_BY_CLASS:
        if isinstance(error, cls):
            return status
    return 502


def _ours(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ArtifactStoreError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.code == "unauthorized" else None
    return JSONResponse(
        error_body(exc.code, exc.message, exc.details), status_code=status_for(exc), headers=headers
    )


def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"loc": list(e.get("loc", ())), "message": e.get("msg"), "type": e.get("type")}
        for e in exc.errors()
    ]
    broken_json = any(d["type"] == "json_invalid" for d in details)
    code, status = ("invalid_json", 400) if broken_json else ("validation_error", 422)
    first = details[0] if details else {"loc": [], "message": "invalid request"}
    message = f"{'/'.join(map(str, first['loc']))}: {first['message']}"
    return JSONResponse(error_body(code, message, details), status_code=status)


def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
    code = codes.get(exc.status_code, f"http_{exc.status_code}")
    return JSONResponse(
        error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
    )


def install_error_handlers(app: FastAPI) -> None:
    """Every error, the framework's own included, gets the one body."""
    app.add_exception_handler(ArtifactStoreError, _ours)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": description,
        "content": {
            "application/json": {
                "example": error_body("stable_snake_case_code", "what went wrong, for people")
            }
        },
    }
    for status, description in (
        (401, "Missing or unknown token"),
        (403, "Token lacks the scope or producer"),
        (404, "Not found"),
        (409, "Conflict"),
        (422, "Invalid input"),
    )
}
