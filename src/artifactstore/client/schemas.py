"""Metadata schema files on disk, and making sure the service holds the same body."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from artifactstore.client.api import ApiClient
from artifactstore.domain.manifest import canonical_json
from artifactstore.domain.schemas import ID_PREFIX, MetadataSchema
from artifactstore.errors import Conflict, InvalidInput, NotFound


def load_schema_file(path: Path) -> MetadataSchema:
    """Read a schema file; its slug comes from ``$id`` (``artifactstore:schemas:<slug>``)."""
    try:
        body = json.loads(path.read_bytes())
    except ValueError as exc:
        raise InvalidInput(f"{path} is not valid JSON: {exc}", code="invalid_json_schema") from exc
    schema_id = body.get("$id") if isinstance(body, dict) else None
    if not isinstance(schema_id, str) or not schema_id.startswith(ID_PREFIX):
        raise InvalidInput(
            f"{path}: $id must be '{ID_PREFIX}<slug>' so the schema's slug is known",
            code="invalid_json_schema",
        )
    return MetadataSchema.create(schema_id[len(ID_PREFIX) :], body)


def register_schema(client: ApiClient, schema: MetadataSchema) -> dict[str, Any]:
    """POST the schema: 201 new, 200 the identical body again, 409 another body (raised)."""
    status, answer = client.post_json(
        "/metadata-schemas", {"slug": schema.slug, "json_schema": dict(schema.json_schema)}
    )
    result: dict[str, Any] = dict(answer) if isinstance(answer, dict) else {}
    result.setdefault("created", status == 201)
    return result


def ensure_registered(client: ApiClient, schema: MetadataSchema) -> bool:
    """Register the schema when absent; True when this call registered it.

    A GET first, so a producer token without the right to register schemas works once the
    schema exists; a registered body that differs is a conflict naming the slug.
    """
    try:
        current = client.get_json(f"/metadata-schemas/{quote(schema.slug, safe='')}")
    except NotFound:
        register_schema(client, schema)
        return True
    remote = current.get("json_schema") if isinstance(current, dict) else None
    if canonical_json(remote) != schema.canonical_bytes:
        raise Conflict(
            f"schema {schema.slug!r} is already registered with a different body: a registered "
            "schema is immutable, so give the changed schema a new slug (e.g. bump its version)",
            code="schema_conflict",
            details={"slug": schema.slug},
        )
    return False
