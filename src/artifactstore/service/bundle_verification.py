"""The verifier's bundle branch: split one upload into its member blobs, check each, and store
the good ones no package held yet as one pack (``domain/packs.py``).

A bundle's bytes are its members' bytes concatenated in the order the catalog lists them. It is
read member by member (exactly each member's size, nothing read ahead); the members kept for
the pack are held until it is written, so the verifier holds at most about twice the bundle's
size (``BUNDLE_MAX_BYTES``, 64 MiB) while the pack is joined.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import BinaryIO

from aws_lambda_powertools import Logger

from artifactstore.domain.bundles import BUNDLE_MEMBER_MAX
from artifactstore.domain.digests import Digest
from artifactstore.domain.packages import BlobStatus, PackageRecord
from artifactstore.domain.packs import build_pack
from artifactstore.errors import NotFound, StorageError
from artifactstore.service.context import Services
from artifactstore.service.protection import protect_held
from artifactstore.service.sealing import try_seal
from artifactstore.service.upload_outcomes import (
    NotReadyYet,
    Outcome,
    Verification,
    expects_uploads,
    package_of_upload,
)
from artifactstore.workers import parallel_map

logger = Logger(service="artifactstore", child=True)
READ_CHUNK = BUNDLE_MEMBER_MAX  # most members arrive in one read; bigger reads gain nothing


def read_members(
    stream: BinaryIO, sizes: Sequence[int], chunk: int = READ_CHUNK
) -> Iterator[bytes]:
    """Each member's bytes in turn: exactly ``size`` bytes read for each, in reads of at most
    ``chunk``, nothing read ahead and nothing kept once yielded. A stream that ends early is a
    ``StorageError`` (the size was checked before, so the connection broke: it is retried)."""
    for size in sizes:
        yield _read_exactly(stream, size, chunk)


def _read_exactly(stream: BinaryIO, size: int, chunk: int) -> bytes:
    pieces: list[bytes] = []
    left = size
    while left:
        piece = stream.read(min(left, chunk))
        if not piece:
            raise StorageError(
                "bundle stream ended early", details={"missing": left, "member_size": size}
            )
        pieces.append(piece)
        left -= len(piece)
    # One piece whenever the stream answers whole reads (botocore and files do): no copy.
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def verify_bundle(
    svc: Services, backend: str, key: str, version: str | None, package_id: str, bundle_id: str
) -> Verification:
    """Verify ``version`` of the bundle at ``key``: every member checked and, when it matches,
    held (the new ones in one pack); then that version is deleted and the package may seal.

    Idempotent: a redelivered notification finds the version gone (IGNORED); a retried one
    (the Lambda failed midway) finds members stored and counted already, and counts nothing
    twice (``set_blob_status`` moves each blob once).
    """
    storage = svc.storage(backend)
    record = package_of_upload(svc, storage, key, version, package_id)
    if record is None:
        return Verification(Outcome.IGNORED)
    members = svc.catalog.get_bundle(package_id, bundle_id)
    if members is None or not expects_uploads(record, backend):
        logger.info("bundle not expected; deleted", extra={"key": key})
        storage.delete_upload(key, version)
        return Verification(Outcome.IGNORED, package_id)
    try:
        upload = storage.open_upload(key, version)
    except NotFound:
        logger.info("bundle already gone", extra={"key": key, "version": version})
        return Verification(Outcome.IGNORED, package_id)
    expected = sum(size for _, size in members)
    with upload:
        if upload.size != expected:  # rejected unread: no member can be placed
            seen = f"size {upload.size} (expected {expected})"
            verified, rejected = 0, _reject_all(svc, package_id, members, seen)
            logger.warning("bundle rejected", extra={"key": key, "seen": seen})
        else:
            verified, rejected = _check_members(svc, record, bundle_id, members, upload.stream)
    storage.delete_upload(key, upload.version)
    # Always: a retry after a crash between counting and sealing must still seal.
    sealed = try_seal(svc, package_id)
    if verified:
        outcome = Outcome.VERIFIED
    elif rejected:
        outcome = Outcome.REJECTED
    else:
        outcome = Outcome.ALREADY_VERIFIED
    return Verification(outcome, package_id, sealed)


def _reject_all(
    svc: Services, package_id: str, members: Sequence[tuple[str, int]], seen: str
) -> int:
    """Reject every member still pending (a verified one never goes back); how many moved."""
    changes = {hex_digest: (BlobStatus.REJECTED, seen) for hex_digest, _ in members}
    return len(svc.catalog.set_blob_statuses(package_id, changes))


def _check_members(
    svc: Services,
    record: PackageRecord,
    bundle_id: str,
    members: Sequence[tuple[str, int]],
    stream: BinaryIO,
) -> tuple[int, int]:
    """Hash each member as it is read and store the good ones the backend lacks; then record
    the new blobs and move every member's status, a bucket per transaction.
    Returns how many members this call verified and rejected."""
    digests = [Digest(hex_digest) for hex_digest, _ in members]
    # Held blobs (stored by any package, this one's members verified before included) are
    # never written again, only kept as long as this package's class asks: raised once the
    # member's bytes are hashed (proof of possession), never on the digest alone.
    held = svc.catalog.held_records(record.backend, digests)
    # A member not held is stored anew; none may be while the sweep deletes its blob (it
    # would keep the bytes being deleted). One not held and not being swept has no record,
    # and a record made from now on is too young to sweep: no lease needed.
    if svc.catalog.swept_blobs(record.backend, (d for d in digests if d.hex not in held)):
        raise NotReadyYet("a blob of the bundle is being swept; the bundle waits for the sweep")
    sizes = [size for _, size in members]
    changes: dict[str, tuple[BlobStatus, str | None]] = {}
    new: list[tuple[Digest, bytes]] = []
    proved: list[Digest] = []
    for digest, data in zip(digests, read_members(stream, sizes), strict=True):
        seen = Digest.of_bytes(data)
        if seen != digest:
            logger.warning(
                "bundle member rejected", extra={"digest": str(digest), "seen": str(seen)}
            )
            changes[digest.hex] = (BlobStatus.REJECTED, str(seen))
            continue
        known = held.get(digest.hex)
        if known is None:
            new.append((digest, data))  # kept until the pack is written: at most the bundle
        elif protect_held(svc, record.backend, record.retention_class, {digest.hex: known}):
            proved.append(digest)
        else:  # held, but gone from storage meanwhile: stored again as its own object
            _store_single(svc, record, digest, data)
        changes[digest.hex] = (BlobStatus.VERIFIED, None)
    # A blob is recorded as held before any package counts it verified.
    proved += _store_pack(svc, record, bundle_id, new)
    parallel_map(
        lambda digest: svc.catalog.add_blob_producer(record.backend, digest, record.producer),
        [d for d in proved if d.hex not in held or record.producer not in held[d.hex].producers],
    )
    moved = svc.catalog.set_blob_statuses(record.package_id, changes)
    verified = sum(changes[h][0] is BlobStatus.VERIFIED for h in moved)
    return verified, len(moved) - verified


def _store_pack(
    svc: Services, record: PackageRecord, bundle_id: str, new: Sequence[tuple[Digest, bytes]]
) -> list[Digest]:
    """Write the members no one held as one pack (one storage write) and record each at its
    offset; returns those another verifier recorded first, each now kept by that record."""
    if not new:
        return []
    pack = build_pack(f"{record.package_id}/{bundle_id}", new)
    retention = svc.retention_classes[record.retention_class]
    kept = svc.storage(record.backend).put_pack(pack, retention, svc.clock())
    recorded = svc.catalog.record_packed_blobs(
        record.backend,
        pack.digest,
        pack.members,
        record.package_id,
        svc.clock(),
        kept,
        record.producer,
    )
    # A concurrent verifier recorded these first (their bytes in its pack, or its own blob):
    # that record is where they live; keep it as this class asks. One being swept waits.
    others = [m.digest for m in pack.members if m.digest.hex not in recorded]
    held = svc.catalog.held_records(record.backend, others)
    if len(held) != len(others) or len(
        protect_held(svc, record.backend, record.retention_class, held)
    ) != len(others):
        raise NotReadyYet("a blob of the bundle was swept while it was stored")
    logger.info(
        "pack stored",
        extra={"pack": str(pack.digest), "blobs": len(pack.members), "size": pack.size},
    )
    return others


def _store_single(svc: Services, record: PackageRecord, digest: Digest, data: bytes) -> None:
    """Store a member whose recorded blob storage lost as its own object again."""
    retention = svc.retention_classes[record.retention_class]
    kept = svc.storage(record.backend).put_blob(digest, data, retention, svc.clock())
    if not svc.catalog.record_blob(
        record.backend,
        digest,
        len(data),
        record.package_id,
        svc.clock(),
        kept,
        producer=record.producer,
    ):
        raise NotReadyYet("a blob of the bundle was swept while it was stored")
