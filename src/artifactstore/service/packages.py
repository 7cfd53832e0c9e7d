"""Package creation: validate a request, create or resume its draft, answer with targets.

What follows creation (more file-list parts, multipart completion, finalize) is in
``drafts``."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from referencing.exceptions import Unresolvable

from artifactstore.domain.digests import Digest
from artifactstore.domain.manifest import FileEntry, Manifest, canonical_json
from artifactstore.domain.packages import PackageRecord, PackageState
from artifactstore.domain.retention import resolve_retention_class
from artifactstore.domain.schemas import MetadataSchema
from artifactstore.domain.tokens import Caller
from artifactstore.errors import Conflict, InvalidInput, NotFound
from artifactstore.ports.catalog import KeyTaken, StaleWrite
from artifactstore.service import file_lists
from artifactstore.service.context import Services
from artifactstore.service.file_lists import fingerprint_of
from artifactstore.service.protection import held_and_protected, usable_held
from artifactstore.service.schemas import get_schema
from artifactstore.service.targets import TargetView, target_page, targets_for

MAX_FILES = 100_000
# The package item (at most 400 KB in DynamoDB) carries the metadata; leave room for the rest.
MAX_METADATA_BYTES = 256 * 1024
MAX_KEY_BYTES = 1024  # (producer, key) is a DynamoDB partition key: at most 2048 bytes
# A file's catalog sort key is "FILE#" + its path; DynamoDB sort keys hold at most 1024 bytes.
MAX_STORED_PATH_BYTES = 1024 - len("FILE#")
PRODUCER_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
_PRODUCER_RE = re.compile(PRODUCER_PATTERN)


@dataclass(slots=True)
class NewPackage:
    """A validated creation request."""

    producer: str
    idempotency_key: str
    retention_class: str
    schema: str
    metadata: dict[str, Any]
    files: list[FileEntry]
    run_dir: str | None = None
    links: dict[str, Any] = field(default_factory=dict)
    # A list too big for one request: ``files`` is its first part, ``file_count`` the whole,
    # ``declared_manifest_digest`` what the complete list must give.
    declared_manifest_digest: str | None = None
    file_count: int | None = None
    # Missing blobs smaller than this are listed for bundles rather than given a target.
    bundle_below: int = 0

    @property
    def in_parts(self) -> bool:
        """Whether more files follow through ``POST /packages/{id}/files``."""
        return self.file_count is not None and self.file_count != len(self.files)


@dataclass(slots=True)
class CreateOutcome:
    """What ``POST /packages`` answers."""

    record: PackageRecord
    created: bool
    reused_existing: bool
    targets: list[TargetView] = field(default_factory=list)  # JSON, within the byte budget
    next_cursor: str | None = None
    missing_blobs: int = 0
    bundled: list[tuple[str, int]] = field(default_factory=list)  # (hex, size) for bundles


def validate_producer(producer: object) -> str:
    """A producer is a slug: ``^[a-z0-9][a-z0-9._-]{0,63}$``."""
    if not isinstance(producer, str) or not _PRODUCER_RE.fullmatch(producer):
        raise InvalidInput(
            f"invalid producer {producer!r}: expected {PRODUCER_PATTERN}",
            code="invalid_producer",
            details={"producer": producer},
        )
    return producer


def validate_identity(producer: object, key: object) -> tuple[str, str]:
    """Producer is a slug; the key is 1..512 printable characters."""
    producer = validate_producer(producer)
    if (
        not isinstance(key, str)
        or not 0 < len(key) <= 512
        or len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES
        or any(ord(c) < 0x20 or ord(c) == 0x7F for c in key)
    ):
        raise InvalidInput(
            "idempotency_key must be 1..512 characters (at most 1024 UTF-8 bytes) without "
            "control characters",
            code="invalid_idempotency_key",
        )
    return producer, key


def _fingerprint(request: NewPackage, manifest: Manifest, retention_class: str) -> str:
    """The content the key names: declared (a list in parts) or computed, checked if both."""
    declared = request.declared_manifest_digest
    if declared is not None:
        Digest.parse(declared)
    if request.file_count is not None and not len(request.files) <= request.file_count <= MAX_FILES:
        raise InvalidInput(
            f"file_count must be between the files sent ({len(request.files)}) and {MAX_FILES}",
            code="invalid_file_count",
        )
    if request.in_parts:
        if declared is None:
            raise InvalidInput(
                "a file list sent in parts needs the manifest_digest it must give",
                code="manifest_digest_required",
            )
        return fingerprint_of(declared, retention_class)
    computed = str(manifest.digest())
    if declared is not None and declared != computed:
        raise InvalidInput(
            "the files sent do not give the declared manifest digest",
            code="manifest_mismatch",
            details={"declared": declared, "computed": computed},
        )
    return fingerprint_of(computed, retention_class)


def create_or_resume(svc: Services, caller: Caller, request: NewPackage) -> CreateOutcome:
    """Answer ``POST /packages`` per the package life: new draft, resumed draft, sealed, or 409."""
    validate_identity(request.producer, request.idempotency_key)
    caller.require_producer(request.producer)
    if len(request.files) > MAX_FILES:
        raise InvalidInput(f"at most {MAX_FILES} files per package", code="too_many_files")
    retention = resolve_retention_class(svc.retention_classes, request.retention_class)
    # The size first: an oversize object never reaches schema validation (its cost grows
    # with the object, and its errors would echo it back).
    if len(canonical_json(request.metadata)) > MAX_METADATA_BYTES:
        raise InvalidInput(
            f"metadata is over {MAX_METADATA_BYTES} bytes (as RFC 8785 JSON)",
            code="metadata_too_large",
            details={"limit": MAX_METADATA_BYTES},
        )
    schema = _known_schema(svc, request.schema)
    try:
        schema.validate(request.metadata)
    except Unresolvable as exc:
        raise InvalidInput(
            f"schema {schema.slug!r} has a $ref that cannot be resolved: {exc}",
            code="schema_unresolvable",
            details={"schema": schema.slug},
        ) from exc
    manifest = Manifest.build(
        request.producer, request.idempotency_key, schema.slug, request.metadata, request.files
    )
    _check_storable_paths(manifest)
    backend = svc.routes.resolve(request.producer, retention.name)
    fingerprint = _fingerprint(request, manifest, retention.name)
    for _ in range(3):
        claim = svc.catalog.find_claim(request.producer, request.idempotency_key)
        if claim is None:
            try:
                return _new_draft(svc, request, manifest, backend, fingerprint, None)
            except KeyTaken:
                continue
        existing = _claimed(svc, claim[0])
        if existing is None or existing.state_at(svc.clock()) is PackageState.EXPIRED:
            # Expired (a draft past its TTL, or a sealed package past its class's time), or
            # gone: DynamoDB's TTL deleted the package item (a month after its draft expired)
            # but a claim may outlive it. Either way the key is free again: one live package
            # per key; the expired one stays listed.
            try:
                return _new_draft(svc, request, manifest, backend, fingerprint, claim[0])
            except StaleWrite:
                continue
        return _existing(svc, existing, fingerprint, manifest, request)
    raise Conflict("the idempotency key is being claimed concurrently; retry", code="busy")


def _claimed(svc: Services, package_id: str) -> PackageRecord | None:
    """The package a key claim names; None when it is gone (deleted by its TTL)."""
    try:
        return svc.catalog.get_package(package_id)
    except NotFound:
        return None


def _check_storable_paths(manifest: Manifest) -> None:
    """Refuse, before any write, paths the catalog cannot key."""
    for entry in manifest.files:
        if len(entry.path.encode("utf-8")) > MAX_STORED_PATH_BYTES:
            raise InvalidInput(
                f"invalid path {entry.path[:40]!r}...: longer than {MAX_STORED_PATH_BYTES} "
                "UTF-8 bytes, the most the catalog stores",
                code="invalid_path",
                details={"path": entry.path, "limit": MAX_STORED_PATH_BYTES},
            )


def _known_schema(svc: Services, slug: str) -> MetadataSchema:
    """The schema a request names; one never registered is the request's fault (a 422)."""
    try:
        return get_schema(svc, slug)
    except NotFound as exc:
        raise InvalidInput(
            f"unknown metadata schema {slug!r}; register it first (POST /metadata-schemas)",
            code="unknown_schema",
            details={"schema": slug},
        ) from exc


def _new_draft(
    svc: Services,
    request: NewPackage,
    manifest: Manifest,
    backend: str,
    fingerprint: str,
    replaces: str | None,
) -> CreateOutcome:
    now = svc.clock()
    blobs = {f.digest.hex: f.size for f in manifest.files}
    # Held blobs are protected for this package's class before it counts them as verified;
    # one held at another size than listed is refused before anything is written.
    present = (
        set()
        if request.in_parts
        else held_and_protected(
            svc, backend, request.producer, request.retention_class, blobs, strict=True
        )
    )
    record = PackageRecord(
        package_id=str(uuid.uuid4()),
        producer=request.producer,
        idempotency_key=request.idempotency_key,
        retention_class=request.retention_class,
        schema=manifest.schema,
        metadata=request.metadata,
        backend=backend,
        fingerprint=fingerprint,
        file_count=len(manifest.files),
        total_bytes=manifest.total_bytes,
        blob_count=len(blobs),
        created_at=now,
        expires_at=now + svc.draft_ttl,
        verified_count=len(present),
        run_dir=request.run_dir,
        links=request.links,
        files_in_parts=request.in_parts,
    )
    if request.in_parts:
        # Counted when the list is complete (``file_lists.complete_file_list``).
        record.file_count, record.blob_count = request.file_count or 0, 0
    if replaces is None:
        svc.catalog.create_package(record)
    else:
        svc.catalog.create_package_replacing(record, replaces)
    if request.in_parts:
        file_lists.add_part(svc, record, manifest.files)
        return CreateOutcome(
            record=record,
            created=True,
            reused_existing=False,
        )
    svc.catalog.add_files(
        record.package_id, manifest.files, verified_hex=present, expires_at=record.expires_at
    )
    svc.catalog.mark_files_complete(record.package_id)
    record.files_complete = True
    missing = {f.digest.hex: f.size for f in manifest.files if f.digest.hex not in present}
    targets, bundled, cursor = target_page(svc, record, missing, None, request.bundle_below)
    return CreateOutcome(
        record=record,
        created=True,
        reused_existing=False,
        targets=targets,
        next_cursor=cursor,
        missing_blobs=len(missing),
        bundled=bundled,
    )


def _existing(
    svc: Services,
    record: PackageRecord,
    fingerprint: str,
    manifest: Manifest,
    request: NewPackage,
) -> CreateOutcome:
    if record.fingerprint != fingerprint:
        raise Conflict(
            f"{record.producer} key {record.idempotency_key!r} already names package "
            f"{record.package_id} with different content",
            code="idempotency_conflict",
            details={"package_id": record.package_id, "state": record.state.value},
        )
    if record.state is PackageState.SEALED:
        return CreateOutcome(
            record=record,
            created=False,
            reused_existing=True,
        )
    if not record.files_complete and (record.files_in_parts or request.in_parts):
        if request.in_parts:
            file_lists.add_part(svc, record, manifest.files)
            return CreateOutcome(
                record=record,
                created=False,
                reused_existing=False,
            )
        file_lists.restart_parts(svc, record, manifest.files)  # the whole list, inline
        return complete_and_target(svc, record, created=False, bundle_below=request.bundle_below)
    if not record.files_complete:
        # A concurrent creator is still writing the file list: answer from this request's
        # own (identical) files so the client can start uploading right away.
        listed = {f.digest.hex: f.size for f in manifest.files}
        present = usable_held(svc, record.backend, record.producer, record.retention_class, listed)
        missing = {h: n for h, n in listed.items() if h not in present}
        targets, bundled, cursor = target_page(svc, record, missing, None, request.bundle_below)
        return CreateOutcome(
            record=record,
            created=False,
            reused_existing=False,
            targets=targets,
            next_cursor=cursor,
            missing_blobs=len(missing),
            bundled=bundled,
        )
    page = targets_for(svc, svc.catalog.get_package(record.package_id), None, request.bundle_below)
    return CreateOutcome(
        record=svc.catalog.get_package(record.package_id),
        created=False,
        reused_existing=False,
        targets=page.targets,
        next_cursor=page.next_cursor,
        missing_blobs=page.missing,
        bundled=page.bundled,
    )


def complete_and_target(
    svc: Services, record: PackageRecord, *, created: bool, bundle_below: int = 0
) -> CreateOutcome:
    """Complete the file list (once, whoever asks) and answer with the first upload targets."""
    if not file_lists.complete_file_list(svc, record):
        raise Conflict(
            f"another request is completing the file list of package {record.package_id}; "
            "retry in a moment",
            code="busy",
        )
    page = targets_for(svc, svc.catalog.get_package(record.package_id), None, bundle_below)
    return CreateOutcome(
        record=svc.catalog.get_package(record.package_id),
        created=created,
        reused_existing=False,
        targets=page.targets,
        next_cursor=page.next_cursor,
        missing_blobs=page.missing,
        bundled=page.bundled,
    )
