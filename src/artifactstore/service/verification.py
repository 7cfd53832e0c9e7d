"""The verifier's use case: hash an uploaded object server-side, promote or reject it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from aws_lambda_powertools import Logger

from artifactstore.domain.digests import Digest, hash_stream
from artifactstore.domain.packages import BlobState, BlobStatus, PackageRecord, PackageState
from artifactstore.errors import ArtifactStoreError, NotFound
from artifactstore.ports import parse_upload_key
from artifactstore.service.context import Services
from artifactstore.service.sealing import try_seal

logger = Logger(service="artifactstore", child=True)
HASH_CHUNK = 8 << 20


class Outcome(StrEnum):
    """What the verifier did with one notification."""

    IGNORED = "ignored"
    VERIFIED = "verified"
    ALREADY_VERIFIED = "already_verified"
    REJECTED = "rejected"


class NotReadyYet(ArtifactStoreError):
    """The package's file list is still being written: redeliver later."""

    code = "not_ready_yet"


@dataclass(frozen=True, slots=True)
class Verification:
    """The verifier's answer for one object."""

    outcome: Outcome
    package_id: str | None = None
    sealed: bool = False


def verify_upload(svc: Services, backend: str, key: str) -> Verification:
    """Verify the object at ``key``; idempotent under redelivery and reordering."""
    parsed = parse_upload_key(key)
    if parsed is None:
        logger.info("not an upload key; acknowledged", extra={"key": key})
        return Verification(Outcome.IGNORED)
    package_id, digest = parsed
    storage = svc.storage(backend)
    try:
        record = svc.catalog.get_package(package_id)
    except NotFound:
        logger.warning("upload for an unknown package; deleted", extra={"key": key})
        storage.delete_upload(key)
        return Verification(Outcome.IGNORED)
    blob = svc.catalog.get_blob_state(package_id, digest)
    if blob is None and not record.files_complete and record.state is PackageState.DRAFT:
        raise NotReadyYet(f"package {package_id} is still being created")
    if blob is None or record.state is not PackageState.DRAFT or record.backend != backend:
        storage.delete_upload(key)
        return Verification(Outcome.IGNORED, package_id)
    if blob.status is BlobStatus.VERIFIED:
        storage.delete_upload(key)
        return Verification(Outcome.ALREADY_VERIFIED, package_id)
    if svc.catalog.verified_blobs(backend, [digest]):
        # Another package verified these bytes already: never hash or store them twice.
        storage.delete_upload(key)
        outcome = Outcome.ALREADY_VERIFIED
    else:
        outcome = _hash_and_promote(svc, record, blob, key)
        if outcome is not Outcome.VERIFIED:
            return Verification(outcome, package_id)
    svc.catalog.set_blob_status(package_id, digest, BlobStatus.VERIFIED)
    sealed = try_seal(svc, package_id)
    return Verification(outcome, package_id, sealed)


def _hash_and_promote(svc: Services, record: PackageRecord, blob: BlobState, key: str) -> Outcome:
    """Stream and hash the upload; promote it on a match, reject (and delete) it otherwise."""
    storage = svc.storage(record.backend)
    size = storage.upload_size(key)
    if size is None:
        logger.info("upload already gone (redelivery)", extra={"key": key})
        return Outcome.IGNORED
    seen: Digest | None = None
    if size == blob.size:
        try:
            seen, read = hash_stream(storage.open_upload(key), HASH_CHUNK)
        except NotFound:
            # A concurrent delivery of the same notification promoted it meanwhile: that
            # verifier counts it; this one has nothing left to do.
            logger.info("upload promoted by a concurrent verifier", extra={"key": key})
            return Outcome.IGNORED
        if read != blob.size:  # changed under us between the size check and the read
            seen = None
    if seen != blob.digest:
        storage.delete_upload(key)
        seen_text = str(seen) if seen else f"size {size} (expected {blob.size})"
        svc.catalog.set_blob_status(
            record.package_id, blob.digest, BlobStatus.REJECTED, seen=seen_text
        )
        logger.warning("upload rejected", extra={"key": key, "seen": seen_text})
        return Outcome.REJECTED
    try:
        storage.promote(key, blob.digest, svc.retention_classes[record.retention_class])
    except NotFound:
        if not storage.has_blob(blob.digest):
            raise
        logger.info("upload promoted by a concurrent verifier", extra={"key": key})
        return Outcome.IGNORED
    svc.catalog.record_blob(record.backend, blob.digest, blob.size, record.package_id, svc.clock())
    return Outcome.VERIFIED
