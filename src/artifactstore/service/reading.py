"""Reading packages: their JSON view, the exact manifest bytes, download URLs."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import datetime
from typing import Any, BinaryIO

from artifactstore.domain.digests import Digest
from artifactstore.domain.keys import pack_key
from artifactstore.domain.manifest import FileEntry
from artifactstore.domain.packages import PackageRecord, PackageState
from artifactstore.domain.packs import PackPlace, is_whole_pack
from artifactstore.errors import Conflict, Gone
from artifactstore.service.context import Services
from artifactstore.service.targets import RESPONSE_BUDGET, json_size


def package_view(record: PackageRecord, now: datetime | None = None) -> dict[str, Any]:
    """The JSON view of a package record (without its files), its state as of ``now``."""
    state = record.state if now is None else record.state_at(now)
    return {
        "package_id": record.package_id,
        "producer": record.producer,
        "idempotency_key": record.idempotency_key,
        "retention_class": record.retention_class,
        "schema": record.schema,
        "metadata": record.metadata,
        "state": state.value,
        "backend": record.backend,
        "manifest_digest": record.manifest_digest,
        "file_count": record.file_count,
        "total_bytes": record.total_bytes,
        "blob_count": record.blob_count,
        "verified_blobs": record.verified_count,
        "rejected_blobs": record.rejected_count,
        "created_at": record.created_at.isoformat(),
        "expires_at": record.expires_at.isoformat() if record.state is PackageState.DRAFT else None,
        "sealed_at": record.sealed_at.isoformat() if record.sealed_at else None,
        "expiry_due": record.expiry_due.isoformat() if record.expiry_due else None,
        "expired_at": _expired_at(record, state),
        "run_dir": record.run_dir,
        "links": record.links,
        "state_hub_link": record.state_hub_link,
    }


def _expired_at(record: PackageRecord, state: PackageState) -> str | None:
    if state is not PackageState.EXPIRED:
        return None
    when = record.expired_at or record.expiry_due
    return when.isoformat() if when else None


def require_files_readable(svc: Services, record: PackageRecord) -> None:
    """410 ``package_expired`` once a package has expired: its record and manifest stay,
    its files do not."""
    if record.state_at(svc.clock()) is not PackageState.EXPIRED:
        return
    when = _expired_at(record, PackageState.EXPIRED) or "an unrecorded time"
    before = "" if record.sealed_at else " before it was sealed"
    raise Gone(
        f"package {record.package_id} expired at {when}{before}: its record and manifest "
        "are kept, its files are not",
        code="package_expired",
        details={"package_id": record.package_id, "expired_at": when},
    )


def manifest_bytes(svc: Services, package_id: str) -> tuple[bytes, str]:
    """The sealed package's exact canonical manifest bytes and digest."""
    record = svc.catalog.get_package(package_id)
    if record.manifest_digest is None:
        raise Conflict(
            f"package {package_id} is {record.state.value}: it has no manifest until sealed",
            code="not_sealed",
        )
    digest = Digest.parse(record.manifest_digest)
    return svc.storage(record.backend).get_manifest(digest), record.manifest_digest


def readable_file(svc: Services, record: PackageRecord, path: str) -> FileEntry:
    """The package's file at ``path``, once its bytes may be read: 410 ``package_expired``
    after expiry, 409 ``not_verified`` while its blob is not verified."""
    require_files_readable(svc, record)
    entry = svc.catalog.get_file(record.package_id, path)
    if svc.catalog.get_blob_state(record.package_id, entry.digest) is None or (
        record.state is not PackageState.SEALED
        and not svc.catalog.verified_blobs(record.backend, [entry.digest])
    ):
        raise Conflict(
            f"{path} of package {record.package_id} is not verified yet", code="not_verified"
        )
    return entry


def file_source(svc: Services, package_id: str, path: str) -> str | bytes:
    """Where one file's bytes are: a short-lived URL of its blob (or of the upload pack that
    is all of it), or, for a blob held in a bundle's pack, the bytes themselves (small: at
    most ``BUNDLE_MEMBER_MAX``), read from the pack."""
    record = svc.catalog.get_package(package_id)
    entry = readable_file(svc, record, path)
    held = svc.catalog.held_records(record.backend, [entry.digest]).get(entry.digest.hex)
    storage = svc.storage(record.backend)
    if held is None or held.place is None:
        return storage.download_url(entry.digest, 300)
    if is_whole_pack(entry.size):
        return storage.pack_url(held.place.pack, 300)
    return _packed_bytes(svc, record.backend, entry, held.place)


def open_file_bytes(svc: Services, backend: str, entry: FileEntry) -> BinaryIO:
    """A stream of a verified file's bytes: its blob, or its range of the pack holding it."""
    held = svc.catalog.held_records(backend, [entry.digest]).get(entry.digest.hex)
    if held is None or held.place is None:
        return svc.storage(backend).open_blob(entry.digest)
    return io.BytesIO(_packed_bytes(svc, backend, entry, held.place))


def _packed_bytes(svc: Services, backend: str, entry: FileEntry, place: PackPlace) -> bytes:
    key = pack_key(place.pack)
    return svc.storage(backend).read_range(key, place.offset, place.offset + entry.size)


def package_with_files(
    svc: Services, package_id: str, files_limit: int, files_cursor: str | None
) -> dict[str, Any]:
    """A package's view with one page of its files and their status, within the answer budget
    (``files_limit`` is a most: long paths and big metadata make the page shorter)."""
    view = package_view(svc.catalog.get_package(package_id), svc.clock())

    def page_of(limit: int) -> dict[str, Any]:
        page = svc.catalog.list_files(package_id, limit, files_cursor)
        files = [
            {
                **f.entry.to_json(),
                "executable": f.entry.executable,
                "status": f.status.value,
                "seen_digest": f.seen_digest,
            }
            for f in page.items
        ]
        return {**view, "files": files, "next_files_cursor": page.next_cursor}

    return within_budget(page_of, files_limit)


def packages_page(
    svc: Services,
    *,
    producer: str | None,
    state: str | None,
    key: str | None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """Packages newest first, at most ``limit`` of them and within the answer budget."""

    def page_of(count: int) -> dict[str, Any]:
        page = svc.catalog.list_packages(
            producer=producer, state=state, key=key, limit=count, cursor=cursor
        )
        now = svc.clock()
        return {
            "items": [package_view(r, now) for r in page.items],
            "next_cursor": page.next_cursor,
        }

    return within_budget(page_of, limit)


def within_budget(page_of: Callable[[int], dict[str, Any]], limit: int) -> dict[str, Any]:
    """``page_of(limit)``, asked again for fewer items while its JSON passes RESPONSE_BUDGET.

    A Lambda answers at most 6 MB: a page of 10,000 files with 1,000-byte paths, or of 1,000
    packages with 256 KiB of metadata each, would not fit. Pages are cut by their own cursors,
    so a shorter page loses nothing; the common page is read once.
    """
    while True:
        answer = page_of(limit)
        size = json_size(answer)
        if size <= RESPONSE_BUDGET or limit == 1:
            return answer
        limit = max(1, min(limit - 1, limit * RESPONSE_BUDGET * 9 // (size * 10)))
