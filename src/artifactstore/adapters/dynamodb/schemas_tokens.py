"""Metadata schemas and API tokens in the catalog table."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from pynamodb.exceptions import DoesNotExist, PutError

from artifactstore.adapters.dynamodb.support import (
    CONDITION_FAILED,
    CatalogTable,
    cursor_of,
    error_code,
    start_key,
)
from artifactstore.domain.packages import Page
from artifactstore.domain.schemas import SLUG_RE, MetadataSchema, StoredSchema
from artifactstore.domain.tokens import IssuedToken
from artifactstore.errors import Conflict, NotFound

if TYPE_CHECKING:  # the templates: every read and write goes through ``self.models``
    from artifactstore.adapters.dynamodb.models import SchemaModel, TokenModel


class SchemaAndTokenStore(CatalogTable):
    """Schemas (``pk=SCHEMA``, ``sk=<slug>``) and token hashes (``pk=TOKEN``, ``sk=<sha256>``)."""

    # -- schemas -----------------------------------------------------------------------------

    def put_schema(self, schema: MetadataSchema, now: datetime) -> tuple[bool, datetime]:
        """Register a schema; (created, created_at). Same bytes again: no-op; else Conflict."""
        m = self.models
        body = schema.canonical_bytes.decode()
        item = m.SchemaModel(
            "SCHEMA", schema.slug, body=body, digest=str(schema.digest), created_at=now
        )
        try:
            item.save(condition=m.SchemaModel.pk.does_not_exist())
            return True, now
        except PutError as exc:
            if error_code(exc) != CONDITION_FAILED:
                raise
        existing = self.get_schema(schema.slug)
        if existing.body != body:
            raise Conflict(
                f"schema {schema.slug!r} is registered with a different body",
                code="schema_conflict",
                details={"slug": schema.slug, "registered_digest": existing.digest},
            )
        return False, existing.created_at

    def get_schema(self, slug: str) -> StoredSchema:
        """The registered schema, or NotFound."""
        m = self.models
        if not SLUG_RE.fullmatch(slug):
            raise NotFound(f"no metadata schema {slug!r}", code="schema_not_found")
        try:
            return _schema(m.SchemaModel.get("SCHEMA", slug, consistent_read=True))
        except DoesNotExist as exc:
            raise NotFound(f"no metadata schema {slug!r}", code="schema_not_found") from exc

    def list_schemas(self, limit: int, cursor: str | None) -> Page[StoredSchema]:
        """Registered schemas by slug."""
        m = self.models
        start = start_key(cursor, {"pk": "SCHEMA"}, ("sk",))
        result = m.SchemaModel.query("SCHEMA", limit=limit, last_evaluated_key=start)
        items = [_schema(item) for item in result]
        return Page(items, cursor_of(result.last_evaluated_key))

    # -- tokens ------------------------------------------------------------------------------

    def put_token(self, token_hash: str, token: IssuedToken) -> None:
        """Store an issued token's hash and grants."""
        m = self.models
        item = m.TokenModel(
            "TOKEN",
            token_hash,
            token_id=token.token_id,
            name=token.name,
            scopes=list(token.scopes),
            producers=list(token.producers) if token.producers else None,
            created_at=token.created_at,
            revoked=token.revoked,
        )
        item.save(condition=m.TokenModel.pk.does_not_exist())

    def find_token(self, token_hash: str) -> IssuedToken | None:
        """The token for a hash, if issued and not revoked."""
        m = self.models
        try:
            token = m.TokenModel.get("TOKEN", token_hash, consistent_read=True)
        except DoesNotExist:
            return None
        return None if token.revoked else _token(token)

    def revoke_token(self, token_id: str) -> bool:
        """Revoke an issued token by id."""
        m = self.models
        for token in m.TokenModel.query(
            "TOKEN", filter_condition=m.TokenModel.token_id == token_id
        ):
            token.update(actions=[m.TokenModel.revoked.set(True)])
            return True
        return False

    def list_tokens(self) -> list[IssuedToken]:
        """Issued tokens."""
        m = self.models
        return [_token(item) for item in m.TokenModel.query("TOKEN")]


def _schema(item: SchemaModel) -> StoredSchema:
    return StoredSchema(item.sk, item.body, item.digest, item.created_at)


def _token(item: TokenModel) -> IssuedToken:
    return IssuedToken(
        token_id=item.token_id,
        name=item.name,
        scopes=tuple(item.scopes),
        producers=tuple(item.producers) if item.producers else None,
        created_at=item.created_at,
        revoked=bool(item.revoked),
    )
