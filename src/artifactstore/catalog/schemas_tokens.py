"""Metadata schemas and API tokens in the catalog table."""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import DoesNotExist, PutError

from artifactstore.catalog.models import SchemaModel, TokenModel
from artifactstore.catalog.support import (
    CONDITION_FAILED,
    decode_cursor,
    encode_cursor,
    error_code,
)
from artifactstore.domain.packages import Page
from artifactstore.domain.schemas import SLUG_RE, MetadataSchema
from artifactstore.errors import Conflict, NotFound


class SchemaAndTokenStore:
    """Schemas (``pk=SCHEMA``, ``sk=<slug>``) and token hashes (``pk=TOKEN``, ``sk=<sha256>``)."""

    # -- schemas -----------------------------------------------------------------------------

    def put_schema(self, schema: MetadataSchema, now: datetime) -> tuple[bool, datetime]:
        """Register a schema; (created, created_at). Same bytes again: no-op; else Conflict."""
        body = schema.canonical_bytes.decode()
        item = SchemaModel(
            "SCHEMA", schema.slug, body=body, digest=str(schema.digest), created_at=now
        )
        try:
            item.save(condition=SchemaModel.pk.does_not_exist())
            return True, now
        except PutError as exc:
            if error_code(exc) != CONDITION_FAILED:
                raise
        existing = self.get_schema_item(schema.slug)
        if existing.body != body:
            raise Conflict(
                f"schema {schema.slug!r} is registered with a different body",
                code="schema_conflict",
                details={"slug": schema.slug, "registered_digest": existing.digest},
            )
        return False, existing.created_at

    def get_schema_item(self, slug: str) -> SchemaModel:
        """The stored schema item, or NotFound."""
        if not SLUG_RE.fullmatch(slug):
            raise NotFound(f"no metadata schema {slug!r}", code="schema_not_found")
        try:
            return SchemaModel.get("SCHEMA", slug, consistent_read=True)
        except DoesNotExist as exc:
            raise NotFound(f"no metadata schema {slug!r}", code="schema_not_found") from exc

    def list_schemas(self, limit: int, cursor: str | None) -> Page[SchemaModel]:
        """Registered schemas by slug."""
        start = decode_cursor(cursor, {"pk": "SCHEMA"}, ("sk",))
        result = SchemaModel.query("SCHEMA", limit=limit, last_evaluated_key=start)
        items = list(result)
        return Page(items, encode_cursor(result.last_evaluated_key))

    # -- tokens ------------------------------------------------------------------------------

    def put_token(self, token_hash: str, token: TokenModel) -> None:
        """Store an issued token's hash and grants."""
        token.pk, token.sk = "TOKEN", token_hash
        token.save(condition=TokenModel.pk.does_not_exist())

    def find_token(self, token_hash: str) -> TokenModel | None:
        """The token item for a hash, if issued and not revoked."""
        try:
            token = TokenModel.get("TOKEN", token_hash, consistent_read=True)
        except DoesNotExist:
            return None
        return None if token.revoked else token

    def revoke_token(self, token_id: str) -> bool:
        """Revoke an issued token by id."""
        for token in TokenModel.query("TOKEN", filter_condition=TokenModel.token_id == token_id):
            token.update(actions=[TokenModel.revoked.set(True)])
            return True
        return False

    def list_tokens(self) -> list[TokenModel]:
        """Issued tokens (hashes only)."""
        return list(TokenModel.query("TOKEN"))
