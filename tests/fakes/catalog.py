"""The whole ``Catalog`` port in memory: plain dicts guarded by one lock.

Every conditional write of the DynamoDB adapter is a predicate checked under the lock, and
answers as the adapter does: ``False``, ``KeyTaken`` carrying the winner, ``StaleWrite``, or
the same ``NotFound``/``InvalidInput``/``Conflict`` codes. Values are stored as the adapter
stores them (timestamps in UTC, metadata as canonical JSON, links as JSON) and every read
returns a copy, so a caller mutating what it got changes nothing here.

Listings page as PynamoDB over moto does: pages of ``limit`` evaluated items, filters applied
after the limit, PynamoDB fetching further pages until ``limit`` items matched, and the same
opaque cursors from the same codec (``domain/cursors.py``: the strings of a start key), so a
cursor of another listing is ``invalid_cursor`` here too.
``tests/contract`` holds this fake and the adapter to one suite.

What the fake never does: expire items by TTL (moto does not either), throttle (``Busy``), or
lose a race it could retry (``StaleWrite`` only where the adapter's answer does not depend on
timing).
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from artifactstore.domain.cursors import (
    decode_after,
    decode_position,
    encode_after,
    encode_position,
)
from artifactstore.domain.digests import Digest
from artifactstore.domain.lifecycle import SweepCandidate
from artifactstore.domain.manifest import FileEntry, canonical_json
from artifactstore.domain.packages import (
    BlobState,
    BlobStatus,
    HeldBlob,
    PackageFile,
    PackageRecord,
    PackageState,
    Page,
)
from artifactstore.domain.packs import PackedBlob, PackPlace
from artifactstore.domain.protection import Protection, lock_mode_of
from artifactstore.domain.schemas import SLUG_RE, MetadataSchema, StoredSchema
from artifactstore.domain.tokens import IssuedToken
from artifactstore.errors import Conflict, InvalidInput, NotFound
from artifactstore.ports.catalog import Catalog, KeyTaken, StaleWrite

_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_Row = TypeVar("_Row")
Key = dict[str, str]  # a DynamoDB key, string attributes only: name -> value


def _utc(when: datetime) -> datetime:
    """A timestamp as PynamoDB's UTCDateTimeAttribute gives it back (naive counts as UTC)."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _json_copy(value: Any) -> Any:
    """A value as a JSONAttribute gives it back."""
    return json.loads(json.dumps(value))


def _order_key(when: datetime, package_id: str) -> str:
    return f"{when.isoformat()}#{package_id}"


def _query(
    rows: Sequence[_Row],
    limit: int,
    key_of: Callable[[_Row], Key],
    match: Callable[[_Row], bool] = lambda _row: True,
    start: Key | None = None,
) -> tuple[list[_Row], Key | None]:
    """A query of ``rows`` (in query order, after the start key) as PynamoDB runs it on moto.

    Each request evaluates ``limit`` rows and filters them afterwards; moto names the last row
    evaluated as the next start key only when another row follows it. PynamoDB requests pages
    until ``limit`` rows matched, and resumes after the last row it returned when it stopped
    inside a page, after the page's start key otherwise.
    """
    if limit <= 0:
        return [], start  # PynamoDB sends nothing and hands back the start key
    found: list[_Row] = []
    for first in range(0, len(rows), limit):
        page = rows[first : first + limit]
        more = first + limit < len(rows)
        last_evaluated = key_of(page[-1]) if more else None
        matched = [row for row in page if match(row)]
        for index, row in enumerate(matched):
            found.append(row)
            if len(found) == limit:
                return found, last_evaluated if index == len(matched) - 1 else key_of(row)
        if not more:
            break
    return found, None


# -- stored items ------------------------------------------------------------------------------


@dataclass(slots=True)
class _Package:
    """A package item: the record as stored, and what the adapter keeps beside it."""

    record: PackageRecord
    order: str  # the listings' sort key: created_at and id
    list_writer: str | None = None
    list_writer_at: datetime | None = None
    parts_stored: int | None = None
    in_outbox: bool = False
    expiry_order: str | None = None  # the expiry index's sort key while it waits to expire

    def key(self, hash_attr: str, partition: str, range_attr: str) -> Key:
        return {
            hash_attr: partition,
            range_attr: self.order,
            "pk": f"PKG#{self.record.package_id}",
            "sk": "PKG",
        }


@dataclass(slots=True)
class _BlobEntry:
    size: int
    status: BlobStatus
    seen: str | None = None


@dataclass(slots=True)
class _Held:
    size: int
    verified_at: datetime
    first_package_id: str
    expiring: bool | None = None
    lock_mode: str | None = None
    retain_until: datetime | None = None
    expires_at: datetime | None = None
    producers: set[str] | None = None
    tombstoned_at: datetime | None = None
    lease_until: datetime | None = None
    # The expiry index's keys, set and removed apart as the adapter does: a blob is in the
    # index only while both are.
    in_expiry: bool = False
    expiry_order: str | None = None
    place: PackPlace | None = None

    def record(self) -> HeldBlob:
        protection = None
        if self.expiring is not None:
            protection = Protection(
                self.expiring, lock_mode_of(self.lock_mode), self.retain_until, self.expires_at
            )
        return HeldBlob(self.size, protection, frozenset(self.producers or ()), self.place)


@dataclass(slots=True)
class _Claim:
    package_id: str
    fingerprint: str


@dataclass(slots=True)
class _Parts:
    """A list sent in parts: each part once (a part sent again is the same key)."""

    parts: dict[tuple[FileEntry, ...], list[FileEntry]] = field(default_factory=dict)


class InMemoryCatalog:
    """The catalog port on dicts and one ``threading.Lock``; see the module."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._claims: dict[tuple[str, str], _Claim] = {}
        self._packages: dict[str, _Package] = {}
        self._files: dict[str, dict[str, FileEntry]] = {}
        self._blobs: dict[str, dict[str, _BlobEntry]] = {}
        self._parts: dict[str, _Parts] = {}
        self._bundles: dict[tuple[str, str], list[tuple[str, int]]] = {}
        self._held: dict[tuple[str, str], _Held] = {}
        self._packs: dict[tuple[str, str], set[str]] = {}  # (backend, pack hex) -> live members
        self._schemas: dict[str, StoredSchema] = {}
        self._tokens: dict[str, IssuedToken] = {}

    # -- packages ------------------------------------------------------------------------------

    @staticmethod
    def _stored(record: PackageRecord) -> PackageRecord:
        """The record as ``create_package`` writes it: counters, flags and seal fields the
        adapter does not write start at their defaults."""
        return PackageRecord(
            package_id=record.package_id,
            producer=record.producer,
            idempotency_key=record.idempotency_key,
            retention_class=record.retention_class,
            schema=record.schema,
            metadata=json.loads(canonical_json(record.metadata)),
            backend=record.backend,
            fingerprint=record.fingerprint,
            file_count=int(record.file_count),
            total_bytes=int(record.total_bytes),
            blob_count=int(record.blob_count),
            created_at=_utc(record.created_at),
            expires_at=_utc(record.expires_at),
            state=PackageState(record.state.value),
            verified_count=int(record.verified_count),
            files_in_parts=bool(record.files_in_parts),
            run_dir=record.run_dir,
            links=_json_copy(record.links) if record.links else {},
        )

    def _new_package(self, record: PackageRecord) -> None:
        if record.package_id in self._packages:
            # The adapter's transaction is cancelled by the package item, which it re-raises
            # as PynamoDB's error; ids are UUIDs, so this never happens in the service.
            raise Conflict(f"package {record.package_id} exists", code="package_exists")
        self._packages[record.package_id] = _Package(
            self._stored(record), _order_key(record.created_at, record.package_id)
        )

    def create_package(self, record: PackageRecord) -> None:
        """Claim (producer, key) and create the package at once, or raise ``KeyTaken``."""
        with self._lock:
            claim = self._claims.get((record.producer, record.idempotency_key))
            if claim is not None:
                raise KeyTaken(claim.package_id, claim.fingerprint)
            self._new_package(record)
            self._claims[(record.producer, record.idempotency_key)] = _Claim(
                record.package_id, record.fingerprint
            )

    def create_package_replacing(self, record: PackageRecord, expired_package_id: str) -> None:
        """Point a key at a new package while it still names ``expired_package_id``."""
        with self._lock:
            claim = self._claims.get((record.producer, record.idempotency_key))
            if (
                claim is None
                or claim.package_id != expired_package_id
                or record.package_id in self._packages
            ):
                raise StaleWrite("the key was claimed by another request")
            self._new_package(record)
            claim.package_id, claim.fingerprint = record.package_id, record.fingerprint

    def find_claim(self, producer: str, key: str) -> tuple[str, str] | None:
        """(package_id, fingerprint) named by (producer, key), if any."""
        with self._lock:
            claim = self._claims.get((producer, key))
            return None if claim is None else (claim.package_id, claim.fingerprint)

    def _package(self, package_id: str) -> _Package:
        package = self._packages.get(package_id) if _UUID_RE.fullmatch(package_id) else None
        if package is None:
            raise NotFound(f"no package {package_id!r}", code="package_not_found")
        return package

    def get_package(self, package_id: str) -> PackageRecord:
        """The package record, or NotFound (``package_not_found``)."""
        with self._lock:
            return copy.deepcopy(self._package(package_id).record)

    def list_packages(
        self,
        *,
        producer: str | None,
        state: str | None,
        key: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page[PackageRecord]:
        """Packages newest first: the producer's (filtered by state and key), or else one
        state's (sealed by default; filtered by key)."""
        if producer is not None:
            hash_attr, range_attr = "gsi1pk", "gsi1sk"
            partition = f"PRODUCER#{producer}"

            def in_partition(p: _Package) -> bool:
                return p.record.producer == producer

            def match(p: _Package) -> bool:
                return (state is None or p.record.state.value == state) and (
                    key is None or p.record.idempotency_key == key
                )
        else:
            hash_attr, range_attr = "gsi2pk", "gsi2sk"
            wanted = state or PackageState.SEALED.value
            partition = f"STATE#{wanted}"

            def in_partition(p: _Package) -> bool:
                return p.record.state.value == wanted

            def match(p: _Package) -> bool:
                return key is None or p.record.idempotency_key == key

        start = decode_position(cursor, {hash_attr: partition}, (range_attr, "pk", "sk"))

        def position(k: Key) -> tuple[str, str, str]:
            return k[range_attr], k["pk"], k["sk"]

        def key_of(p: _Package) -> Key:
            return p.key(hash_attr, partition, range_attr)

        with self._lock:
            rows = sorted(
                (p for p in self._packages.values() if in_partition(p)),
                key=lambda p: position(key_of(p)),
                reverse=True,
            )
            if start is not None:
                rows = [p for p in rows if position(key_of(p)) < position(start)]
            found, last = _query(rows, limit, key_of, match, start)
            return Page([copy.deepcopy(p.record) for p in found], encode_position(last))

    def request_finalize(self, package_id: str) -> None:
        """Record that the client is done uploading (idempotent)."""
        with self._lock:
            package = self._packages.get(package_id)
            if package is None:
                raise NotFound(f"no package {package_id}", code="package_not_found")
            package.record.finalize_requested = True

    def seal(
        self,
        record: PackageRecord,
        manifest_digest: str,
        now: datetime,
        expiry_due: datetime | None = None,
    ) -> bool:
        """draft → sealed, once, when every blob of ``record.blob_count`` is verified, none is
        rejected, the client finalized and the list is complete; one of an expiring class
        waits in the expiry index."""
        with self._lock:
            package = self._packages.get(record.package_id)
            if package is None:
                return False
            stored = package.record
            if not (
                stored.state is PackageState.DRAFT
                and stored.verified_count == record.blob_count
                and stored.rejected_count == 0
                and stored.finalize_requested
                and stored.files_complete
            ):
                return False
            stored.state = PackageState.SEALED
            stored.manifest_digest = manifest_digest
            stored.sealed_at = _utc(now)
            package.in_outbox = True
            if expiry_due is not None:
                stored.expiry_due = _utc(expiry_due)
                package.expiry_order = _order_key(expiry_due, record.package_id)
            return True

    def due_packages(self, now: datetime, limit: int) -> list[PackageRecord]:
        """Sealed packages whose expiry is due before ``now``, earliest first (the index's
        sort key compared as text with ``now``, as DynamoDB does)."""
        with self._lock:
            due = sorted(
                (
                    p
                    for p in self._packages.values()
                    if p.expiry_order is not None and p.expiry_order < now.isoformat()
                ),
                key=lambda p: p.expiry_order or "",
            )
            return [copy.deepcopy(p.record) for p in due[: max(limit, 0)]]

    def expire_sealed(self, package_id: str, now: datetime) -> bool:
        """sealed → expired once its expiry is due; it leaves the expiry index."""
        with self._lock:
            package = self._packages.get(package_id)
            record = None if package is None else package.record
            if (
                package is None
                or record is None
                or record.state is not PackageState.SEALED
                or record.expiry_due is None
                or not record.expiry_due <= now
            ):
                return False
            record.state = PackageState.EXPIRED
            record.expired_at = _utc(now)
            package.expiry_order = None
            return True

    @staticmethod
    def _expirable(record: PackageRecord, now: datetime, abandoned_before: datetime) -> bool:
        abandoned = not record.files_complete and record.created_at < abandoned_before
        return record.expires_at < now or abandoned

    def expire(self, package_id: str, now: datetime, abandoned_before: datetime) -> bool:
        """draft → expired when past its TTL or abandoned; False otherwise."""
        with self._lock:
            package = self._packages.get(package_id)
            if (
                package is None
                or package.record.state is not PackageState.DRAFT
                or not self._expirable(package.record, now, abandoned_before)
            ):
                return False
            package.record.state = PackageState.EXPIRED
            package.record.expired_at = _utc(now)
            return True

    def expired_drafts(
        self, now: datetime, abandoned_before: datetime, limit: int = 100
    ) -> list[PackageRecord]:
        """Drafts to expire, oldest first."""
        with self._lock:
            drafts = sorted(
                (p for p in self._packages.values() if p.record.state is PackageState.DRAFT),
                key=lambda p: p.order,
            )
            found = [p for p in drafts if self._expirable(p.record, now, abandoned_before)]
            return [copy.deepcopy(p.record) for p in found[: max(limit, 0)]]

    def unpublished_seals(self, limit: int = 100) -> list[PackageRecord]:
        """Sealed packages whose seal event is not confirmed published, oldest first."""
        with self._lock:
            waiting = sorted(
                (p for p in self._packages.values() if p.in_outbox), key=lambda p: p.order
            )
            return [copy.deepcopy(p.record) for p in waiting[: max(limit, 0)]]

    def mark_published(self, package_id: str) -> None:
        """Take a package out of the outbox."""
        with self._lock:
            package = self._packages.get(package_id)
            if package is None:
                raise NotFound(f"no package {package_id}", code="package_not_found")
            package.in_outbox = False

    def record_link(self, package_id: str, link: dict[str, Any]) -> None:
        """Record the State Hub link outcome on the package."""
        with self._lock:
            package = self._packages.get(package_id)
            if package is None:
                raise NotFound(f"no package {package_id}", code="package_not_found")
            package.record.state_hub_link = _json_copy(link)

    # -- file lists ----------------------------------------------------------------------------

    def _write_files(self, package_id: str, files: Sequence[FileEntry]) -> None:
        listed = self._files.setdefault(package_id, {})
        for entry in files:
            listed[entry.path] = entry

    def _write_blobs(
        self, package_id: str, blobs: Mapping[str, int], verified_hex: set[str]
    ) -> None:
        """Blob entries written afresh (the adapter puts whole bucket items): no seen digest."""
        entries = self._blobs.setdefault(package_id, {})
        for hex_digest, size in blobs.items():
            status = BlobStatus.VERIFIED if hex_digest in verified_hex else BlobStatus.PENDING
            entries[hex_digest] = _BlobEntry(int(size), status)

    def add_files(
        self,
        package_id: str,
        files: Sequence[FileEntry],
        verified_hex: set[str] | None = None,
        expires_at: datetime | None = None,
    ) -> None:
        """Write a list sent in one go: its files and distinct blobs."""
        with self._lock:
            self._write_files(package_id, files)
            self._write_blobs(
                package_id, {f.digest.hex: f.size for f in files}, verified_hex or set()
            )

    def mark_files_complete(self, package_id: str) -> None:
        """Record that every file and blob of the package is written."""
        with self._lock:
            package = self._packages.get(package_id)
            if package is None:
                raise NotFound(f"no package {package_id}", code="package_not_found")
            package.record.files_complete = True

    def add_list_part(
        self,
        package_id: str,
        files: Sequence[FileEntry],
        declared: int,
        stale_before: datetime,
        expires_at: datetime,
    ) -> None:
        """Count a new part within ``declared`` (a part sent again is kept once), then keep it."""
        count = len(files)
        if count > declared:
            raise _too_long(package_id, declared, count)
        part = tuple(files)
        with self._lock:
            parts = self._parts.setdefault(package_id, _Parts())
            if part not in parts.parts:
                package = self._packages.get(package_id)
                if package is None:
                    raise NotFound(f"no package {package_id}", code="package_not_found")
                record = package.record
                if record.state is not PackageState.DRAFT:
                    raise Conflict(
                        f"package {package_id} is {record.state.value}", code="not_a_draft"
                    )
                if record.files_complete:
                    raise Conflict(
                        f"the file list of package {package_id} is already complete",
                        code="file_list_complete",
                    )
                if package.list_writer is not None and (
                    package.list_writer_at is None or package.list_writer_at >= stale_before
                ):
                    raise Conflict(
                        f"the file list of package {package_id} is being completed; retry in "
                        "a moment",
                        code="busy",
                    )
                stored = package.parts_stored or 0
                if stored + count > declared:
                    raise _too_long(package_id, declared, stored + count)
                package.parts_stored = stored + count
            parts.parts[part] = list(files)

    def read_list_parts(self, package_id: str) -> list[FileEntry]:
        """Every file of every part received (duplicates included)."""
        with self._lock:
            parts = self._parts.get(package_id)
            return [] if parts is None else [f for run in parts.parts.values() for f in run]

    def delete_list_parts(self, package_id: str) -> None:
        """Drop the parts received and their count."""
        with self._lock:
            self._parts.pop(package_id, None)
            package = self._packages.get(package_id)
            if package is not None:
                package.parts_stored = None

    def claim_file_list(
        self, package_id: str, writer: str, now: datetime, stale_before: datetime
    ) -> bool:
        """Become the one writer of an incomplete list (a claim older than ``stale_before``
        may be taken over)."""
        with self._lock:
            package = self._packages.get(package_id)
            if package is None or package.record.files_complete:
                return False
            held_at = package.list_writer_at
            if package.list_writer is not None and not (
                held_at is not None and held_at < stale_before
            ):
                return False
            package.list_writer, package.list_writer_at = writer, _utc(now)
            return True

    def add_file_chunks(
        self, package_id: str, files: Sequence[FileEntry], expires_at: datetime
    ) -> None:
        """Write a complete list (sorted by path)."""
        with self._lock:
            self._write_files(package_id, files)

    def add_blob_buckets(
        self,
        package_id: str,
        blobs: Mapping[str, int],
        verified_hex: set[str],
        expires_at: datetime,
    ) -> None:
        """Write the distinct blobs; those in ``verified_hex`` start verified."""
        with self._lock:
            self._write_blobs(package_id, blobs, verified_hex)

    def finish_file_list(
        self,
        package_id: str,
        writer: str,
        *,
        blob_count: int,
        verified_count: int,
        total_bytes: int,
    ) -> bool:
        """Mark the list complete with its counters, if ``writer`` still holds the claim."""
        with self._lock:
            package = self._packages.get(package_id)
            if package is None or package.record.files_complete or package.list_writer != writer:
                return False
            record = package.record
            record.files_complete = True
            record.blob_count, record.verified_count = blob_count, verified_count
            record.total_bytes = total_bytes
            package.list_writer = package.list_writer_at = None
            return True

    def release_file_list(self, package_id: str, writer: str) -> None:
        """Give up the claim, if ``writer`` holds it."""
        with self._lock:
            package = self._packages.get(package_id)
            if package is not None and package.list_writer == writer:
                package.list_writer = package.list_writer_at = None

    def keep_file_list(self, package_id: str) -> None:
        """Nothing expires here: the files are kept already."""

    def _sorted_files(self, package_id: str, after: str | None) -> list[FileEntry]:
        listed = self._files.get(package_id, {})
        return [listed[p] for p in sorted(listed) if after is None or p > after]

    def iter_files(self, package_id: str, after: str | None = None) -> Iterator[FileEntry]:
        """Every file in path order (only those after ``after``, if given)."""
        with self._lock:
            files = self._sorted_files(package_id, after)
        yield from files

    def get_file(self, package_id: str, path: str) -> FileEntry:
        """One file of a package, or NotFound (``file_not_found``)."""
        with self._lock:
            entry = self._files.get(package_id, {}).get(path)
        if entry is None:
            raise NotFound(f"package {package_id} has no file {path!r}", code="file_not_found")
        return entry

    def list_files(self, package_id: str, limit: int, cursor: str | None) -> Page[PackageFile]:
        """One page of a package's files with their blob status (cursor: the last path)."""
        after = decode_after(cursor)
        with self._lock:
            files = self._sorted_files(package_id, after)[: limit + 1]
            more = len(files) > limit
            files = files[:limit]
            package = self._packages.get(package_id)
            sealed = package is not None and package.record.state is PackageState.SEALED
            entries = {} if sealed else self._blobs.get(package_id, {})
            page = []
            for f in files:
                blob = entries.get(f.digest.hex)
                if blob is None or blob.status is BlobStatus.VERIFIED:
                    page.append(PackageFile(f, BlobStatus.VERIFIED, None))
                else:
                    page.append(PackageFile(f, blob.status, blob.seen))
        return Page(page, encode_after(files[-1].path) if more else None)

    # -- blob states ---------------------------------------------------------------------------

    @staticmethod
    def _state_of(hex_digest: str, entry: _BlobEntry) -> BlobState:
        return BlobState(Digest(hex_digest), entry.size, entry.status, entry.seen)

    def blob_states(self, package_id: str, status: BlobStatus | None = None) -> Iterator[BlobState]:
        """The package's distinct blobs in digest order, optionally in one status only."""
        with self._lock:
            entries = self._blobs.get(package_id, {})
            states = [
                self._state_of(h, entries[h])
                for h in sorted(entries)
                if status is None or entries[h].status is status
            ]
        yield from states

    def blob_states_between(self, package_id: str, first: str, last: str) -> dict[str, BlobState]:
        """The package's blobs whose digest hex lies in ``[first, last]``, by hex."""
        with self._lock:
            entries = self._blobs.get(package_id, {})
            return {
                h: self._state_of(h, e) for h, e in sorted(entries.items()) if first <= h <= last
            }

    def unverified_blob_states(
        self, package_id: str, after: str | None, limit: int
    ) -> list[BlobState]:
        """At most ``limit`` blobs not verified after ``after``, in digest order."""
        with self._lock:
            entries = self._blobs.get(package_id, {})
            chosen = [
                h
                for h in sorted(entries)
                if (after is None or h > after) and entries[h].status is not BlobStatus.VERIFIED
            ]
            return [self._state_of(h, entries[h]) for h in chosen[: max(limit, 0)]]

    def get_blob_state(self, package_id: str, digest: Digest) -> BlobState | None:
        """One distinct blob of a package, or None when the package does not list it."""
        with self._lock:
            entry = self._blobs.get(package_id, {}).get(digest.hex)
            return None if entry is None else self._state_of(digest.hex, entry)

    def _draft(self, package_id: str) -> bool:
        package = self._packages.get(package_id)
        if package is None:
            # The adapter reads the package item here and lets PynamoDB's DoesNotExist out.
            raise NotFound(f"no package {package_id}", code="package_not_found")
        return package.record.state is PackageState.DRAFT

    def _move(
        self,
        package_id: str,
        moving: Mapping[str, _BlobEntry],
        changes: Mapping[str, tuple[BlobStatus, str | None]],
    ) -> None:
        """Move entries and the package's counters at once, as the adapter's transaction."""
        deltas = dict.fromkeys((BlobStatus.VERIFIED, BlobStatus.REJECTED), 0)
        for h, entry in moving.items():
            deltas[changes[h][0]] += 1  # a move to pending is a KeyError, as in the adapter
            if entry.status in deltas:
                deltas[entry.status] -= 1
        for h, entry in moving.items():
            new, seen = changes[h]
            entry.status, entry.seen = new, seen or None
        record = self._packages[package_id].record
        record.verified_count += deltas[BlobStatus.VERIFIED]
        record.rejected_count += deltas[BlobStatus.REJECTED]

    def set_blob_status(
        self,
        package_id: str,
        digest: Digest,
        new: BlobStatus,
        seen: str | None = None,
        expected: BlobState | None = None,
    ) -> bool:
        """Move one blob to ``new`` with the package's counters; False when it already was
        ``new``, is verified, or the package is no longer a draft. ``expected`` is a hint
        the adapter checks, so it changes nothing here."""
        with self._lock:
            entry = self._blobs.get(package_id, {}).get(digest.hex)
            if entry is None:
                raise NotFound(
                    f"package {package_id} lists no blob {digest}", code="blob_not_listed"
                )
            if entry.status == new or entry.status is BlobStatus.VERIFIED:
                return False
            if not self._draft(package_id):
                return False
            self._move(package_id, {digest.hex: entry}, {digest.hex: (new, seen)})
            return True

    def set_blob_statuses(
        self, package_id: str, changes: Mapping[str, tuple[BlobStatus, str | None]]
    ) -> set[str]:
        """Move many blobs at once; the hex of those moved (none unless a draft lists all)."""
        if not changes:
            return set()
        with self._lock:
            entries = self._blobs.get(package_id, {})
            missing = [h for h in sorted(changes) if h not in entries]
            if missing:
                raise NotFound(
                    f"package {package_id} lists no blob {Digest(missing[0])}",
                    code="blob_not_listed",
                )
            moving = {
                h: entries[h]
                for h in sorted(changes)
                if entries[h].status is not BlobStatus.VERIFIED
                and entries[h].status != changes[h][0]
            }
            if not moving or not self._draft(package_id):
                return set()
            self._move(package_id, moving, changes)
            return set(moving)

    # -- held blobs ----------------------------------------------------------------------------

    def verified_blobs(self, backend: str, digests: Iterable[Digest]) -> set[str]:
        """Which of ``digests`` (hex) the backend holds, verified."""
        return set(self.held_records(backend, digests))

    def held_blobs(self, backend: str, digests: Iterable[Digest]) -> dict[str, Protection | None]:
        """The held blobs among ``digests``: hex → recorded protection."""
        return {h: held.protection for h, held in self.held_records(backend, digests).items()}

    def held_records(self, backend: str, digests: Iterable[Digest]) -> dict[str, HeldBlob]:
        """The held blobs among ``digests``: hex → size, protection and producers (a blob the
        sweep is deleting is not held)."""
        wanted = {d.hex for d in digests}
        with self._lock:
            return {
                h: held.record()
                for h in sorted(wanted)
                if (held := self._held.get((backend, h))) is not None and held.tombstoned_at is None
            }

    def swept_blobs(self, backend: str, digests: Iterable[Digest]) -> set[str]:
        """Which of ``digests`` (hex) the sweep is deleting (tombstoned)."""
        wanted = {d.hex for d in digests}
        with self._lock:
            return {
                h
                for h in wanted
                if (held := self._held.get((backend, h))) is not None
                and held.tombstoned_at is not None
            }

    def _alive(self, backend: str, digest: Digest) -> _Held | None:
        held = self._held.get((backend, digest.hex))
        return held if held is not None and held.tombstoned_at is None else None

    def record_blob(
        self,
        backend: str,
        digest: Digest,
        size: int,
        package_id: str,
        now: datetime,
        protection: Protection | None = None,
        producer: str | None = None,
    ) -> bool:
        """Record a verified blob; a later call only raises its protection and adds its
        producer (the first size, time and package stay). False while the sweep deletes it."""
        with self._lock:
            key = (backend, digest.hex)
            if key not in self._held:
                self._held[key] = _new_held(digest, size, package_id, now, protection, producer)
                return True
            if protection is not None and not self._raise(backend, digest, protection):
                return False
            if producer:
                return self._add_producer(backend, digest, producer)
            return self._alive(backend, digest) is not None

    def record_packed_blobs(
        self,
        backend: str,
        pack: Digest,
        members: Sequence[PackedBlob],
        package_id: str,
        now: datetime,
        protection: Protection,
        producer: str,
    ) -> set[str]:
        """Record the members not recorded yet, each in the pack's live members."""
        with self._lock:
            recorded: set[str] = set()
            live = self._packs.setdefault((backend, pack.hex), set())
            for member in members:
                key = (backend, member.digest.hex)
                if key in self._held:
                    continue
                held = _new_held(member.digest, member.size, package_id, now, protection, producer)
                held.place = PackPlace(pack, member.offset)
                self._held[key] = held
                live.add(member.digest.hex)
                recorded.add(member.digest.hex)
            if not live:
                del self._packs[(backend, pack.hex)]
            return recorded

    def release_packed_blob(self, backend: str, pack: Digest, digest: Digest) -> bool:
        """Take the blob out of the pack's live members; True when none is left."""
        with self._lock:
            live = self._packs.get((backend, pack.hex), set())
            live.discard(digest.hex)
            return not live

    def forget_pack(self, backend: str, pack: Digest) -> None:
        """Drop a pack's record once it has no live member."""
        with self._lock:
            if not self._packs.get((backend, pack.hex)):
                self._packs.pop((backend, pack.hex), None)

    def _add_producer(self, backend: str, digest: Digest, producer: str) -> bool:
        held = self._alive(backend, digest)
        if held is None:
            return False
        held.producers = (held.producers or set()) | {producer}
        return True

    def add_blob_producer(self, backend: str, digest: Digest, producer: str) -> bool:
        """Record that ``producer`` proved possession of a held blob; False when it is not
        held, or the sweep is deleting it."""
        with self._lock:
            return self._add_producer(backend, digest, producer)

    def raise_blob_protection(self, backend: str, digest: Digest, protection: Protection) -> bool:
        """Record protection applied to a held blob, never weakening what is recorded; False
        when it is not held, or the sweep is deleting it."""
        with self._lock:
            return self._raise(backend, digest, protection)

    def _raise(self, backend: str, digest: Digest, protection: Protection) -> bool:
        """The adapter's conditional updates, each on a live blob: the lock end and the expiry
        only move later, ``expiring`` only from true (or unknown) to false, and a blob no
        longer expiring leaves the expiry index; an unknown one learns it may expire."""
        held = self._alive(backend, digest)
        if held is None:
            return False

        def expiring() -> None:
            if not protection.expiring:
                held.expiring, held.in_expiry, held.expiry_order = False, False, None
            elif held.expiring is None:
                held.expiring = True

        retain_until = _optional_utc(protection.retain_until)
        if retain_until is not None and (
            held.retain_until is None or held.retain_until < retain_until
        ):
            expiring()
            held.lock_mode, held.retain_until = protection.lock_mode or None, retain_until
        expires_at = _optional_utc(protection.expires_at)
        if expires_at is not None and (held.expires_at is None or held.expires_at < expires_at):
            expiring()
            held.expires_at = expires_at
            if protection.expiring:
                held.expiry_order = _expiry_order(expires_at, digest.hex)
        expiring()  # also when nothing moved: the write that tells the blob is alive
        return True

    # -- the end of a blob ---------------------------------------------------------------------

    def lease_blob(self, backend: str, digest: Digest, until: datetime) -> bool:
        """Hold a blob until ``until`` (leases only lengthen); True also when it is not
        recorded, False while the sweep is deleting it."""
        with self._lock:
            held = self._held.get((backend, digest.hex))
            if held is None:
                return True
            if held.tombstoned_at is not None:
                return False
            until = _utc(until)
            if held.lease_until is None or held.lease_until < until:
                held.lease_until = until
            return True

    def sweepable_blobs(
        self, backend: str, before: datetime, limit: int, after: str | None = None
    ) -> list[SweepCandidate]:
        """Expiring blobs in the expiry index before ``before``, oldest first (tombstoned
        ones included)."""
        with self._lock:
            found = sorted(
                (
                    (held.expiry_order, h, held)
                    for (b, h), held in self._held.items()
                    if b == backend
                    and held.in_expiry
                    and held.expiry_order is not None
                    and held.expiry_order < before.isoformat()
                    and (after is None or held.expiry_order > after)
                ),
                key=lambda row: row[0],
            )
            return [
                SweepCandidate(
                    Digest(h),
                    held.size,
                    held.expires_at or before,
                    tombstoned=held.tombstoned_at is not None,
                    place=held.place,
                    position=order,
                )
                for order, h, held in found[: max(limit, 0)]
            ]

    def tombstone_blob(
        self, backend: str, digest: Digest, expired_before: datetime, now: datetime
    ) -> bool:
        """Mark a blob as being deleted: still expiring, expired before ``expired_before``,
        neither locked nor leased beyond ``now``; False otherwise."""
        with self._lock:
            held = self._alive(backend, digest)
            if (
                held is None
                or held.expiring is not True
                or held.expires_at is None
                or not held.expires_at < expired_before
                or (held.retain_until is not None and not held.retain_until < now)
                or (held.lease_until is not None and not held.lease_until < now)
            ):
                return False
            held.tombstoned_at = _utc(now)
            return True

    def forget_blob(self, backend: str, digest: Digest) -> None:
        """Drop a tombstoned blob's record."""
        with self._lock:
            held = self._held.get((backend, digest.hex))
            if held is not None and held.tombstoned_at is not None:
                del self._held[(backend, digest.hex)]

    def restore_blob(self, backend: str, digest: Digest, until: datetime) -> None:
        """Take a tombstone back, and look at the blob again only after ``until``."""
        with self._lock:
            held = self._held.get((backend, digest.hex))
            if held is not None and held.tombstoned_at is not None:
                held.tombstoned_at = None
                held.expiry_order = _expiry_order(until, digest.hex)

    # -- bundles -------------------------------------------------------------------------------

    def put_bundle(
        self,
        package_id: str,
        bundle_id: str,
        members: Sequence[tuple[str, int]],
        draft_expires_at: datetime | None = None,
    ) -> None:
        """Record a bundle's members (hex, size) in order (again: written again)."""
        with self._lock:
            self._bundles[(package_id, bundle_id)] = [(str(h), int(n)) for h, n in members]

    def get_bundle(self, package_id: str, bundle_id: str) -> list[tuple[str, int]] | None:
        """The bundle's members (hex, size) in byte order, or None when never asked for."""
        with self._lock:
            members = self._bundles.get((package_id, bundle_id))
            return None if members is None else list(members)

    # -- schemas -------------------------------------------------------------------------------

    def put_schema(self, schema: MetadataSchema, now: datetime) -> tuple[bool, datetime]:
        """Register a schema: (created, created_at); the same bytes again is a no-op, other
        bytes under the slug are ``schema_conflict``."""
        body = schema.canonical_bytes.decode()
        with self._lock:
            existing = self._schemas.get(schema.slug)
            if existing is None:
                self._schemas[schema.slug] = StoredSchema(
                    schema.slug, body, str(schema.digest), _utc(now)
                )
                return True, now
        if existing.body != body:
            raise Conflict(
                f"schema {schema.slug!r} is registered with a different body",
                code="schema_conflict",
                details={"slug": schema.slug, "registered_digest": existing.digest},
            )
        return False, existing.created_at

    def get_schema(self, slug: str) -> StoredSchema:
        """The registered schema, or NotFound (``schema_not_found``)."""
        with self._lock:
            found = self._schemas.get(slug) if SLUG_RE.fullmatch(slug) else None
        if found is None:
            raise NotFound(f"no metadata schema {slug!r}", code="schema_not_found")
        return found

    def list_schemas(self, limit: int, cursor: str | None) -> Page[StoredSchema]:
        """Registered schemas by slug."""
        start = decode_position(cursor, {"pk": "SCHEMA"}, ("sk",))
        with self._lock:
            slugs = sorted(self._schemas)
            if start is not None:
                slugs = [s for s in slugs if s > start["sk"]]
            found, last = _query(slugs, limit, lambda s: {"pk": "SCHEMA", "sk": s}, start=start)
            return Page([self._schemas[s] for s in found], encode_position(last))

    # -- tokens --------------------------------------------------------------------------------

    def put_token(self, token_hash: str, token: IssuedToken) -> None:
        """Store an issued token's hash and grants."""
        stored = IssuedToken(
            token_id=token.token_id,
            name=token.name,
            scopes=tuple(token.scopes),
            producers=tuple(token.producers) if token.producers else None,
            created_at=_utc(token.created_at),
            revoked=bool(token.revoked),
        )
        with self._lock:
            if token_hash in self._tokens:
                # The adapter's conditional put fails with PynamoDB's PutError.
                raise Conflict("a token with this hash is stored", code="token_exists")
            self._tokens[token_hash] = stored

    def find_token(self, token_hash: str) -> IssuedToken | None:
        """The token for a hash, if issued and not revoked."""
        with self._lock:
            token = self._tokens.get(token_hash)
        return None if token is None or token.revoked else token

    def revoke_token(self, token_id: str) -> bool:
        """Revoke an issued token by id (the first by hash, if several); False when none."""
        with self._lock:
            for token_hash in sorted(self._tokens):
                token = self._tokens[token_hash]
                if token.token_id == token_id:
                    self._tokens[token_hash] = IssuedToken(
                        token.token_id,
                        token.name,
                        token.scopes,
                        token.producers,
                        token.created_at,
                        revoked=True,
                    )
                    return True
        return False

    def list_tokens(self) -> list[IssuedToken]:
        """Issued tokens (revoked ones included), by hash."""
        with self._lock:
            return [self._tokens[h] for h in sorted(self._tokens)]


def _new_held(
    digest: Digest,
    size: int,
    package_id: str,
    now: datetime,
    protection: Protection | None,
    producer: str | None,
) -> _Held:
    held = _Held(int(size), _utc(now), package_id, producers={producer} if producer else None)
    if protection is not None:
        held.expiring = protection.expiring
        held.lock_mode = protection.lock_mode
        held.retain_until = _optional_utc(protection.retain_until)
        held.expires_at = _optional_utc(protection.expires_at)
        if protection.expiring and protection.expires_at is not None:
            held.in_expiry = True
            held.expiry_order = _expiry_order(protection.expires_at, digest.hex)
    return held


def _expiry_order(when: datetime, hex_digest: str) -> str:
    return f"{when.isoformat()}#{hex_digest}"


def _optional_utc(when: datetime | None) -> datetime | None:
    return None if when is None else _utc(when)


def _too_long(package_id: str, declared: int, received: int) -> InvalidInput:
    return InvalidInput(
        f"package {package_id} declared {declared} files; its parts would hold {received} "
        "entries (a part sent again counts once)",
        code="file_list_too_long",
        details={"declared": declared, "received": received},
    )


# mypy --strict proves the fake is a whole ``Catalog``.
_: type[Catalog] = InMemoryCatalog
