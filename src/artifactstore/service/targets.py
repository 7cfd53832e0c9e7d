"""Upload targets: what a draft still misses, a page at a time, presigned or listed for bundles."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from artifactstore.domain.digests import Digest
from artifactstore.domain.packages import BlobStatus, PackageRecord, PackageState
from artifactstore.errors import InvalidInput
from artifactstore.ports import UploadTarget
from artifactstore.service.context import Services
from artifactstore.service.protection import held_and_protected

TARGETS_PER_PAGE = 1000


def reconcile_pending(svc: Services, record: PackageRecord) -> dict[str, int]:
    """Mark verified what another package verified meanwhile; return what is still missing
    (digest hex → size)."""
    pending = [
        b for b in svc.catalog.blob_states(record.package_id) if b.status is not BlobStatus.VERIFIED
    ]
    held = held_and_protected(
        svc,
        record.backend,
        record.producer,
        record.retention_class,
        {b.digest.hex: b.size for b in pending},
    )
    for blob in pending:
        if blob.digest.hex in held:
            svc.catalog.set_blob_status(record.package_id, blob.digest, BlobStatus.VERIFIED)
    return {b.digest.hex: b.size for b in pending if b.digest.hex not in held}


def target_page(
    svc: Services,
    record: PackageRecord,
    missing: Mapping[str, int],
    after: str | None = None,
    bundle_below: int = 0,
) -> tuple[list[UploadTarget], list[tuple[str, int]], str | None]:
    """One page of ``missing`` (hex → size) in digest order: upload targets, the (hex, size) of
    blobs under ``bundle_below`` (for bundles: nothing presigned), and the cursor (the page's
    last digest) when more follow."""
    pending = sorted(h for h in missing if after is None or h > after)
    page = pending[:TARGETS_PER_PAGE]
    storage = svc.storage(record.backend)
    bundled = [(h, missing[h]) for h in page if missing[h] < bundle_below]
    targets = [
        storage.upload_target(record.package_id, Digest(h), missing[h])
        for h in page
        if missing[h] >= bundle_below
    ]
    return targets, bundled, page[-1] if len(pending) > TARGETS_PER_PAGE else None


@dataclass(slots=True)
class TargetPage:
    """A page of what a draft still misses: targets, blobs for bundles, and how many in all."""

    targets: list[UploadTarget]
    bundled: list[tuple[str, int]]
    next_cursor: str | None
    missing: int


def upload_targets(
    svc: Services, package_id: str, cursor: str | None, bundle_below: int = 0
) -> TargetPage:
    """Fresh targets for blobs still missing, a page at a time (cursor = last digest hex)."""
    record = svc.catalog.get_package(package_id)
    if record.state is not PackageState.DRAFT:
        return TargetPage([], [], None, 0)
    if cursor is not None and not re.fullmatch(r"[0-9a-f]{64}", cursor):
        raise InvalidInput("invalid pagination cursor", code="invalid_cursor")
    missing = reconcile_pending(svc, record)
    targets, bundled, next_cursor = target_page(svc, record, missing, cursor, bundle_below)
    return TargetPage(targets, bundled, next_cursor, len(missing))
