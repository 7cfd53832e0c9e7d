"""Bearer tokens with scopes (read, write, admin), optionally bound to producers."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from fastapi import Depends, Request

from artifactstore.api.errors import AuthError
from artifactstore.catalog.models import TokenModel
from artifactstore.service.context import Services
from artifactstore.service.factory import services
from artifactstore.settings import service_settings

SCOPES = ("read", "write", "admin")
_IMPLIED = {"admin": {"admin", "write", "read"}, "write": {"write", "read"}, "read": {"read"}}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who called: granted scopes and, when bound, the producers they cover."""

    name: str
    scopes: frozenset[str]
    producers: frozenset[str] | None

    def require_producer(self, producer: str) -> None:
        """403 unless the token covers ``producer``."""
        if self.producers is not None and producer not in self.producers:
            raise AuthError(
                f"token {self.name!r} does not cover producer {producer!r}", code="forbidden"
            )


def token_hash(token: str) -> str:
    """SHA-256 of a token: only this is ever stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def _admin_token_hash() -> bytes | None:
    """The admin token's SHA-256, read from SSM at most every ``api_token_cache_seconds``.

    Powertools keeps the parameter for that long and then reads it again, so a rotated token
    stops working on warm Lambdas too (a process-wide cache over it never would).
    """
    settings = service_settings()
    if not settings.api_token_parameter:
        return _configured_token_hash()
    from aws_lambda_powertools.utilities import parameters

    token = parameters.get_parameter(
        settings.api_token_parameter, decrypt=True, max_age=settings.api_token_cache_seconds
    )
    return hashlib.sha256(token.encode()).digest() if token else None


@lru_cache(maxsize=1)
def _configured_token_hash() -> bytes | None:
    """The admin token given in the environment (it changes only with the process)."""
    token = service_settings().api_token
    return hashlib.sha256(token.get_secret_value().encode()).digest() if token else None


def authenticate(svc: Services, header: str | None) -> Principal:
    """Resolve the Authorization header to a principal, or raise 401."""
    if not header or not header.startswith("Bearer ") or not header[7:].strip():
        raise AuthError("missing bearer token (Authorization: Bearer <token>)")
    token = header[7:].strip()
    admin = _admin_token_hash()
    given = hashlib.sha256(token.encode()).digest()
    if admin is not None and hmac.compare_digest(given, admin):
        return Principal("admin", frozenset(_IMPLIED["admin"]), None)
    issued = svc.catalog.find_token(token_hash(token))
    if issued is None:
        raise AuthError("unknown or revoked token")
    scopes = frozenset(s for scope in issued.scopes for s in _IMPLIED.get(scope, ()))
    return Principal(issued.name, scopes, frozenset(issued.producers) if issued.producers else None)


def require(scope: str) -> Callable[[Request], Principal]:
    """A dependency that authenticates and demands ``scope``."""

    def dependency(request: Request) -> Principal:
        principal = authenticate(services(), request.headers.get("authorization"))
        if scope not in principal.scopes:
            raise AuthError(f"token {principal.name!r} lacks the {scope!r} scope", code="forbidden")
        return principal

    return dependency


READ = Depends(require("read"))
WRITE = Depends(require("write"))
ADMIN = Depends(require("admin"))


def issue_token(
    svc: Services, name: str, scopes: list[str], producers: list[str] | None
) -> dict[str, object]:
    """Create a token; the secret is returned once and only its hash is kept."""
    secret = "as_" + secrets.token_urlsafe(32)
    token_id = str(uuid.uuid4())
    svc.catalog.put_token(
        token_hash(secret),
        TokenModel(
            token_id=token_id,
            name=name,
            scopes=scopes,
            producers=producers or None,
            created_at=svc.clock(),
        ),
    )
    return {
        "token_id": token_id,
        "name": name,
        "scopes": scopes,
        "producers": producers,
        "token": secret,
    }
