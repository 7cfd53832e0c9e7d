"""Held blobs a package comes to rely on, kept at least as its retention class asks.

A blob is stored once per backend and shared, so whoever relies on a blob it did not store
itself raises the blob's protection to the union of every user's class (for an expiring class:
renews a blob that would expire too soon, and finds one that expired). Decided from the
catalog's record of each blob: a re-used blob that is protected enough costs no storage
request. Reasons and limits: ``docs/architecture.md``.

Only a producer that proved possession of a blob (the verifier hashed its upload) may raise its
protection by naming its digest; anyone else relies on it only as it is already kept
(``usable_held``).
"""

from __future__ import annotations

from collections.abc import Mapping

from artifactstore.domain.digests import Digest
from artifactstore.domain.packages import HeldBlob
from artifactstore.domain.protection import Protection, needs_upgrade
from artifactstore.errors import InvalidInput
from artifactstore.service.context import Services
from artifactstore.workers import parallel_map

# Upgrades one call makes (up to four storage requests each, on the catalog's threads); blobs
# beyond are left out of what is held, so the package uploads them and the verifier protects
# them, or a later call (upload targets, finalize) does.
MAX_UPGRADES_PER_CALL = 1000


def usable_held(
    svc: Services,
    backend: str,
    producer: str,
    retention_class: str,
    blobs: Mapping[str, int],
    *,
    strict: bool = False,
) -> dict[str, HeldBlob]:
    """The held blobs among ``blobs`` (hex → size listed) that a package of ``producer`` and
    ``retention_class`` may count without uploading them.

    A held blob counts only at its recorded size (BLAKE3 bytes determine their length): a
    different size is a provably wrong claim, refused (422 ``digest_size_mismatch``) when
    ``strict`` (before anything is protected), else left out (its upload will be rejected).
    And it counts only if ``producer`` proved possession of it (uploaded bytes the verifier
    hashed), or its recorded protection already covers what the class asks: naming a digest
    must never raise the protection of another producer's bytes. Otherwise the package
    uploads it, and the verifier raises the protection once the bytes are hashed.
    """
    held = svc.catalog.held_records(backend, (Digest(h) for h in blobs))
    if strict:
        for hex_digest in sorted(held):
            if held[hex_digest].size != blobs[hex_digest]:
                raise InvalidInput(
                    f"blob {Digest(hex_digest)} is held at {held[hex_digest].size} bytes, not "
                    f"{blobs[hex_digest]}: a BLAKE3 digest determines its size",
                    code="digest_size_mismatch",
                    details={
                        "digest": str(Digest(hex_digest)),
                        "size": blobs[hex_digest],
                        "recorded_size": held[hex_digest].size,
                    },
                )
    asked = Protection.asked(svc.retention_classes[retention_class], svc.clock())
    return {
        h: blob
        for h, blob in held.items()
        if blob.size == blobs[h]
        and (producer in blob.producers or not needs_upgrade(blob.protection, asked))
    }


def held_and_protected(
    svc: Services,
    backend: str,
    producer: str,
    retention_class: str,
    blobs: Mapping[str, int],
    *,
    strict: bool = False,
) -> set[str]:
    """Which of ``blobs`` (hex → size) the package may count as held (``usable_held``),
    each now kept as its class asks."""
    usable = usable_held(svc, backend, producer, retention_class, blobs, strict=strict)
    return protect_held(svc, backend, retention_class, usable)


def protect_held(
    svc: Services, backend: str, retention_class: str, held: Mapping[str, HeldBlob]
) -> set[str]:
    """Raise held blobs (hex → record) to what the class asks; returns those now kept so,
    leaving out any storage no longer holds and any beyond this call's budget.

    A packed blob is kept by its pack: the pack is raised (so it carries the strongest
    protection of any blob in it), and the blob's record says what it was raised to."""
    asked = Protection.asked(svc.retention_classes[retention_class], svc.clock())
    todo = sorted(h for h, blob in held.items() if needs_upgrade(blob.protection, asked))
    storage = svc.storage(backend)

    def upgrade(hex_digest: str) -> str | None:
        blob = held[hex_digest]
        if blob.place is None:
            kept = storage.protect(Digest(hex_digest), asked, blob.protection)
        else:
            kept = storage.protect_pack(blob.place.pack, asked, blob.protection)
        if kept is None:
            return None  # gone (expired): the package has to upload it again
        # Recorded only while no sweep is deleting the blob; if one is, it is not held.
        if not svc.catalog.raise_blob_protection(backend, Digest(hex_digest), kept):
            return None
        return hex_digest

    upgraded = parallel_map(upgrade, todo[:MAX_UPGRADES_PER_CALL])
    return (set(held) - set(todo)) | {h for h in upgraded if h is not None}
