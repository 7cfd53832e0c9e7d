"""API tokens and callers: scopes (read < write < admin), optionally bound to producers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from artifactstore.errors import AuthError

SCOPES = ("read", "write", "admin")
IMPLIED = {"admin": {"admin", "write", "read"}, "write": {"write", "read"}, "read": {"read"}}


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """An issued token as the catalog keeps it (only the hash of its secret is stored)."""

    token_id: str
    name: str
    scopes: tuple[str, ...]
    producers: tuple[str, ...] | None
    created_at: datetime
    revoked: bool = False


@dataclass(frozen=True, slots=True)
class Caller:
    """Who called: granted scopes (implied ones included) and, when bound, the producers
    they cover (None: every producer)."""

    name: str
    scopes: frozenset[str]
    producers: frozenset[str] | None

    @classmethod
    def of_token(cls, token: IssuedToken) -> Caller:
        """The caller an issued token makes."""
        scopes = frozenset(s for scope in token.scopes for s in IMPLIED.get(scope, ()))
        producers = frozenset(token.producers) if token.producers else None
        return cls(token.name, scopes, producers)

    def require_producer(self, producer: str) -> None:
        """``forbidden`` unless the caller covers ``producer``."""
        if self.producers is not None and producer not in self.producers:
            raise AuthError(
                f"token {self.name!r} does not cover producer {producer!r}", code="forbidden"
            )


# The admin token, and the local tools that act for the operator: every scope, every producer.
ADMIN = Caller("admin", frozenset(IMPLIED["admin"]), None)
