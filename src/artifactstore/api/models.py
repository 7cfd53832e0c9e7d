"""Request bodies at the HTTP edge (strict types; domain rules are checked by the service)."""

from __future__ import annotations

import math
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    model_validator,
)
from pydantic_core import PydanticCustomError

from artifactstore.domain.bundles import BUNDLE_MEMBER_MAX

MAX_DEPTH = 64  # nesting of objects and arrays in one request body


# Documented in the OpenAPI document but checked by the service, so each rule keeps its own
# error code (invalid_digest, invalid_producer, ...) instead of pydantic's generic one.
DIGEST = r"^blake3:[0-9a-f]{64}$"
PRODUCER = r"^[a-z0-9][a-z0-9._-]{0,63}$"
SLUG = r"^[a-z0-9][a-z0-9.-]{0,126}$"
MAX_FILE_SIZE = 5 * 1024**4


def _documented(**schema: Any) -> Any:
    return Field(json_schema_extra=schema)


class ErrorDetail(BaseModel):
    """What went wrong: a stable code, a message for people, and details."""

    code: str = Field(description="stable snake_case code, listed in docs/api.md")
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    """The one error body every error answer carries."""

    error: ErrorDetail


def _json_problem(value: object) -> str | None:
    """Why a parsed body is not interoperable JSON (RFC 7493), or None when it is."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"nested deeper than {MAX_DEPTH} levels"
        if isinstance(item, float) and not math.isfinite(item):
            return "NaN and Infinity are not JSON numbers"
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "a string holds a lone UTF-16 surrogate (not Unicode text)"
        elif isinstance(item, dict):
            stack.extend((k, depth + 1) for k in item)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Body(_Strict):
    """A whole request body: refuses what Python's JSON parser lets through but JSON is not."""

    @model_validator(mode="before")
    @classmethod
    def _interoperable(cls, data: Any) -> Any:
        problem = _json_problem(data)
        if problem:
            raise PydanticCustomError(
                "json_invalid", "not interoperable JSON: {problem}", {"problem": problem}
            )
        return data


class SchemaBody(_Body):
    """``POST /metadata-schemas``."""

    slug: StrictStr = _documented(pattern=SLUG)
    json_schema: dict[str, Any]


class FileBody(_Strict):
    """One file of a package as the client declares it."""

    path: StrictStr = _documented(minLength=1, description="relative, '/'-separated, NFC")
    size: StrictInt = _documented(minimum=0, maximum=MAX_FILE_SIZE)
    digest: StrictStr = _documented(pattern=DIGEST)
    executable: StrictBool = False


class StateHubLinkBody(_Strict):
    """Which State Hub workstream and task the package belongs to."""

    workstream_id: StrictStr = Field(min_length=1, max_length=200)
    task_id: StrictStr = Field(min_length=1, max_length=200)


class LinksBody(_Strict):
    """Links the package carries."""

    state_hub: StateHubLinkBody | None = None


class PackageBody(_Body):
    """``POST /packages``."""

    producer: StrictStr = _documented(pattern=PRODUCER)
    idempotency_key: StrictStr = _documented(minLength=1, maxLength=512)
    retention_class: StrictStr = _documented(examples=["release-evidence", "ephemeral"])
    schema_: StrictStr = Field(alias="schema", json_schema_extra={"pattern": SLUG})
    metadata: dict[str, Any]
    files: list[FileBody]  # at most 100,000: the service's too_many_files
    run_dir: StrictStr | None = Field(None, max_length=4096)
    links: LinksBody | None = None
    # A list too big for one request: send its first part here and the rest through
    # POST /packages/{id}/files; ``manifest_digest`` is what the whole list must give.
    manifest_digest: StrictStr | None = Field(None, json_schema_extra={"pattern": DIGEST})
    file_count: StrictInt | None = Field(None, ge=0, le=100_000)
    # Missing blobs smaller than this come back in ``bundle_blobs`` (no URL) for bundles.
    bundle_below: StrictInt = Field(0, ge=0, le=BUNDLE_MEMBER_MAX + 1)


class FilesPartBody(_Body):
    """``POST /packages/{id}/files``: one more part of a file list; ``complete`` closes it."""

    files: list[FileBody]
    complete: StrictBool = False
    bundle_below: StrictInt = Field(0, ge=0, le=BUNDLE_MEMBER_MAX + 1)


class BundleBody(_Body):
    """``POST /packages/{id}/bundles``: the small blobs one upload will carry, in byte order."""

    blobs: list[StrictStr]  # 1..BUNDLE_MAX_MEMBERS: the service's too_many_blobs


class PartBody(_Strict):
    """One completed part of a multipart upload."""

    part_number: StrictInt = Field(ge=1, le=10_000)
    etag: StrictStr = Field(min_length=1, max_length=200)


class CompleteMultipartBody(_Body):
    """``POST /packages/{id}/multipart/complete``."""

    digest: StrictStr = _documented(pattern=DIGEST)
    upload_id: StrictStr = Field(min_length=1, max_length=1024)
    parts: list[PartBody] = Field(min_length=1, max_length=10_000)


class TokenBody(_Body):
    """``POST /tokens``."""

    name: StrictStr = Field(min_length=1, max_length=100)
    scopes: list[StrictStr] = Field(
        min_length=1, json_schema_extra={"items": {"enum": ["read", "write", "admin"]}}
    )
    producers: list[StrictStr] | None = None
