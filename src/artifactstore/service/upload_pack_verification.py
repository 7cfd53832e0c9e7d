"""The verifier's branch for a large blob uploaded straight into its own pack (an upload pack,
``domain/packs.upload_pack_name``): hashed where it lies and, on a match, recorded there, so
its bytes are never copied (``docs/architecture.md``, "Large files").

Until the catalog records it, nothing reads it: an upload pack that does not match, or that
another record made redundant, is deleted by version before any lock is put on it.
"""

from __future__ import annotations

from datetime import timedelta

from aws_lambda_powertools import Logger

from artifactstore.domain.digests import Digest
from artifactstore.domain.packages import BlobState, BlobStatus, PackageRecord, PackageState
from artifactstore.domain.packs import PackedBlob
from artifactstore.domain.protection import Protection
from artifactstore.errors import NotFound
from artifactstore.ports.storage import OpenUpload
from artifactstore.service.context import Services
from artifactstore.service.protection import protect_held, usable_held
from artifactstore.service.sealing import try_seal
from artifactstore.service.upload_outcomes import (
    NotReadyYet,
    Outcome,
    Verification,
    expects_uploads,
    hashed,
    reject,
)

logger = Logger(service="artifactstore", child=True)


def verify_upload_pack(
    svc: Services, backend: str, key: str, version: str | None, pack: Digest
) -> Verification:
    """Verify ``version`` of the upload pack at ``key``: keep it as that blob's place, or
    discard it. Idempotent: a redelivered notification finds it recorded, or gone."""
    storage = svc.storage(backend)
    try:
        upload = storage.open_upload(key, version)
    except NotFound:
        logger.info("upload pack already gone", extra={"key": key, "version": version})
        return Verification(Outcome.IGNORED)
    with upload:
        if upload.started_for is None:
            # Not a client's upload (the verifier's own copy of a pack renewing it): kept.
            logger.info("not an upload pack; acknowledged", extra={"key": key})
            return Verification(Outcome.IGNORED)
        package_id, digest = upload.started_for
        held = svc.catalog.held_records(backend, [digest]).get(digest.hex)
        recorded_here = held is not None and held.place is not None and held.place.pack == pack
        record, blob = _expecting(svc, backend, package_id, digest)
        if record is None or blob is None or blob.status is BlobStatus.VERIFIED:
            if not recorded_here:
                _discard(svc, backend, digest, pack, upload.version)
            outcome = Outcome.IGNORED if blob is None else Outcome.ALREADY_VERIFIED
            return Verification(outcome, package_id if record else None)
        if not recorded_here and not _hold(svc, record, blob, pack, upload):
            return Verification(Outcome.REJECTED, package_id)
    if recorded_here:  # a verifier that stopped after recording it may not have kept it yet
        _keep(svc, record, digest)
    if not svc.catalog.set_blob_status(package_id, digest, BlobStatus.VERIFIED, expected=blob):
        return Verification(Outcome.ALREADY_VERIFIED, package_id, try_seal(svc, package_id))
    return Verification(Outcome.VERIFIED, package_id, try_seal(svc, package_id))


def _expecting(
    svc: Services, backend: str, package_id: str, digest: Digest
) -> tuple[PackageRecord | None, BlobState | None]:
    """The package and its blob, while its uploads to ``backend`` still count; else a None."""
    try:
        record = svc.catalog.get_package(package_id)
    except NotFound:
        logger.warning("upload pack of an unknown package", extra={"package_id": package_id})
        return None, None
    blob = svc.catalog.get_blob_state(package_id, digest)
    if blob is None and not record.files_complete and record.state is PackageState.DRAFT:
        raise NotReadyYet(f"package {package_id} is still being created")
    if not expects_uploads(record, backend):
        return record, None
    return record, blob


def _hold(
    svc: Services, record: PackageRecord, blob: BlobState, pack: Digest, upload: OpenUpload
) -> bool:
    """Hash the upload pack; on a match make it (or the record held already) the blob's place,
    kept as the package's class asks. False, the upload pack discarded, when it does not match."""
    storage = svc.storage(record.backend)
    sizes = {blob.digest.hex: blob.size}
    usable = usable_held(svc, record.backend, record.producer, record.retention_class, sizes)
    if usable and protect_held(svc, record.backend, record.retention_class, usable):
        # Held already and usable as is: never hashed twice, never stored twice.
        _discard(svc, record.backend, blob.digest, pack, upload.version)
        return True
    seen = hashed(upload, blob)
    if seen != blob.digest:
        storage.discard_upload_pack(pack, upload.version)  # bad bytes: no verifier records them
        seen_text = reject(svc, record.package_id, blob, seen, upload.size)
        logger.warning("upload pack rejected", extra={"pack": str(pack), "seen": seen_text})
        return False
    if svc.catalog.swept_blobs(record.backend, [blob.digest]):
        raise NotReadyYet(f"blob {blob.digest} is being swept; its upload waits for the sweep")
    recorded = svc.catalog.record_packed_blobs(
        record.backend,
        pack,
        [PackedBlob(blob.digest, blob.size, 0)],
        record.package_id,
        svc.clock(),
        _as_started(svc, record, upload),
        record.producer,
    )
    if blob.digest.hex not in recorded:
        # Recorded first elsewhere (that place stays, this copy goes), or here, by a
        # concurrent delivery of this same notification.
        _discard(svc, record.backend, blob.digest, pack, upload.version)
    _keep(svc, record, blob.digest)
    logger.info("upload pack verified", extra={"pack": str(pack), "size": blob.size})
    return True


def _as_started(svc: Services, record: PackageRecord, upload: OpenUpload) -> Protection:
    """How an upload pack is kept as it was written: tagged to expire, no lock. It expires
    its class's days after it was written, as storage reads the tag for an expiring class
    (``head_protection``); when not known, or for a kept class, at a time left unrecorded.
    ``_keep`` then raises it to the class."""
    days = svc.retention_classes[record.retention_class].expire_days
    if days is None or upload.created_at is None:
        return Protection(expiring=True)
    return Protection(expiring=True, expires_at=upload.created_at + timedelta(days=days))


def _discard(
    svc: Services, backend: str, digest: Digest, pack: Digest, version: str | None
) -> None:
    """Delete that version of the upload pack, unless the catalog now places the blob in it.

    Read again right before deleting: every path that decides to discard read the catalog
    before a concurrent delivery of the same notification may have recorded this very pack
    (it records before it counts the blob verified, and a record made later fails, the blob
    being held), so the upload pack of a recorded blob is never deleted here."""
    held = svc.catalog.held_records(backend, [digest]).get(digest.hex)
    if held is not None and held.place is not None and held.place.pack == pack:
        return
    svc.storage(backend).discard_upload_pack(pack, version)


def _keep(svc: Services, record: PackageRecord, digest: Digest) -> None:
    """Keep the held blob as the package's class asks, proved by its producer."""
    held = svc.catalog.held_records(record.backend, [digest])
    if not held or not protect_held(svc, record.backend, record.retention_class, held):
        raise NotReadyYet(f"blob {digest} was swept while it was recorded")
    if record.producer not in held[digest.hex].producers:
        svc.catalog.add_blob_producer(record.backend, digest, record.producer)
