"""The FastAPI application: the same ``app`` under Mangum (Lambda) and uvicorn (local stack)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from artifactstore import __version__
from artifactstore.api import (
    routes_attestations,
    routes_diff,
    routes_packages,
    routes_plans,
    routes_schemas,
    routes_tokens,
    routes_usage,
    ui,
)
from artifactstore.api.errors import error_body, install_error_handlers

# API Gateway takes 10 MB, but it hands the body to a synchronous Lambda invocation inside a
# JSON event, and that invocation takes at most 6 MB: about 5.5 MB of body leaves room for the
# event's headers and fields. (The CLI sends at most 4 MB, as JSON escaping inflates a body in
# the event.)
MAX_BODY_BYTES = 5_500_000
UNLIMITED_PREFIXES = ("/local-storage/",)  # signed uploads check their own size


class BodyLimit:
    """Refuse bodies over ``MAX_BODY_BYTES`` with 413 before the route runs, declared or chunked.

    The body is read here, up to the limit, and handed on whole: FastAPI reads JSON bodies
    whole anyway, and an error raised from inside its body reading would become a 400.
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(UNLIMITED_PREFIXES):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _too_large(send, self.limit)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            if len(body) > self.limit:
                await _too_large(send, self.limit)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps(
        error_body("body_too_large", f"request body over {limit} bytes", {"limit": limit})
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def create_app() -> FastAPI:
    """Build the app; adapters are created on first request, never at import."""
    app = FastAPI(
        title="artifactstore",
        version=__version__,
        description="Immutable, BLAKE3-addressed packages of test and release evidence.",
    )
    install_error_handlers(app)

    @app.get("/health", tags=["health"])
    def health() -> dict[str, Any]:
        """Liveness, and the versions of what the service runs on."""
        from importlib.metadata import version

        return {
            "status": "ok",
            "version": __version__,
            "stack": {"boto3": version("boto3"), "pynamodb": version("pynamodb")},
        }

    app.include_router(routes_schemas.router)
    app.include_router(routes_packages.router)
    app.include_router(routes_tokens.router)
    app.include_router(routes_diff.router)
    app.include_router(routes_plans.router)
    app.include_router(routes_attestations.router)
    app.include_router(routes_usage.router)
    app.include_router(ui.router)
    _mount_local_storage(app)
    app.add_middleware(BodyLimit)
    return app


def _mount_local_storage(app: FastAPI) -> None:
    from artifactstore.adapters.local.storage import LocalFilesStorage
    from artifactstore.api.local_storage import local_storage_router
    from artifactstore.errors import ConfigurationError
    from artifactstore.service.factory import services

    def local() -> LocalFilesStorage:
        storage = services().storages.get("local")
        if not isinstance(storage, LocalFilesStorage):
            raise ConfigurationError("the local-files backend is not configured")
        return storage

    app.include_router(local_storage_router(local))
