"""Metadata schema routes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from artifactstore.api.auth import READ, WRITE, Principal
from artifactstore.api.errors import ERROR_RESPONSES
from artifactstore.api.models import SchemaBody
from artifactstore.api.responses import SchemaPage, SchemaRegistered, SchemaView, documented
from artifactstore.domain.schemas import slug_producer
from artifactstore.service import schemas
from artifactstore.service.factory import services

router = APIRouter(tags=["metadata schemas"], responses=ERROR_RESPONSES)


@router.post(
    "/metadata-schemas",
    status_code=201,
    response_model=None,
    responses={
        201: {"model": SchemaRegistered, "description": "Registered"},
        200: {
            "model": SchemaRegistered,
            "description": "The identical body is registered already",
        },
    },
)
def register_schema(
    body: SchemaBody, response: Response, principal: Principal = WRITE
) -> dict[str, Any]:
    """Register a schema: 201 new, 200 the identical body again, 409 another body.

    A slug belongs to the producer before its first '.' (``guide-board.run.v1``: guide-board):
    only an admin token, or a write token covering that producer, may register it.
    """
    if "admin" not in principal.scopes:
        principal.require_producer(slug_producer(body.slug))
    created, view = schemas.register_schema(services(), body.slug, body.json_schema)
    response.status_code = 201 if created else 200
    return view


@router.get(
    "/metadata-schemas", dependencies=[READ], response_model=None, responses=documented(SchemaPage)
)
def list_schemas(limit: int = 100, cursor: str | None = None) -> dict[str, Any]:
    """Registered schemas, by slug."""
    return schemas.schemas_page(services(), limit, cursor)


@router.get(
    "/metadata-schemas/{slug}",
    dependencies=[READ],
    response_model=None,
    responses=documented(SchemaView),
)
def get_schema(slug: str) -> dict[str, Any]:
    """One registered schema."""
    return schemas.schema_view(services(), slug)
