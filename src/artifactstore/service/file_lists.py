"""File lists sent in parts (``POST /packages/{id}/files``) and completing a list once."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

from artifactstore.domain.digests import Digest
from artifactstore.domain.manifest import FileEntry, Manifest, canonical_json
from artifactstore.domain.packages import PackageRecord, PackageState
from artifactstore.errors import Conflict, InvalidInput
from artifactstore.service.context import Services
from artifactstore.service.protection import held_and_protected

# A writer that has not finished in this long is presumed dead; another may take over.
WRITER_STALE_AFTER = timedelta(minutes=5)


def fingerprint_of(manifest_digest: str, retention_class: str) -> str:
    """What one (producer, key) names forever: the manifest digest and its retention class."""
    body = {"manifest_digest": manifest_digest, "retention_class": retention_class}
    return str(Digest.of_bytes(canonical_json(body)))


def add_part(svc: Services, record: PackageRecord, files: Sequence[FileEntry]) -> None:
    """Add files to a list still open (idempotent: a part sent twice writes the same items)."""
    if record.state is not PackageState.DRAFT:
        raise Conflict(f"package {record.package_id} is {record.state.value}", code="not_a_draft")
    if record.files_complete:
        raise Conflict(
            f"the file list of package {record.package_id} is already complete",
            code="file_list_complete",
        )
    # Path rules and one size per digest, within the part; across parts at completion.
    Manifest.build(record.producer, record.idempotency_key, record.schema, {}, files)
    svc.catalog.add_list_part(
        record.package_id,
        files,
        record.file_count,
        svc.clock() - WRITER_STALE_AFTER,
        record.expires_at,
    )


def restart_parts(svc: Services, record: PackageRecord, files: Sequence[FileEntry]) -> None:
    """The whole list arrived in one request for a draft whose list was being sent in parts:
    it replaces the parts received so far (so they do not count twice against the cap)."""
    if record.state is PackageState.DRAFT and not record.files_complete:
        svc.catalog.delete_list_parts(record.package_id)
    add_part(svc, record, files)


def complete_file_list(svc: Services, record: PackageRecord) -> bool:
    """Check the stored list against the declared content and open it for uploads, once.

    False when another writer holds the list (it will complete it; the client asks again).
    """
    if record.files_complete:
        return True
    now = svc.clock()
    writer = str(uuid.uuid4())
    if not svc.catalog.claim_file_list(record.package_id, writer, now, now - WRITER_STALE_AFTER):
        return False
    try:
        manifest = _checked_manifest(svc, record)
        files = manifest.files
        blobs = {f.digest.hex: f.size for f in files}
        held = held_and_protected(
            svc, record.backend, record.producer, record.retention_class, blobs, strict=True
        )
    except InvalidInput:
        # A list that fails its checks never opens: its parts are dropped (not re-read on
        # every attempt); the client sends the whole list again, or lets the draft expire.
        svc.catalog.delete_list_parts(record.package_id)
        svc.catalog.release_file_list(record.package_id, writer)
        raise
    svc.catalog.add_file_chunks(record.package_id, files, record.expires_at)
    svc.catalog.add_blob_buckets(record.package_id, blobs, set(held), record.expires_at)
    done = svc.catalog.finish_file_list(
        record.package_id,
        writer,
        blob_count=len(blobs),
        verified_count=len(held),
        total_bytes=manifest.total_bytes,
    )
    if done:
        svc.catalog.delete_list_parts(record.package_id)
    return done


def _checked_manifest(svc: Services, record: PackageRecord) -> Manifest:
    """The manifest of the parts received, which must be the declared one."""
    files = _merged(svc.catalog.read_list_parts(record.package_id))
    if len(files) != record.file_count:
        raise InvalidInput(
            f"package {record.package_id} declared {record.file_count} files, "
            f"{len(files)} were sent",
            code="file_count_mismatch",
            details={"declared": record.file_count, "received": len(files)},
        )
    manifest = Manifest.build(
        record.producer, record.idempotency_key, record.schema, record.metadata, files
    )
    if fingerprint_of(str(manifest.digest()), record.retention_class) != record.fingerprint:
        raise InvalidInput(
            "the files sent do not give the declared manifest digest",
            code="manifest_mismatch",
            details={"computed": str(manifest.digest())},
        )
    return manifest


def _merged(received: list[FileEntry]) -> list[FileEntry]:
    """One entry per path: a part sent twice repeats its files; a path sent twice with
    different content is refused."""
    by_path: dict[str, FileEntry] = {}
    for entry in received:
        known = by_path.setdefault(entry.path, entry)
        if known != entry:
            raise InvalidInput(
                f"parts of the list disagree about {entry.path!r}",
                code="file_list_conflict",
                details={"path": entry.path, "entries": [known.to_json(), entry.to_json()]},
            )
    return list(by_path.values())
