"""API tokens: issue, resolve, list and revoke; only the SHA-256 of a secret is ever kept."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from typing import Any

from artifactstore.domain.tokens import SCOPES, Caller, IssuedToken
from artifactstore.errors import AuthError, InvalidInput, NotFound
from artifactstore.service.context import Services
from artifactstore.service.packages import validate_producer


def token_hash(token: str) -> str:
    """SHA-256 of a token: only this is ever stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def caller_for(svc: Services, token: str) -> Caller:
    """The caller an issued token makes, or ``unauthorized``."""
    issued = svc.catalog.find_token(token_hash(token))
    if issued is None:
        raise AuthError("unknown or revoked token")
    return Caller.of_token(issued)


def issue_token(
    svc: Services, name: str, scopes: list[str], producers: list[str] | None
) -> dict[str, Any]:
    """Create a token; the secret is returned once and only its hash is kept."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise InvalidInput(
            f"unknown scope(s): {', '.join(unknown)} (known: {', '.join(SCOPES)})",
            code="invalid_scope",
            details={"unknown": unknown},
        )
    if producers is not None and not producers:
        raise InvalidInput(
            "producers is empty; omit it (or send null) for a token that covers every producer",
            code="empty_producer_list",
        )
    for producer in producers or ():
        validate_producer(producer)
    secret = "as_" + secrets.token_urlsafe(32)
    token = IssuedToken(
        token_id=str(uuid.uuid4()),
        name=name,
        scopes=tuple(scopes),
        producers=tuple(producers) if producers else None,
        created_at=svc.clock(),
    )
    svc.catalog.put_token(token_hash(secret), token)
    return {
        "token_id": token.token_id,
        "name": name,
        "scopes": scopes,
        "producers": producers,
        "token": secret,
    }


def tokens_view(svc: Services) -> dict[str, Any]:
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
            for t in svc.catalog.list_tokens()
        ]
    }


def revoke_token(svc: Services, token_id: str) -> None:
    """Revoke a token, or ``token_not_found``."""
    if not svc.catalog.revoke_token(token_id):
        raise NotFound(f"no token {token_id}", code="token_not_found")
