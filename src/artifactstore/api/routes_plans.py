"""Download plans: a page of a sealed package's files with where to read each (read scope)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from artifactstore.api.auth import READ
from artifactstore.api.errors import ERROR_RESPONSES
from artifactstore.api.responses import DownloadPlan, documented
from artifactstore.service import download_plans
from artifactstore.service.factory import services

router = APIRouter(tags=["packages"], responses=ERROR_RESPONSES, dependencies=[READ])


@router.get(
    "/packages/{package_id}/download-plan",
    response_model=None,
    responses=documented(DownloadPlan),
)
def get_download_plan(
    package_id: str,
    include: Annotated[list[str] | None, Query(max_length=download_plans.MAX_GLOB_LENGTH)] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=download_plans.PLAN_LIMIT)] = download_plans.PLAN_LIMIT,
) -> dict[str, Any]:
    """Up to 1,000 files in path order (those matching any ``include`` glob, ``*`` crossing
    ``/``), each with a short-lived URL of its bytes; ``next_cursor`` for the rest."""
    return download_plans.download_plan(
        services(), package_id, include=include or (), cursor=cursor, limit=limit
    )
