"""HTTP face of the local-files backend: signed PUT and GET on ``/local-storage/{key}``.

This is what the local backend's upload targets and download URLs point at, so a client sends
bytes the same way to S3 and to a local folder. Bytes stream to disk in ~1 MiB blocks and are
never held whole in memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import anyio.from_thread
from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from artifactstore.adapters.local.storage import OCTET_STREAM, LocalFilesStorage
from artifactstore.errors import InvalidInput, NotFound

_BLOCK = 1 << 20


def local_storage_router(get_storage: Callable[[], LocalFilesStorage]) -> APIRouter:
    """Routes that receive and serve the local backend's objects behind signed URLs."""
    router = APIRouter(tags=["local-storage"], include_in_schema=False)

    @router.put("/local-storage/{key:path}")
    async def put_object(key: str, size: int, expires: int, sig: str, request: Request) -> Response:
        """Store one upload: signature, expiry and Content-Length are checked first."""
        storage = get_storage()
        storage.verify_signature("PUT", key, size, expires, sig)
        declared = request.headers.get("content-length")
        if declared is None or not declared.isdigit() or int(declared) != size:
            raise InvalidInput(
                f"Content-Length must be {size}, the size this URL was signed for",
                code="size_mismatch",
                details={"key": key, "expected": size, "content_length": declared},
            )
        chunks = _blocking_chunks(request.stream())
        etag = await run_in_threadpool(storage.receive_upload, key, size, chunks)
        return Response(status_code=200, headers={"ETag": f'"{etag}"'})

    @router.get("/local-storage/{key:path}")
    def get_object(key: str, size: int, expires: int, sig: str) -> FileResponse:
        """Serve one stored object behind a signed download URL."""
        storage = get_storage()
        storage.verify_signature("GET", key, size, expires, sig)
        path = storage.path_for(key)
        if not path.is_file():
            raise NotFound(f"no such object: {key}", code="object_not_found", details={"key": key})
        return FileResponse(path, media_type=OCTET_STREAM)

    return router


def _blocking_chunks(stream: AsyncIterator[bytes]) -> Iterator[bytes]:
    """Read an async request body from a worker thread, one event-loop hop per ~1 MiB."""

    async def next_block() -> bytes:
        block = bytearray()
        while len(block) < _BLOCK:
            try:
                block += await anext(stream)
            except StopAsyncIteration:
                break
        return bytes(block)

    while block := anyio.from_thread.run(next_block):
        yield block
