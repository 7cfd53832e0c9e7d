"""Held blobs a package comes to rely on, kept at least as its retention class asks.

A blob is stored once per backend and shared, so whoever relies on a blob it did not store
itself raises the blob's protection to the union of every user's class (for an expiring class:
renews a blob that would expire too soon, and finds one that expired). Decided from the
catalog's record of each blob: a re-used blob that is protected enough costs no storage
request. Reasons and limits: ``docs/architecture.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from artifactstore.domain.digests import Digest
from artifactstore.domain.protection import Protection, needs_upgrade
from artifactstore.service.context import Services
from artifactstore.workers import parallel_map

# Upgrades one call makes (up to four storage requests each, on the catalog's threads); blobs
# beyond are left out of what is held, so the package uploads them and the verifier protects
# them, or a later call (upload targets, finalize) does.
MAX_UPGRADES_PER_CALL = 1000


def held_and_protected(
    svc: Services, backend: str, retention_class: str, digests: Iterable[Digest]
) -> set[str]:
    """Which of ``digests`` (hex) the backend holds, each now kept as the class asks."""
    return protect_held(svc, backend, retention_class, svc.catalog.held_blobs(backend, digests))


def protect_held(
    svc: Services, backend: str, retention_class: str, held: Mapping[str, Protection | None]
) -> set[str]:
    """Raise held blobs (hex → recorded protection) to what the class asks; returns those now
    kept so, leaving out any storage no longer holds and any beyond this call's budget."""
    asked = Protection.asked(svc.retention_classes[retention_class], svc.clock())
    todo = sorted(h for h, known in held.items() if needs_upgrade(known, asked))
    storage = svc.storage(backend)

    def upgrade(hex_digest: str) -> str | None:
        known = held[hex_digest]
        kept = storage.protect(Digest(hex_digest), asked, known)
        if kept is None:
            return None  # gone (expired): the package has to upload it again
        if kept != known:
            svc.catalog.raise_blob_protection(backend, Digest(hex_digest), kept)
        return hex_digest

    upgraded = parallel_map(upgrade, todo[:MAX_UPGRADES_PER_CALL])
    return (set(held) - set(todo)) | {h for h in upgraded if h is not None}
