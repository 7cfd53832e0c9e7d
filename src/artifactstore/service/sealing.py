"""Sealing, the seal event outbox, and draft expiry."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aws_lambda_powertools import Logger

from artifactstore.domain.digests import Digest
from artifactstore.domain.keys import upload_key
from artifactstore.domain.manifest import Manifest
from artifactstore.domain.packages import BlobStatus, PackageRecord
from artifactstore.service.context import Services
from artifactstore.service.file_lists import fingerprint_of

logger = Logger(service="artifactstore", child=True)
SEALED_EVENT = "ArtifactPackageSealed"
ABANDONED_AFTER = timedelta(minutes=15)


def build_manifest(svc: Services, record: PackageRecord) -> Manifest:
    """The package's manifest from its catalogued files."""
    return Manifest.build(
        record.producer,
        record.idempotency_key,
        record.schema,
        record.metadata,
        svc.catalog.iter_files(record.package_id),
    )


def try_seal(svc: Services, package_id: str) -> bool:
    """Seal if ready. Concurrent callers may all build and store the (identical) manifest;
    exactly one conditional write wins and publishes the event."""
    record = svc.catalog.get_package(package_id)
    if not record.ready_to_seal():
        return False
    manifest = build_manifest(svc, record)
    data = manifest.canonical_bytes()
    digest = Digest.of_bytes(data)
    if fingerprint_of(str(digest), record.retention_class) != record.fingerprint:
        logger.error(
            "manifest differs from the content the package was created with",
            extra={"package_id": package_id},
        )
        return False
    retention = svc.retention_classes[record.retention_class]
    svc.storage(record.backend).put_manifest(digest, data, retention)
    if not svc.catalog.seal(record, str(digest), svc.clock()):
        return False
    logger.info("package sealed", extra={"package_id": package_id, "manifest_digest": str(digest)})
    record.manifest_digest = str(digest)
    publish_sealed(svc, record)
    return True


def sealed_event_detail(record: PackageRecord) -> dict[str, Any]:
    """The ``ArtifactPackageSealed`` detail: identifiers and digests only."""
    return {
        "package_id": record.package_id,
        "producer": record.producer,
        "idempotency_key": record.idempotency_key,
        "manifest_digest": record.manifest_digest,
        "retention_class": record.retention_class,
        "file_count": record.file_count,
        "schema": record.schema,
    }


def publish_sealed(svc: Services, record: PackageRecord) -> None:
    """Put the seal event on the bus, then take the package out of the outbox.

    If the process dies in between, the outbox sweep publishes again: the bus may see the
    event twice, and the linker's idempotency makes State Hub hear of it once.
    """
    try:
        svc.publisher.publish(SEALED_EVENT, sealed_event_detail(record))
    except Exception:  # the outbox sweep retries; the seal itself stands
        logger.exception("seal event not published yet", extra={"package_id": record.package_id})
        return
    svc.catalog.mark_published(record.package_id)


def sweep_outbox(svc: Services) -> int:
    """Publish seal events that were not confirmed; returns how many were sent."""
    pending = svc.catalog.unpublished_seals()
    for record in pending:
        publish_sealed(svc, record)
    return len(pending)


def expire_drafts(svc: Services) -> int:
    """Drafts past their TTL become ``expired``; their pending uploads, and the parts of a
    list sent in parts that never completed, are deleted.

    A draft whose creator died before its file list was complete is expired after
    ``ABANDONED_AFTER``, so the producer's next attempt gets a fresh draft under the same key.
    """
    now = svc.clock()
    abandoned_before = now - ABANDONED_AFTER
    count = 0
    for record in svc.catalog.expired_drafts(now, abandoned_before):
        if not svc.catalog.expire(record.package_id, now, abandoned_before):
            continue
        count += 1
        if record.files_in_parts and not record.files_complete:
            svc.catalog.delete_list_parts(record.package_id)  # a list that never opened
        storage = svc.storages.get(record.backend)
        if storage is None:  # the routes no longer name it: its uploads expire by lifecycle
            logger.warning(
                "draft expired; its backend is not configured, uploads left to lifecycle",
                extra={"package_id": record.package_id, "backend": record.backend},
            )
            continue
        for blob in svc.catalog.blob_states(record.package_id):
            if blob.status is not BlobStatus.VERIFIED:
                storage.delete_upload(upload_key(record.package_id, blob.digest))
        logger.info("draft expired", extra={"package_id": record.package_id})
    return count


def run_maintenance(svc: Services) -> dict[str, int]:
    """One scheduled round: expire drafts and sweep the outbox."""
    return {"expired": expire_drafts(svc), "published": sweep_outbox(svc)}
