"""Signed seals over HTTP: a package's DSSE envelope, and the keys that verify it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from artifactstore.api.auth import READ
from artifactstore.api.errors import ERROR_RESPONSES
from artifactstore.api.responses import documented
from artifactstore.api.responses_reports import SigningKeys
from artifactstore.service import attestations
from artifactstore.service.factory import services

router = APIRouter(tags=["attestations"], responses=ERROR_RESPONSES)


@router.get("/packages/{package_id}/attestation", dependencies=[READ])
def get_attestation(package_id: str) -> Response:
    """The package's DSSE envelope of an in-toto Statement v1 about its manifest (exactly the
    stored bytes); 404 ``attestation_pending`` until it is signed, shortly after the seal."""
    return Response(
        attestations.get_attestation(services(), package_id), media_type="application/json"
    )


@router.get(
    "/signing-keys", dependencies=[READ], response_model=None, responses=documented(SigningKeys)
)
def signing_keys() -> dict[str, Any]:
    """Every public key that signs or signed attestations, the current one first:
    ``{"keys": [{"keyid", "algorithm", "public_key_pem", "not_before", "not_after"}]}``."""
    return attestations.signing_keys(services())
