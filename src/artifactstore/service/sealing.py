"""Sealing, and the seal event outbox."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aws_lambda_powertools import Logger

from artifactstore.domain.digests import Digest
from artifactstore.domain.lifecycle import package_expiry
from artifactstore.domain.manifest import Manifest
from artifactstore.domain.packages import PackageRecord
from artifactstore.service.context import Services
from artifactstore.service.file_lists import fingerprint_of

logger = Logger(service="artifactstore", child=True)
SEALED_EVENT = "ArtifactPackageSealed"
# A sealer publishes within moments of its seal; the sweep leaves seals this young to it.
OUTBOX_GRACE = timedelta(minutes=1)


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
    now = svc.clock()
    if not svc.catalog.seal(record, str(digest), now, package_expiry(now, retention)):
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
    """Publish seal events that were not confirmed; returns how many were sent.

    Only seals older than ``OUTBOX_GRACE``: a younger one's sealer is most likely alive and
    about to publish it, and the bus would carry the event twice for no crash at all.
    """
    settled = svc.clock() - OUTBOX_GRACE
    pending = [
        record
        for record in svc.catalog.unpublished_seals()
        if record.sealed_at is None or record.sealed_at < settled
    ]
    for record in pending:
        publish_sealed(svc, record)
    return len(pending)
