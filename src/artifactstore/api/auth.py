"""Bearer tokens at the HTTP edge: the admin token (compared in constant time) or an issued one."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from functools import lru_cache

from fastapi import Depends, Request

from artifactstore.api.errors import AuthError
from artifactstore.domain import tokens as access
from artifactstore.domain.tokens import Caller
from artifactstore.service import tokens
from artifactstore.service.context import Services
from artifactstore.service.factory import services
from artifactstore.settings import service_settings

# A route's caller: who called, with which scopes, covering which producers.
Principal = Caller


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
        return access.ADMIN
    return tokens.caller_for(svc, token)


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
