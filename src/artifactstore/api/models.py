"""Request bodies at the HTTP edge (strict types; domain rules are checked by the service)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SchemaBody(_Strict):
    """``POST /metadata-schemas``."""

    slug: StrictStr
    json_schema: dict[str, Any]


class FileBody(_Strict):
    """One file of a package as the client declares it."""

    path: StrictStr
    size: StrictInt
    digest: StrictStr
    executable: StrictBool = False


class StateHubLinkBody(_Strict):
    """Which State Hub workstream and task the package belongs to."""

    workstream_id: StrictStr = Field(min_length=1, max_length=200)
    task_id: StrictStr = Field(min_length=1, max_length=200)


class LinksBody(_Strict):
    """Links the package carries."""

    state_hub: StateHubLinkBody | None = None


class PackageBody(_Strict):
    """``POST /packages``."""

    producer: StrictStr
    idempotency_key: StrictStr
    retention_class: StrictStr
    schema_: StrictStr = Field(alias="schema")
    metadata: dict[str, Any]
    files: list[FileBody] = Field(max_length=100_000)
    run_dir: StrictStr | None = Field(None, max_length=4096)
    links: LinksBody | None = None


class PartBody(_Strict):
    """One completed part of a multipart upload."""

    part_number: StrictInt = Field(ge=1, le=10_000)
    etag: StrictStr = Field(min_length=1, max_length=200)


class CompleteMultipartBody(_Strict):
    """``POST /packages/{id}/multipart/complete``."""

    digest: StrictStr
    upload_id: StrictStr = Field(min_length=1, max_length=1024)
    parts: list[PartBody] = Field(min_length=1, max_length=10_000)


class TokenBody(_Strict):
    """``POST /tokens``."""

    name: StrictStr = Field(min_length=1, max_length=100)
    scopes: list[StrictStr] = Field(min_length=1)
    producers: list[StrictStr] | None = None
