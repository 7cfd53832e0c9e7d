"""The verifier's use case: hash an uploaded object server-side, promote or reject it."""

from __future__ import annotations

from aws_lambda_powertools import Logger

from artifactstore.domain.digests import Digest
from artifactstore.domain.keys import parse_bundle_key, parse_pack_key, parse_upload_key
from artifactstore.domain.lifecycle import LEASE
from artifactstore.domain.packages import BlobState, BlobStatus, PackageRecord, PackageState
from artifactstore.errors import NotFound
from artifactstore.service.bundle_verification import verify_bundle
from artifactstore.service.context import Services
from artifactstore.service.protection import protect_held, usable_held
from artifactstore.service.sealing import try_seal
from artifactstore.service.upload_outcomes import (
    NotReadyYet,
    Outcome,
    Verification,
    expects_uploads,
    hashed,
    package_of_upload,
    reject,
)
from artifactstore.service.upload_pack_verification import verify_upload_pack

logger = Logger(service="artifactstore", child=True)


def verify_upload(
    svc: Services, backend: str, key: str, version: str | None = None
) -> Verification:
    """Verify ``version`` of the object at ``key`` (the current one when None): one blob's
    upload, a bundle's (``bundle_verification``), or a large blob's upload pack
    (``upload_pack_verification``).

    Idempotent under redelivery and reordering: a version already promoted or deleted is
    found gone and changes nothing; each version of a key (a client's retried PUT) is handled
    by its own notification.
    """
    parsed = parse_upload_key(key)
    if parsed is not None:
        return _verify_blob_upload(svc, backend, key, version, *parsed)
    bundle = parse_bundle_key(key)
    if bundle is not None:
        return verify_bundle(svc, backend, key, version, *bundle)
    pack = parse_pack_key(key)
    if pack is not None:
        return verify_upload_pack(svc, backend, key, version, pack)
    logger.info("not an upload key; acknowledged", extra={"key": key})
    return Verification(Outcome.IGNORED)


def _verify_blob_upload(
    svc: Services, backend: str, key: str, version: str | None, package_id: str, digest: Digest
) -> Verification:
    storage = svc.storage(backend)
    record = package_of_upload(svc, storage, key, version, package_id)
    if record is None:
        return Verification(Outcome.IGNORED)
    blob = svc.catalog.get_blob_state(package_id, digest)
    if blob is None and not record.files_complete and record.state is PackageState.DRAFT:
        raise NotReadyYet(f"package {package_id} is still being created")
    if blob is None or not expects_uploads(record, backend):
        storage.delete_upload(key, version)
        return Verification(Outcome.IGNORED, package_id)
    if blob.status is BlobStatus.VERIFIED:
        storage.delete_upload(key, version)
        return Verification(Outcome.ALREADY_VERIFIED, package_id)
    # Held at this size, and proved by this producer or kept well enough already: another
    # package verified these bytes, so never hash or store them twice, but keep them as long
    # as this package's class asks. Otherwise (another producer's bytes, kept less than this
    # class asks) the upload is hashed first: its protection is raised only on that proof.
    usable = usable_held(
        svc, backend, record.producer, record.retention_class, {digest.hex: blob.size}
    )
    if usable and protect_held(svc, backend, record.retention_class, usable):
        storage.delete_upload(key, version)
        outcome = Outcome.ALREADY_VERIFIED
    else:
        outcome = _hash_and_promote(svc, record, blob, key, version)
        if outcome is not Outcome.VERIFIED:
            return Verification(outcome, package_id)
    if not svc.catalog.set_blob_status(package_id, digest, BlobStatus.VERIFIED, expected=blob):
        outcome = Outcome.ALREADY_VERIFIED  # a concurrent verifier counted it first
    sealed = try_seal(svc, package_id)
    return Verification(outcome, package_id, sealed)


def _hash_and_promote(
    svc: Services, record: PackageRecord, blob: BlobState, key: str, version: str | None
) -> Outcome:
    """Stream and hash the upload; promote it on a match, reject (and delete) it otherwise."""
    storage = svc.storage(record.backend)
    try:
        upload = storage.open_upload(key, version)
    except NotFound:
        # Redelivered, or a concurrent delivery of the same notification promoted it meanwhile:
        # that verifier counts it; this one has nothing left to do.
        logger.info("upload already gone", extra={"key": key, "version": version})
        return Outcome.IGNORED
    with upload:
        seen = hashed(upload, blob)
    if seen != blob.digest:
        storage.delete_upload(key, upload.version)
        seen_text = reject(svc, record.package_id, blob, seen, upload.size)
        logger.warning("upload rejected", extra={"key": key, "seen": seen_text})
        return Outcome.REJECTED
    if _held_in_pack(svc, record, blob.digest):
        storage.delete_upload(key, upload.version)
        return Outcome.VERIFIED
    retention = svc.retention_classes[record.retention_class]
    # Promotion keeps a blob already stored, so first hold it against the sweep (which leaves
    # a leased blob alone): the upload is dropped only once the bytes it promotes are safe.
    if not svc.catalog.lease_blob(record.backend, blob.digest, svc.clock() + LEASE):
        raise NotReadyYet(f"blob {blob.digest} is being swept; its upload waits for the sweep")
    # Write-once and idempotent: a blob a concurrent verifier promoted first is kept, raised
    # to this class's protection; the catalog records how it is kept, never weakening it.
    kept = storage.promote(
        key, blob.digest, retention, upload.version, upload.size, now=svc.clock()
    )
    if not svc.catalog.record_blob(
        record.backend,
        blob.digest,
        blob.size,
        record.package_id,
        svc.clock(),
        kept,
        producer=record.producer,
    ):
        raise NotReadyYet(f"blob {blob.digest} was swept while it was promoted")
    return Outcome.VERIFIED


def _held_in_pack(svc: Services, record: PackageRecord, digest: Digest) -> bool:
    """Whether the hashed blob is held in a pack, now kept as this package's class asks and
    proved by its producer: then the pack keeps it, and the upload is not stored again (a
    blob has one place, the first recorded)."""
    held = svc.catalog.held_records(record.backend, [digest]).get(digest.hex)
    if held is None or held.place is None:
        return False
    if not protect_held(svc, record.backend, record.retention_class, {digest.hex: held}):
        raise NotReadyYet(f"blob {digest} is held in a pack being swept; the upload waits")
    if not svc.catalog.add_blob_producer(record.backend, digest, record.producer):
        raise NotReadyYet(f"blob {digest} is held in a pack being swept; the upload waits")
    return True
