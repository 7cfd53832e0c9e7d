"""How the API and the browser answer for one file's bytes."""

from __future__ import annotations

from fastapi import Response
from fastapi.responses import RedirectResponse


def file_answer(source: str | bytes) -> Response:
    """302 to a URL of the file's blob, or 200 with a packed file's bytes (``file_source``)."""
    if isinstance(source, bytes):
        return Response(source, media_type="application/octet-stream")
    return RedirectResponse(source, status_code=302)
