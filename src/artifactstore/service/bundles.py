"""Bundles: one upload carrying many small blobs of a draft (``POST /packages/{id}/bundles``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from artifactstore.domain.bundles import (
    BUNDLE_MAX_BYTES,
    BUNDLE_MAX_MEMBERS,
    BUNDLE_MEMBER_MAX,
    bundle_id,
)
from artifactstore.domain.digests import Digest
from artifactstore.domain.packages import BlobStatus, PackageState
from artifactstore.domain.tokens import Caller
from artifactstore.errors import Conflict, InvalidInput
from artifactstore.ports.storage import UploadTarget
from artifactstore.service.access import owned_package
from artifactstore.service.context import Services
from artifactstore.service.protection import usable_held


@dataclass(slots=True)
class BundleOutcome:
    """The members kept (in byte order), the bundle's id and size, and where to PUT it."""

    members: list[Digest]
    bundle_id: str | None
    size: int
    target: UploadTarget | None


def request_bundle(
    svc: Services, caller: Caller, package_id: str, digests: Sequence[object]
) -> BundleOutcome:
    """Validate the members, drop those verified meanwhile, record the bundle, presign it."""
    record = owned_package(svc, caller, package_id)
    if record.state is not PackageState.DRAFT:
        raise Conflict(f"package {package_id} is {record.state.value}", code="not_a_draft")
    members = _parse_members(digests)
    hexes = sorted(d.hex for d in members)
    states = svc.catalog.blob_states_between(package_id, hexes[0], hexes[-1])
    kept: list[tuple[Digest, int]] = []
    for digest in members:
        blob = states.get(digest.hex)
        if blob is None:
            raise InvalidInput(
                f"package {package_id} lists no blob {digest}",
                code="blob_not_listed",
                details={"digest": str(digest)},
            )
        if blob.size > BUNDLE_MEMBER_MAX:
            raise InvalidInput(
                f"blob {digest} has {blob.size} bytes; bundles carry blobs of at most "
                f"{BUNDLE_MEMBER_MAX} bytes",
                code="blob_too_big_for_bundle",
                details={"digest": str(digest), "size": blob.size, "limit": BUNDLE_MEMBER_MAX},
            )
        if blob.status is not BlobStatus.VERIFIED:
            kept.append((digest, blob.size))
    held = usable_held(
        svc, record.backend, record.producer, record.retention_class, {d.hex: n for d, n in kept}
    )
    kept = [(d, n) for d, n in kept if d.hex not in held]  # the reconcile marks those later
    if not kept:
        return BundleOutcome([], None, 0, None)
    size = sum(n for _, n in kept)
    if size > BUNDLE_MAX_BYTES:
        raise InvalidInput(
            f"a bundle holds at most {BUNDLE_MAX_BYTES} bytes; these blobs hold {size}",
            code="bundle_too_big",
            details={"size": size, "limit": BUNDLE_MAX_BYTES},
        )
    name = bundle_id([d for d, _ in kept])
    svc.catalog.put_bundle(package_id, name, [(d.hex, n) for d, n in kept], record.expires_at)
    target = svc.storage(record.backend).bundle_target(package_id, name, size)
    return BundleOutcome([d for d, _ in kept], name, size, target)


def _parse_members(digests: Sequence[object]) -> list[Digest]:
    if not 0 < len(digests) <= BUNDLE_MAX_MEMBERS:
        raise InvalidInput(
            f"a bundle names 1 to {BUNDLE_MAX_MEMBERS} blobs, not {len(digests)}",
            code="too_many_blobs",
            details={"count": len(digests), "limit": BUNDLE_MAX_MEMBERS},
        )
    members = [Digest.parse(d) for d in digests]
    seen: set[str] = set()
    for digest in members:
        if digest.hex in seen:
            raise InvalidInput(
                f"blob {digest} is named twice",
                code="duplicate_blob",
                details={"digest": str(digest)},
            )
        seen.add(digest.hex)
    return members
