"""What the verifier answers for one object, and the package an upload belongs to."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from aws_lambda_powertools import Logger

from artifactstore.domain.digests import Digest, hash_stream
from artifactstore.domain.packages import BlobState, BlobStatus, PackageRecord, PackageState
from artifactstore.errors import ArtifactStoreError, NotFound
from artifactstore.ports.storage import BlobStorage, OpenUpload
from artifactstore.service.context import Services

logger = Logger(service="artifactstore", child=True)
HASH_CHUNK = 8 << 20


class NotReadyYet(ArtifactStoreError):
    """Not yet: the package's file list is still being written, or a blob it needs is being
    swept. The notification is delivered again later."""

    code = "not_ready_yet"


class Outcome(StrEnum):
    """What the verifier did with one notification."""

    IGNORED = "ignored"
    VERIFIED = "verified"
    ALREADY_VERIFIED = "already_verified"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Verification:
    """The verifier's answer for one object."""

    outcome: Outcome
    package_id: str | None = None
    sealed: bool = False


def package_of_upload(
    svc: Services, storage: BlobStorage, key: str, version: str | None, package_id: str
) -> PackageRecord | None:
    """The package an upload names; None, the upload deleted, when no package has that id."""
    try:
        return svc.catalog.get_package(package_id)
    except NotFound:
        logger.warning("upload for an unknown package; deleted", extra={"key": key})
        storage.delete_upload(key, version)
        return None


def expects_uploads(record: PackageRecord, backend: str) -> bool:
    """Whether uploads to ``backend`` can still count for the package (a draft stored there)."""
    return record.state is PackageState.DRAFT and record.backend == backend


def hashed(upload: OpenUpload, blob: BlobState) -> Digest | None:
    """The digest of the upload's bytes, or None when it is not the blob's size (a wrong size
    is rejected unread, and a stream that ends short is no match either)."""
    if upload.size != blob.size:
        return None
    seen, read = hash_stream(upload.stream, HASH_CHUNK)
    return seen if read == blob.size else None


def reject(svc: Services, package_id: str, blob: BlobState, seen: Digest | None, size: int) -> str:
    """Record the blob rejected for the package, with what was seen; returns that text."""
    seen_text = str(seen) if seen else f"size {size} (expected {blob.size})"
    svc.catalog.set_blob_status(
        package_id, blob.digest, BlobStatus.REJECTED, seen_text, expected=blob
    )
    return seen_text
