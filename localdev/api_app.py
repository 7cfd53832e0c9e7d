"""The app ``make dev`` serves: the real API plus the State Hub stand-in's ``/progress/`` routes.

The pilot guide points ``STATE_HUB_URL`` at the API's own address (``http://127.0.0.1:8000``)
before running ``scripts/link-guide-board-package.py``, so locally the API port must also
answer ``POST /progress/`` and ``GET /progress/``. Both record into the same JSON-lines log as the
stand-in on port 8001 (which the linker uses), so one list shows what the script and the
EventBridge path sent. Deployed stacks never serve these routes: only ``localdev`` adds them.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI

from artifactstore.api.app import create_app
from localdev.statehub import EventLog, progress_router

EVENTS_ENV = "ARTIFACTSTORE_LOCAL_STATEHUB_EVENTS"
DEFAULT_EVENTS = Path(".localdev/statehub-events.jsonl")


def create_local_app() -> FastAPI:
    """The API of :func:`artifactstore.api.app.create_app` plus the ``/progress/`` stand-in."""
    app = create_app()
    app.include_router(
        progress_router(EventLog(Path(os.environ.get(EVENTS_ENV) or DEFAULT_EVENTS)))
    )
    return app
