"""Token administration: issue, list, revoke (admin scope)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from artifactstore.api.auth import ADMIN, SCOPES, issue_token
from artifactstore.api.errors import ERROR_RESPONSES
from artifactstore.api.models import TokenBody
from artifactstore.errors import InvalidInput, NotFound
from artifactstore.service import packages
from artifactstore.service.factory import services

router = APIRouter(tags=["tokens"], responses=ERROR_RESPONSES, dependencies=[ADMIN])


@router.post("/tokens", status_code=201)
def create_token(body: TokenBody) -> dict[str, Any]:
    """Issue a token; its secret is shown once."""
    unknown = sorted(set(body.scopes) - set(SCOPES))
    if unknown:
        raise InvalidInput(
            f"unknown scope(s): {', '.join(unknown)} (known: {', '.join(SCOPES)})",
            code="invalid_scope",
            details={"unknown": unknown},
        )
    if body.producers is not None and not body.producers:
        raise InvalidInput(
            "producers is empty; omit it (or send null) for a token that covers every producer",
            code="empty_producer_list",
        )
    for producer in body.producers or ():
        packages.validate_producer(producer)
    return issue_token(services(), body.name, body.scopes, body.producers)


@router.get("/tokens")
def list_tokens() -> dict[str, Any]:
    """Issued tokens (never their secrets)."""
    return {
        "items": [
            {
                "token_id": t.token_id,
                "name": t.name,
                "scopes": list(t.scopes),
                "producers": list(t.producers) if t.producers else None,
                "revoked": t.revoked,
            }
            for t in services().catalog.list_tokens()
        ]
    }


@router.delete("/tokens/{token_id}", status_code=204)
def revoke_token(token_id: str) -> None:
    """Revoke a token."""
    if not services().catalog.revoke_token(token_id):
        raise NotFound(f"no token {token_id}", code="token_not_found")
