"""``GET /diff``: what changed between two sealed packages (a thin shell over service/diff)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from artifactstore.api.auth import READ
from artifactstore.api.errors import ERROR_RESPONSES
from artifactstore.api.responses import documented
from artifactstore.api.responses_reports import DiffView
from artifactstore.service import diff
from artifactstore.service.factory import services

router = APIRouter(tags=["packages"], responses=ERROR_RESPONSES)


@router.get("/diff", dependencies=[READ], response_model=None, responses=documented(DiffView))
def diff_packages(
    from_id: Annotated[str, Query(alias="from", min_length=1, max_length=64)],
    to_id: Annotated[str, Query(alias="to", min_length=1, max_length=64)],
) -> dict[str, Any]:
    """Files added, removed and changed (by digest) and the metadata fields that differ,
    from package ``from`` to package ``to``; both must be sealed (or expired: the manifest is
    kept), else 409 ``not_sealed``."""
    return diff.diff_packages(services(), from_id, to_id).to_json()
