"""Token administration: issue, list, revoke (admin scope)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from artifactstore.api.auth import ADMIN
from artifactstore.api.errors import ERROR_RESPONSES
from artifactstore.api.models import TokenBody
from artifactstore.api.responses import TokenIssued, TokenList, documented
from artifactstore.service import tokens
from artifactstore.service.factory import services

router = APIRouter(tags=["tokens"], responses=ERROR_RESPONSES, dependencies=[ADMIN])


@router.post(
    "/tokens",
    status_code=201,
    response_model=None,
    responses={201: {"model": TokenIssued, "description": "Issued"}},
)
def create_token(body: TokenBody) -> dict[str, Any]:
    """Issue a token; its secret is shown once."""
    return tokens.issue_token(services(), body.name, body.scopes, body.producers)


@router.get("/tokens", response_model=None, responses=documented(TokenList))
def list_tokens() -> dict[str, Any]:
    """Issued tokens (never their secrets)."""
    return tokens.tokens_view(services())


@router.delete("/tokens/{token_id}", status_code=204)
def revoke_token(token_id: str) -> None:
    """Revoke a token."""
    tokens.revoke_token(services(), token_id)
