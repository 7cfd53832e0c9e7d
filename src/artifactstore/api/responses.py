"""What the API answers, as models: the OpenAPI document describes every JSON answer with them.

A route that builds its answer from plain values returns its model. The others name the model
in ``responses`` and return their views as before (``response_model=None``): FastAPI would
serialize a model through pydantic, which writes floats in free-form metadata and schemas
otherwise (``1e-07`` becomes ``1e-7``) and would revalidate pages of up to 4 MB, while clients
compare these bytes. ``tests/unit/test_api_responses.py`` holds real answers to the models,
every field in its order and no other (``api/responses_reports.py``: diff, usage, keys).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Answer(BaseModel):
    """A JSON answer: its fields in the order answered; one with a default may be left out."""

    model_config = ConfigDict(extra="forbid")


class SchemaView(Answer):
    """A registered metadata schema."""

    slug: str
    json_schema: dict[str, Any]
    digest: str = Field(description="BLAKE3 of the schema's RFC 8785 bytes")
    created_at: str


class SchemaRegistered(SchemaView):
    """A schema as ``POST /metadata-schemas`` answers: registered now (201) or already (200)."""

    created: bool


class SchemaPage(Answer):
    """A page of registered schemas, by slug."""

    items: list[SchemaView]
    next_cursor: str | None


class PackageView(Answer):
    """A package record (``GET /packages/{id}`` without its files)."""

    package_id: str
    producer: str
    idempotency_key: str
    retention_class: str
    schema_: str = Field(alias="schema")
    metadata: Any
    state: str = Field(description="draft | sealed | expired, as of the request")
    backend: str
    manifest_digest: str | None
    file_count: int
    total_bytes: int
    blob_count: int
    verified_blobs: int
    rejected_blobs: int
    created_at: str
    expires_at: str | None = Field(description="when a draft expires unless sealed")
    sealed_at: str | None
    expiry_due: str | None
    expired_at: str | None
    run_dir: str | None
    links: dict[str, Any] | None
    state_hub_link: dict[str, Any] | None


class PackagePage(Answer):
    """Packages newest first."""

    items: list[PackageView]
    next_cursor: str | None


class FileStatusView(Answer):
    """One file of a package and the status of its blob."""

    path: str
    size: int
    digest: str
    executable: bool
    status: str = Field(description="pending | verified | rejected")
    seen_digest: str | None = Field(description="what a rejected upload hashed to")


class PackageWithFiles(PackageView):
    """A package with one page of its files."""

    files: list[FileStatusView]
    next_files_cursor: str | None


class WaitingPackage(PackageView):
    """A finalized draft still waiting for verification (202)."""

    waiting_for: Any


class UploadPartView(Answer):
    """One presigned part of a multipart upload."""

    part_number: int
    url: str
    offset: int
    size: int


class UploadTargetView(Answer):
    """Where to send one blob's bytes (or a bundle's): one PUT, or a multipart upload."""

    digest: str = Field(description="blake3:<hex>, or bundle:<bundle id>")
    size: int
    method: str
    headers: dict[str, str]
    expires_in: int
    # One PUT has url; a multipart upload has the rest (in this order, as answered).
    url: str | None = None
    upload_id: str | None = None
    parts: list[UploadPartView] | None = None
    part_count: int | None = None
    part_size: int | None = None
    next_parts_cursor: str | None = None


class BlobRef(Answer):
    """A blob to send in a bundle."""

    digest: str
    size: int


class PackageCreated(Answer):
    """``POST /packages`` (and the last part of a list sent in parts)."""

    package_id: str
    state: str
    reused_existing: bool
    manifest_digest: str | None
    file_count: int
    total_bytes: int
    backend: str
    files_complete: bool
    missing_blobs: int
    upload_targets: list[UploadTargetView]
    next_upload_targets_cursor: str | None
    bundle_blobs: list[BlobRef] | None = Field(None, description="with bundle_below only")


class UploadTargetsPage(Answer):
    """A page of fresh upload targets."""

    upload_targets: list[UploadTargetView]
    next_cursor: str | None
    missing_blobs: int
    bundle_blobs: list[BlobRef] | None = Field(None, description="with bundle_below only")


class BundleAnswer(Answer):
    """A bundle's upload target, its members in the order to send them."""

    bundle_id: str | None = Field(description="null when every blob named is verified already")
    blobs: list[str]
    size: int
    upload_target: UploadTargetView | None


class PlanFile(Answer):
    """Where to read one file of a download plan."""

    path: str
    size: int
    digest: str
    executable: bool
    url: str
    offset: int | None = Field(description="in a pack: its bytes are size bytes from here")


class DownloadPlan(Answer):
    """A page of where to read a sealed package's files."""

    package_id: str
    manifest_digest: str
    expires_in: int
    files: list[PlanFile]
    next_cursor: str | None


class TokenIssued(Answer):
    """A new token; its secret is shown this once."""

    token_id: str
    name: str
    scopes: list[str]
    producers: list[str] | None
    token: str


class TokenView(Answer):
    """An issued token (never its secret)."""

    token_id: str
    name: str
    scopes: list[str]
    producers: list[str] | None
    revoked: bool


class TokenList(Answer):
    """Every issued token."""

    items: list[TokenView]


class PartsPage(Answer):
    """More presigned parts of a multipart upload target."""

    digest: str
    upload_id: str
    part_count: int
    part_size: int
    parts: list[UploadPartView]
    next_cursor: str | None


class MultipartCompleted(Answer):
    """A multipart upload completed from its parts' ETags."""

    package_id: str
    digest: str
    status: str


def documented(model: type[BaseModel], description: str = "OK") -> dict[int | str, Any]:
    """``responses`` naming ``model`` as the 200 answer's schema (the route returns its dict)."""
    return {200: {"model": model, "description": description}}
