"""What the package browser (``/ui``) reads: filtered listings, file trees and file bytes.

Every byte shown comes from the blob of a verified file, hashed again here before it is shown
(the same check ``reading.file_source`` makes before it hands out a URL).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from artifactstore.domain.digests import Digest, StreamingHasher
from artifactstore.domain.manifest import FileEntry
from artifactstore.domain.packages import PackageFile, PackageRecord, Page
from artifactstore.domain.retention import RetentionClass
from artifactstore.domain.schemas import json_pointer
from artifactstore.errors import IntegrityError
from artifactstore.service.context import Services
from artifactstore.service.reading import open_file_bytes, package_view, readable_file

INLINE_LIMIT = 1024 * 1024  # bytes shown inline; bigger files are a download link
CATALOG_PAGES = 5  # catalog pages read at most to fill one filtered page of the listing


@dataclass(frozen=True, slots=True)
class Listing:
    """One page of the package list and the cursor of the next."""

    items: list[PackageRecord]
    next_cursor: str | None


def list_packages(
    svc: Services,
    *,
    producer: str | None,
    state: str | None,
    key: str | None,
    retention_class: str | None,
    schema: str | None,
    limit: int,
    cursor: str | None,
) -> Listing:
    """Packages newest first; ``retention_class`` and ``schema`` filter each catalog page, so a
    page may hold fewer than ``limit`` and still have a next cursor."""
    items: list[PackageRecord] = []
    for _ in range(CATALOG_PAGES):
        page = svc.catalog.list_packages(
            producer=producer, state=state, key=key, limit=limit, cursor=cursor
        )
        items.extend(
            r
            for r in page.items
            if (retention_class is None or r.retention_class == retention_class)
            and (schema is None or r.schema == schema)
        )
        cursor = page.next_cursor
        if cursor is None or len(items) >= limit or (retention_class is None and schema is None):
            break
    return Listing(items, cursor)


@dataclass(frozen=True, slots=True)
class PackagePage:
    """What the package page shows: the record and one page of its files."""

    record: PackageRecord
    files: Page[PackageFile]
    retention: RetentionClass | None
    view: dict[str, Any]  # the API's view of the record, its state as of now


def package_page(
    svc: Services, package_id: str, files_limit: int, files_cursor: str | None
) -> PackagePage:
    """A package with one page of its files, and its retention class (if still configured)."""
    record = svc.catalog.get_package(package_id)
    files = svc.catalog.list_files(package_id, files_limit, files_cursor)
    retention = svc.retention_classes.get(record.retention_class)
    return PackagePage(record, files, retention, package_view(record, svc.clock()))


def metadata_rows(metadata: Any) -> list[tuple[str, int, bool, Any]]:
    """The metadata as table rows: (JSON pointer, depth, nested, value), depth first in key
    order, so nested objects and arrays read as indented sections (``nested``: a non-empty
    object or array, whose members follow as their own rows)."""
    rows: list[tuple[str, int, bool, Any]] = []
    pending: list[tuple[list[str | int], Any]] = [([], metadata)]
    while pending:
        path, value = pending.pop()
        if path:
            container = isinstance(value, dict | list) and bool(value)
            rows.append((json_pointer(path), len(path) - 1, container, value))
        if isinstance(value, dict):
            pending.extend(([*path, k], value[k]) for k in sorted(value, reverse=True))
        elif isinstance(value, list):
            pending.extend(([*path, i], value[i]) for i in reversed(range(len(value))))
    return rows


@dataclass
class Folder:
    """A folder of the file tree: its sub-folders and files, in path order."""

    name: str
    path: str
    folders: dict[str, Folder] = field(default_factory=dict)
    files: list[PackageFile] = field(default_factory=list)

    def walk(self) -> Iterator[Folder]:
        """Sub-folders, in name order."""
        return iter(self.folders[n] for n in sorted(self.folders, key=str.encode))


def file_tree(files: list[PackageFile]) -> Folder:
    """The files of one page as a folder tree."""
    root = Folder("", "")
    for f in files:
        node = root
        parts = f.entry.path.split("/")
        for i, part in enumerate(parts[:-1]):
            node = node.folders.setdefault(part, Folder(part, "/".join(parts[: i + 1])))
        node.files.append(f)
    return root


@dataclass(frozen=True, slots=True)
class FileBytes:
    """A file's entry and, when it fits ``INLINE_LIMIT``, its verified bytes."""

    record: PackageRecord
    entry: FileEntry
    data: bytes | None


def read_file(svc: Services, package_id: str, path: str, limit: int = INLINE_LIMIT) -> FileBytes:
    """A file of a package, its bytes read from its blob and hashed (None above ``limit``).

    409 ``not_verified`` while its blob is not verified; ``digest_mismatch`` if the stored
    bytes do not hash to the file's digest.
    """
    record = svc.catalog.get_package(package_id)
    entry = readable_file(svc, record, path)
    if entry.size > limit:
        return FileBytes(record, entry, None)
    hasher = StreamingHasher()
    chunks: list[bytes] = []
    with open_file_bytes(svc, record.backend, entry) as stream:
        while len(chunk := stream.read(1 << 20)) > 0:
            hasher.update(chunk)
            chunks.append(chunk)
            if hasher.size > entry.size:
                break
    data = b"".join(chunks)
    seen: Digest = hasher.digest()
    if seen != entry.digest or len(data) != entry.size:
        raise IntegrityError(
            f"the stored bytes of {path} do not match its digest",
            details={"expected": str(entry.digest), "seen": str(seen)},
        )
    return FileBytes(record, entry, data)
