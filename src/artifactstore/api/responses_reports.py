"""Models of the read-only reports: ``/diff``, ``/usage``, ``/signing-keys`` and ``/health``.

As in ``api/responses.py``, fields are in the order the answers carry them, and a field with a
default is one an answer may leave out (it is never sent as null in its place).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from artifactstore.api.responses import Answer


class DiffedPackage(Answer):
    """What a diff says about each of its two packages."""

    package_id: str
    producer: str
    idempotency_key: str
    schema_: str = Field(alias="schema")
    state: str
    manifest_digest: str | None
    file_count: int
    total_bytes: int
    created_at: str
    sealed_at: str | None


class ManifestFile(Answer):
    """A file as its manifest lists it."""

    path: str
    size: int
    digest: str
    executable: bool = Field(False, description="present, and true, only when executable")


class FileSide(Answer):
    """One side of a changed file."""

    size: int
    digest: str
    executable: bool = Field(False, description="present, and true, only when executable")


class FileChangeView(Answer):
    """A path on both sides whose digest (or only its executable bit) differs."""

    path: str
    from_: FileSide = Field(alias="from")
    to: FileSide
    size_delta: int


class MetadataChange(Answer):
    """A metadata field that differs, by its RFC 6901 JSON pointer."""

    pointer: str
    change: str = Field(description="added | removed | changed")
    from_: Any = Field(None, alias="from", description="absent when added")
    to: Any = Field(None, description="absent when removed")


class SchemaChange(Answer):
    """The schema slugs, when they differ."""

    from_: str = Field(alias="from")
    to: str


class ByteTotals(Answer):
    """Total file bytes of each side."""

    from_: int = Field(alias="from")
    to: int


class DiffSummary(Answer):
    """Counts and byte totals of a diff."""

    added: int
    removed: int
    changed: int
    mode_changed: int
    unchanged: int
    metadata: int
    bytes_added: int
    bytes_removed: int
    size_delta: int


class DiffView(Answer):
    """``GET /diff``: what changed from package ``from`` to package ``to``."""

    from_: DiffedPackage = Field(alias="from")
    to: DiffedPackage
    same: bool
    added: list[ManifestFile]
    removed: list[ManifestFile]
    changed: list[FileChangeView]
    mode_changed: list[FileChangeView]
    metadata: list[MetadataChange]
    schema_: SchemaChange | None = Field(alias="schema")
    size_delta: int
    total_bytes: ByteTotals
    summary: DiffSummary


class Tally(Answer):
    """Packages, files and logical bytes."""

    packages: int
    files: int
    bytes: int


class UsageRow(Answer):
    """The tally of one producer, retention class and state."""

    producer: str
    retention_class: str
    state: str
    packages: int
    files: int
    bytes: int


class StateTallies(Answer):
    """A tally per state (as of the report)."""

    draft: Tally
    sealed: Tally
    expired: Tally


class UsageTotals(Tally):
    """Every package, and per state."""

    by_state: StateTallies


class SealedDue(Answer):
    """A sealed package that expires by the horizon."""

    package_id: str
    producer: str
    retention_class: str
    expiry_due: str
    bytes: int


class DraftDue(Answer):
    """A draft that expires by the horizon."""

    package_id: str
    producer: str
    retention_class: str
    expires_at: str
    bytes: int


class SealedExpiring(Tally):
    """Sealed packages expiring by the horizon, the earliest few listed."""

    earliest: list[SealedDue]


class DraftsExpiring(Tally):
    """Drafts expiring by the horizon, the earliest few listed."""

    earliest: list[DraftDue]


class Expiring(Answer):
    """What expires after the report's time and by ``until``."""

    until: str
    sealed: SealedExpiring
    drafts: DraftsExpiring


class UsageReport(Answer):
    """``GET /usage``: what the store keeps, and what expires soon."""

    as_of: str
    horizon_days: int
    bytes: str = Field(description="what the byte counts count")
    rows: list[UsageRow]
    totals: UsageTotals
    expiring: Expiring


class SigningKey(Answer):
    """A public key that signs, or signed, attestations."""

    keyid: str
    algorithm: str
    public_key_pem: str
    not_before: str | None
    not_after: str | None


class SigningKeys(Answer):
    """``GET /signing-keys``: every listed key, the current one first."""

    keys: list[SigningKey]


class StackVersions(Answer):
    """The versions of what the service runs on."""

    boto3: str
    pynamodb: str


class Health(Answer):
    """``GET /health``: liveness and versions."""

    status: str
    version: str
    stack: StackVersions
