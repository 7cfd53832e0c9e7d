"""``GET /usage``: what the store keeps (admin scope; a thin shell over service/usage)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from artifactstore.api.auth import ADMIN
from artifactstore.api.errors import ERROR_RESPONSES
from artifactstore.api.responses import documented
from artifactstore.api.responses_reports import UsageReport
from artifactstore.service import usage
from artifactstore.service.factory import services

router = APIRouter(tags=["usage"], responses=ERROR_RESPONSES, dependencies=[ADMIN])


@router.get("/usage", response_model=None, responses=documented(UsageReport))
def usage_report(
    horizon_days: Annotated[int, Query(ge=1, le=usage.MAX_HORIZON_DAYS)] = 30,
) -> dict[str, Any]:
    """Packages, files and logical bytes per producer, retention class and state, and what
    expires within ``horizon_days`` (reads every package record: an admin's occasional look)."""
    svc = services()
    return usage.usage_report(svc, svc.clock(), horizon_days)
