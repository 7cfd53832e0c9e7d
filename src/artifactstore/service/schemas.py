"""Metadata schema use cases."""

from __future__ import annotations

import json
from typing import Any

from artifactstore.domain.manifest import canonical_json
from artifactstore.domain.schemas import MetadataSchema, StoredSchema
from artifactstore.errors import InvalidInput
from artifactstore.service.context import Services

MAX_SCHEMA_BYTES = 256 * 1024  # one DynamoDB item holds it (at most 400 KB)


def register_schema(
    svc: Services, slug: object, json_schema: object
) -> tuple[bool, dict[str, Any]]:
    """Register (or re-register identically); returns (created, view).

    The size is checked first: the schema checks (meta-schema, references, patterns) then only
    ever see a document of at most ``MAX_SCHEMA_BYTES``.
    """
    if isinstance(json_schema, dict) and len(canonical_json(json_schema)) > MAX_SCHEMA_BYTES:
        raise InvalidInput(
            f"json_schema is over {MAX_SCHEMA_BYTES} bytes (as RFC 8785 JSON)",
            code="schema_too_large",
            details={"limit": MAX_SCHEMA_BYTES},
        )
    schema = MetadataSchema.create(slug, json_schema)
    created, created_at = svc.catalog.put_schema(schema, svc.clock())
    return created, {
        "slug": schema.slug,
        "json_schema": schema.json_schema,
        "digest": str(schema.digest),
        "created_at": created_at.isoformat(),
        "created": created,
    }


def get_schema(svc: Services, slug: str) -> MetadataSchema:
    """A registered schema, or ``schema_not_found``."""
    return MetadataSchema(slug, json.loads(svc.catalog.get_schema(slug).body))


def schema_view(svc: Services, slug: str) -> dict[str, Any]:
    """The JSON view of a registered schema."""
    return stored_schema_view(svc.catalog.get_schema(slug))


def schemas_page(svc: Services, limit: int, cursor: str | None) -> dict[str, Any]:
    """A page of registered schemas, by slug."""
    page = svc.catalog.list_schemas(max(1, min(limit, 1000)), cursor)
    return {"items": [stored_schema_view(s) for s in page.items], "next_cursor": page.next_cursor}


def stored_schema_view(item: StoredSchema) -> dict[str, Any]:
    """The JSON view of a registered schema."""
    return {
        "slug": item.slug,
        "json_schema": json.loads(item.body),
        "digest": item.digest,
        "created_at": item.created_at.isoformat(),
    }
