"""Upload targets: what a draft still misses, a page at a time, presigned or listed for bundles."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from artifactstore.domain.cursors import invalid_cursor
from artifactstore.domain.digests import Digest
from artifactstore.domain.packages import BlobState, BlobStatus, PackageRecord, PackageState
from artifactstore.domain.tokens import Caller
from artifactstore.errors import Conflict, InvalidInput
from artifactstore.ports.storage import UploadPart, UploadTarget
from artifactstore.service.access import owned_package
from artifactstore.service.context import Services
from artifactstore.service.protection import held_and_protected

TARGETS_PER_PAGE = 1000
# A synchronous Lambda takes and returns at most 6 MB (API Gateway passes 10 MB): on Lambda a
# presigned URL carries X-Amz-Security-Token and is about 1.7 KB, so answers are budgeted in
# bytes, not in targets. Every answer that carries URLs stays within RESPONSE_BUDGET bytes of
# JSON (as the app serializes it), with room to spare for Mangum's own JSON around the body.
RESPONSE_BUDGET = 4_000_000
# What an answer holds besides its list of targets, parts or bundle blobs (ids, counts, cursor).
ENVELOPE_ROOM = 16 * 1024
PAGE_BUDGET = RESPONSE_BUDGET - ENVELOPE_ROOM
# Room a page must still have before another blob is presigned for it: one target (or a
# multipart target with its first part) is far below this, whatever the URL's length.
TARGET_ROOM = 16 * 1024
_PART_CURSOR = re.compile(r"[1-9][0-9]{0,4}")

TargetView = dict[str, Any]


def json_size(value: object) -> int:
    """Bytes of ``value`` as the app's JSON answers serialize it (Starlette's JSONResponse)."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def target_json(target: UploadTarget) -> TargetView:
    """A target's wire form in API answers (every part listed)."""
    body: TargetView = {
        "digest": str(target.digest),
        "size": target.size,
        "method": target.method,
        "headers": dict(target.headers),
        "expires_in": target.expires_in,
    }
    if target.upload_id is None:
        body["url"] = target.url
    else:
        body["upload_id"] = target.upload_id
        body["parts"] = [_part_json(p) for p in target.parts]
    return body


def _part_json(part: UploadPart) -> dict[str, Any]:
    return {
        "part_number": part.part_number,
        "url": part.url,
        "offset": part.offset,
        "size": part.size,
    }


def _parts_within(parts: Sequence[UploadPart], first: int, room: int) -> tuple[list[Any], int, int]:
    """Parts from index ``first`` while they fit ``room`` bytes (at least one): their JSON, the
    bytes they take (with separators) and the index after the last one taken."""
    chosen: list[Any] = []
    used = 0
    index = first
    while index < len(parts):
        view = _part_json(parts[index])
        cost = json_size(view) + 1
        if chosen and used + cost > room:
            break
        chosen.append(view)
        used += cost
        index += 1
    return chosen, used, index


def target_view(target: UploadTarget, room: int) -> tuple[TargetView, int]:
    """A target's JSON and its size (with a separator), a multipart target's parts cut to fit
    ``room`` bytes: it carries the first parts that fit (at least one), ``part_count``,
    ``part_size`` and ``next_parts_cursor`` (null when every part is in it), the cursor for
    ``GET /packages/{id}/upload-targets/{digest}/parts``."""
    if target.upload_id is None:
        view = target_json(target)
        return view, json_size(view) + 1
    parts = target.parts
    view = target_json(replace(target, parts=()))
    view["part_count"] = len(parts)
    view["part_size"] = parts[0].size if parts else 0
    view["next_parts_cursor"] = str(len(parts))  # the longest cursor, for the measure
    base = json_size(view) + 1
    chosen, used, after = _parts_within(parts, 0, room - base)
    view["parts"] = chosen
    view["next_parts_cursor"] = str(after + 1) if after < len(parts) else None
    return view, base + used


def reconcile_pending(svc: Services, record: PackageRecord) -> dict[str, int]:
    """Mark verified what another package verified meanwhile; return what is still missing
    (digest hex → size). Every blob not verified is read and checked: the first page of
    upload targets, and finalize."""
    pending = [
        b for b in svc.catalog.blob_states(record.package_id) if b.status is not BlobStatus.VERIFIED
    ]
    held = _count_held(svc, record, pending)
    return {b.digest.hex: b.size for b in pending if b.digest.hex not in held}


def reconcile_window(
    svc: Services, record: PackageRecord, after: str
) -> tuple[dict[str, int], int]:
    """``reconcile_pending`` for a page of upload targets past the first: what is missing from
    ``after`` on, as far as the page needs it, and how many blobs are missing in all.

    Only the blobs the page can hold are checked (the next ``TARGETS_PER_PAGE`` not verified
    after ``after``): a 10,000-blob package asks for ten pages, and checking every pending
    blob on each was 100,000 lookups. Only those are read, too (reading every status on each
    page was 100,000 statuses read), and the few further on the page needs: one more, to tell
    whether a next page follows, and one for each blob found held, whose place on the page the
    next blob takes, unchecked. Blobs further on count as missing until their page checks them;
    the total comes from the package's counters (every blob not verified, less those found
    held here), as it did from reading every status."""
    catalog = svc.catalog
    window = catalog.unverified_blob_states(record.package_id, after, TARGETS_PER_PAGE + 1)
    beyond = window[TARGETS_PER_PAGE:]
    window = window[:TARGETS_PER_PAGE]
    held = _count_held(svc, record, window)
    if held and beyond:
        beyond += catalog.unverified_blob_states(
            record.package_id, beyond[-1].digest.hex, len(held)
        )
    missing = {b.digest.hex: b.size for b in [*window, *beyond] if b.digest.hex not in held}
    # Never fewer than the page lists: the record was read a moment before the statuses.
    return missing, max(record.waiting_for - len(held), len(missing))


def _count_held(svc: Services, record: PackageRecord, blobs: Sequence[BlobState]) -> set[str]:
    """Those of ``blobs`` (not verified) the package may count as held now, marked verified."""
    held = held_and_protected(
        svc,
        record.backend,
        record.producer,
        record.retention_class,
        {b.digest.hex: b.size for b in blobs},
    )
    if held:
        # One conditional write per bucket, not one lookup and write per blob: a page can find
        # a thousand blobs that a bundle of this package has just stored.
        svc.catalog.set_blob_statuses(
            record.package_id, {h: (BlobStatus.VERIFIED, None) for h in sorted(held)}
        )
    return held


def target_page(
    svc: Services,
    record: PackageRecord,
    missing: Mapping[str, int],
    after: str | None = None,
    bundle_below: int = 0,
) -> tuple[list[TargetView], list[tuple[str, int]], str | None]:
    """One page of ``missing`` (hex → size) in digest order: upload targets (as JSON), the
    (hex, size) of blobs under ``bundle_below`` (for bundles: nothing presigned), and the cursor
    (the page's last digest) when more follow.

    A page holds at most ``TARGETS_PER_PAGE`` blobs and ``PAGE_BUDGET`` bytes: it ends early
    when the next blob would not fit, and a multipart target carries only the parts that fit.
    """
    pending = sorted(h for h in missing if after is None or h > after)
    storage = svc.storage(record.backend)
    views: list[TargetView] = []
    bundled: list[tuple[str, int]] = []
    used = 0
    taken = 0
    for h in pending[:TARGETS_PER_PAGE]:
        size = missing[h]
        if size < bundle_below:
            cost = json_size({"digest": f"blake3:{h}", "size": size}) + 1
            if taken and used + cost > PAGE_BUDGET:
                break
            bundled.append((h, size))
        else:
            if taken and PAGE_BUDGET - used < TARGET_ROOM:
                break
            view, cost = target_view(
                storage.upload_target(record.package_id, Digest(h), size), PAGE_BUDGET - used
            )
            if taken and used + cost > PAGE_BUDGET:
                break  # cannot happen with TARGET_ROOM to spare; never answer over budget
            views.append(view)
        used += cost
        taken += 1
    return views, bundled, pending[taken - 1] if 0 < taken < len(pending) else None


def part_page(
    svc: Services,
    caller: Caller,
    package_id: str,
    digest: Digest,
    upload_id: str,
    cursor: str | None,
) -> dict[str, Any]:
    """``GET /packages/{id}/upload-targets/{digest}/parts``: the parts of a multipart target
    from the cursor's part number (1 without one), as many as fit the budget."""
    record = owned_package(svc, caller, package_id)
    if record.state is not PackageState.DRAFT:
        raise Conflict(f"package {package_id} is {record.state.value}", code="not_a_draft")
    blob = svc.catalog.get_blob_state(package_id, digest)
    if blob is None:
        raise InvalidInput(
            f"package {package_id} lists no blob {digest}",
            code="blob_not_listed",
            details={"digest": str(digest)},
        )
    parts = svc.storage(record.backend).multipart_parts(package_id, digest, blob.size, upload_id)
    first = 1
    if cursor is not None:
        if not _PART_CURSOR.fullmatch(cursor) or int(cursor) > len(parts):
            raise invalid_cursor()
        first = int(cursor)
    answer: dict[str, Any] = {
        "digest": str(digest),
        "upload_id": upload_id,
        "part_count": len(parts),
        "part_size": parts[0].size if parts else 0,
        "parts": [],
        "next_cursor": str(len(parts)),  # the longest cursor, for the measure
    }
    room = RESPONSE_BUDGET - json_size(answer)
    chosen, _used, after = _parts_within(parts, first - 1, room)
    answer["parts"] = chosen
    answer["next_cursor"] = str(after + 1) if after < len(parts) else None
    return answer


@dataclass(slots=True)
class TargetPage:
    """A page of what a draft still misses: targets, blobs for bundles, and how many in all."""

    targets: list[TargetView]
    bundled: list[tuple[str, int]]
    next_cursor: str | None
    missing: int


def upload_targets(
    svc: Services, caller: Caller, package_id: str, cursor: str | None, bundle_below: int = 0
) -> TargetPage:
    """Fresh targets for blobs still missing, a page at a time (cursor = last digest hex)."""
    return targets_for(svc, owned_package(svc, caller, package_id), cursor, bundle_below)


def targets_for(
    svc: Services, record: PackageRecord, cursor: str | None, bundle_below: int = 0
) -> TargetPage:
    """``upload_targets`` of a package already read (and its caller checked)."""
    if record.state is not PackageState.DRAFT:
        return TargetPage([], [], None, 0)
    if cursor is not None and not re.fullmatch(r"[0-9a-f]{64}", cursor):
        raise invalid_cursor()
    if cursor is None:
        missing = reconcile_pending(svc, record)
        total = len(missing)
    else:
        missing, total = reconcile_window(svc, record, cursor)
    targets, bundled, next_cursor = target_page(svc, record, missing, cursor, bundle_below)
    return TargetPage(targets, bundled, next_cursor, total)
