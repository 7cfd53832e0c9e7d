"""The catalog port's behaviour, one suite for both catalogs (``conftest.catalog``).

Each test states what a caller of ``Catalog`` may rely on: the values read back, the answer of
every conditional write that loses (False, ``KeyTaken`` with the winner, ``StaleWrite``), the
error codes, the order and paging of listings, and that concurrent writers get exactly one win.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest

from artifactstore.domain.digests import Digest
from artifactstore.domain.lifecycle import SweepCandidate
from artifactstore.domain.manifest import FileEntry
from artifactstore.domain.packages import (
    BlobState,
    BlobStatus,
    HeldBlob,
    PackageFile,
    PackageRecord,
    PackageState,
)
from artifactstore.domain.protection import Protection
from artifactstore.domain.schemas import MetadataSchema, StoredSchema
from artifactstore.domain.tokens import IssuedToken
from artifactstore.errors import Conflict, InvalidInput, NotFound
from artifactstore.ports.catalog import Catalog, KeyTaken, StaleWrite

T0 = datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
MANIFEST = "blake3:" + "ab" * 32
PRODUCER = "contract-a"
_T = TypeVar("_T")


def digest(label: object) -> Digest:
    """A distinct digest per label."""
    return Digest.of_bytes(f"blob {label}".encode())


def new_record(
    *,
    producer: str = PRODUCER,
    key: str | None = None,
    created_at: datetime = T0,
    blob_count: int = 0,
    **fields: Any,
) -> PackageRecord:
    """A draft as ``create_or_resume`` builds one (no blobs unless asked)."""
    package_id = str(uuid.uuid4())
    return PackageRecord(
        package_id=package_id,
        producer=producer,
        idempotency_key=key or f"key-{package_id}",
        retention_class="release-evidence",
        schema="contract.run",
        metadata={"run": {"id": 7, "tags": ["a", "b"]}, "ok": True, "name": "naïve ✓"},
        backend="s3",
        fingerprint=str(digest(f"fingerprint {package_id}")),
        file_count=3,
        total_bytes=30,
        blob_count=blob_count,
        created_at=created_at,
        expires_at=created_at + 72 * HOUR,
        **fields,
    )


def stored(record: PackageRecord, **changes: Any) -> PackageRecord:
    """``record`` as ``create_package`` keeps it: what only later writes set starts unset."""
    base = replace(
        record,
        rejected_count=0,
        finalize_requested=False,
        files_complete=False,
        manifest_digest=None,
        sealed_at=None,
        state_hub_link=None,
        expiry_due=None,
        expired_at=None,
    )
    return replace(base, **changes)


def created(catalog: Catalog, **fields: Any) -> PackageRecord:
    record = new_record(**fields)
    catalog.create_package(record)
    return record


def sealable(catalog: Catalog, **fields: Any) -> PackageRecord:
    """A draft with no blobs, its list complete and finalized: ready to seal."""
    record = created(catalog, **fields)
    catalog.mark_files_complete(record.package_id)
    catalog.request_finalize(record.package_id)
    return catalog.get_package(record.package_id)


def sealed(catalog: Catalog, now: datetime = T0 + HOUR, **fields: Any) -> PackageRecord:
    record = sealable(catalog, **fields)
    assert catalog.seal(record, MANIFEST, now) is True
    return catalog.get_package(record.package_id)


def files_of(count: int, kinds: int = 3) -> list[FileEntry]:
    """``count`` files in path order over ``kinds`` distinct blobs (size fixed per blob)."""
    return [
        FileEntry(f"d/{i:04}.txt", 10 + i % kinds, digest(i % kinds), executable=i == 5)
        for i in range(count)
    ]


def error_code(error: BaseException) -> str:
    code = getattr(error, "code", None)
    assert isinstance(code, str)
    return code


def all_at_once(workers: int, task: Callable[[int], _T]) -> list[_T | BaseException]:
    """``task(i)`` on ``workers`` threads released together; each result or its error."""
    barrier = threading.Barrier(workers)

    def run(index: int) -> _T | BaseException:
        barrier.wait()
        try:
            return task(index)
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(run, range(workers)))


def xfail_on_dynamodb(request: pytest.FixtureRequest, kind: str, reason: str) -> None:
    """The adapter has a known bug here (strict: the test must fail on it)."""
    if kind == "dynamodb":
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))


# -- packages: identity and claims --------------------------------------------------------------


def test_a_created_package_reads_back_as_written(catalog: Catalog) -> None:
    record = new_record(
        blob_count=2,
        verified_count=1,
        run_dir="runs/7",
        links={"ci": "https://ci.example/7", "steps": [1, 2]},
        files_in_parts=True,
        # Only later writes set these: creation keeps none of them.
        rejected_count=3,
        finalize_requested=True,
        files_complete=True,
        manifest_digest=MANIFEST,
        sealed_at=T0,
        state_hub_link={"status": 200},
    )
    catalog.create_package(record)
    assert catalog.get_package(record.package_id) == stored(record)
    assert catalog.find_claim(PRODUCER, record.idempotency_key) == (
        record.package_id,
        record.fingerprint,
    )


def test_a_read_package_is_a_copy(catalog: Catalog) -> None:
    record = created(catalog)
    first = catalog.get_package(record.package_id)
    first.metadata["run"]["id"] = 8
    first.verified_count = 99
    assert catalog.get_package(record.package_id) == stored(record)


def test_a_taken_key_raises_key_taken_naming_the_winner(catalog: Catalog) -> None:
    winner = created(catalog, key="build-1")
    loser = new_record(key="build-1")
    with pytest.raises(KeyTaken) as caught:
        catalog.create_package(loser)
    assert (caught.value.package_id, caught.value.fingerprint) == (
        winner.package_id,
        winner.fingerprint,
    )
    assert error_code(caught.value) == "idempotency_key_taken"
    with pytest.raises(NotFound):
        catalog.get_package(loser.package_id)
    assert catalog.find_claim(PRODUCER, "build-1") == (winner.package_id, winner.fingerprint)


def test_a_key_is_claimed_per_producer(catalog: Catalog) -> None:
    first = created(catalog, key="build-1")
    other = created(catalog, producer="contract-b", key="build-1")
    assert catalog.find_claim(PRODUCER, "build-1") == (first.package_id, first.fingerprint)
    assert catalog.find_claim("contract-b", "build-1") == (other.package_id, other.fingerprint)
    assert catalog.find_claim(PRODUCER, "build-2") is None
    assert catalog.find_claim("contract-c", "build-1") is None


def test_replacing_points_the_key_at_the_new_package_once(catalog: Catalog) -> None:
    old = created(catalog, key="build-1")
    assert catalog.expire(old.package_id, T0 + 73 * HOUR, T0) is True
    new = new_record(key="build-1", created_at=T0 + 74 * HOUR)
    catalog.create_package_replacing(new, old.package_id)
    assert catalog.find_claim(PRODUCER, "build-1") == (new.package_id, new.fingerprint)
    assert catalog.get_package(new.package_id) == stored(new)
    assert catalog.get_package(old.package_id).state is PackageState.EXPIRED

    late = new_record(key="build-1", created_at=T0 + 75 * HOUR)  # read the old claim too
    with pytest.raises(StaleWrite) as caught:
        catalog.create_package_replacing(late, old.package_id)
    assert error_code(caught.value) == "stale_write"
    with pytest.raises(NotFound):
        catalog.get_package(late.package_id)
    assert catalog.find_claim(PRODUCER, "build-1") == (new.package_id, new.fingerprint)


def test_replacing_a_key_nobody_claimed_is_a_stale_write(catalog: Catalog) -> None:
    record = new_record(key="never-claimed")
    with pytest.raises(StaleWrite):
        catalog.create_package_replacing(record, str(uuid.uuid4()))
    assert catalog.find_claim(PRODUCER, "never-claimed") is None
    with pytest.raises(NotFound):
        catalog.get_package(record.package_id)


@pytest.mark.parametrize(
    "package_id",
    [
        "5d3f5f2e-8f0c-4c33-9a43-0d8a3e1c1c11",  # well formed, never created
        "not-a-uuid",
        "5D3F5F2E-8F0C-4C33-9A43-0D8A3E1C1C11",  # ids are lowercase
        "",
    ],
)
def test_an_unknown_package_is_package_not_found(catalog: Catalog, package_id: str) -> None:
    with pytest.raises(NotFound) as caught:
        catalog.get_package(package_id)
    assert error_code(caught.value) == "package_not_found"


def test_request_finalize_is_recorded_once_and_needs_the_package(catalog: Catalog) -> None:
    record = created(catalog)
    catalog.request_finalize(record.package_id)
    catalog.request_finalize(record.package_id)
    assert catalog.get_package(record.package_id) == stored(record, finalize_requested=True)
    with pytest.raises(NotFound) as caught:
        catalog.request_finalize(str(uuid.uuid4()))
    assert error_code(caught.value) == "package_not_found"


def test_record_link_keeps_the_outcome_and_not_the_state(catalog: Catalog) -> None:
    record = sealed(catalog)
    link = {"status": 201, "ids": ["workstream", "task"], "at": "2031-05-06T07:08:09Z"}
    catalog.record_link(record.package_id, link)
    assert catalog.get_package(record.package_id) == replace(record, state_hub_link=link)


# -- packages: listings ---------------------------------------------------------------------


def _pages(catalog: Catalog, limit: int, **query: str | None) -> list[tuple[list[str], bool]]:
    """Every page of a listing: (package ids, whether a cursor followed)."""
    pages = []
    cursor: str | None = None
    for _ in range(20):
        page = catalog.list_packages(
            producer=query.get("producer"),
            state=query.get("state"),
            key=query.get("key"),
            limit=limit,
            cursor=cursor,
        )
        pages.append(([r.package_id for r in page.items], page.next_cursor is not None))
        cursor = page.next_cursor
        if cursor is None:
            return pages
    raise AssertionError("the listing never ended")


@pytest.fixture
def listed(catalog: Catalog) -> list[PackageRecord]:
    """Five packages of one producer an hour apart (1 and 3 sealed), one of another."""
    records = [
        created(catalog, producer="contract-list", key=f"k{i}", created_at=T0 + i * HOUR)
        for i in range(5)
    ]
    for record in (records[1], records[3]):
        catalog.mark_files_complete(record.package_id)
        catalog.request_finalize(record.package_id)
        assert catalog.seal(catalog.get_package(record.package_id), MANIFEST, T0 + DAY)
    records.append(created(catalog, producer="contract-other", created_at=T0 + 10 * HOUR))
    return [catalog.get_package(r.package_id) for r in records]


def test_a_producers_packages_list_newest_first_a_page_at_a_time(
    catalog: Catalog, listed: list[PackageRecord]
) -> None:
    ids = [r.package_id for r in listed]
    assert _pages(catalog, 2, producer="contract-list") == [
        ([ids[4], ids[3]], True),
        ([ids[2], ids[1]], True),
        ([ids[0]], False),
    ]
    page = catalog.list_packages(
        producer="contract-list", state=None, key=None, limit=10, cursor=None
    )
    assert page.items == [listed[i] for i in (4, 3, 2, 1, 0)]
    assert page.next_cursor is None


def test_listings_filter_by_state_and_key(catalog: Catalog, listed: list[PackageRecord]) -> None:
    ids = [r.package_id for r in listed]
    assert _pages(catalog, 2, producer="contract-list", state="draft") == [
        ([ids[4], ids[2]], True),
        ([ids[0]], False),
    ]
    assert _pages(catalog, 10, producer="contract-list", state="sealed") == [
        ([ids[3], ids[1]], False)
    ]
    assert _pages(catalog, 10, producer="contract-list", key="k2") == [([ids[2]], False)]
    assert _pages(catalog, 10, producer="contract-list", state="sealed", key="k2") == [([], False)]
    assert _pages(catalog, 10, producer="contract-nobody") == [([], False)]
    # Without a producer: one state's packages of every producer, sealed by default.
    assert _pages(catalog, 10) == [([ids[3], ids[1]], False)]
    assert _pages(catalog, 10, state="sealed", key="k3") == [([ids[3]], False)]
    assert _pages(catalog, 10, state="draft") == [([ids[5], ids[4], ids[2], ids[0]], False)]
    assert _pages(catalog, 3, state="draft") == [
        ([ids[5], ids[4], ids[2]], True),
        ([ids[0]], False),
    ]
    assert _pages(catalog, 10, state="expired") == [([], False)]


def test_a_listing_refuses_a_cursor_it_did_not_give(
    catalog: Catalog, listed: list[PackageRecord]
) -> None:
    by_producer = catalog.list_packages(
        producer="contract-list", state=None, key=None, limit=1, cursor=None
    ).next_cursor
    by_state = catalog.list_packages(
        producer=None, state="draft", key=None, limit=1, cursor=None
    ).next_cursor
    assert by_producer is not None and by_state is not None
    bad = {
        "not base64": "%%%",
        "not a key": "WzFd",  # [1]
        "another producer's": (by_producer, "contract-other", None),
        "another index's": (by_state, "contract-list", None),
        "another state's": (by_state, None, "sealed"),
    }
    for name, case in bad.items():
        cursor, producer, state = case if isinstance(case, tuple) else (case, "contract-list", None)
        with pytest.raises(InvalidInput) as caught:
            catalog.list_packages(producer=producer, state=state, key=None, limit=2, cursor=cursor)
        assert error_code(caught.value) == "invalid_cursor", name
    # The cursor it gave goes on where the page ended.
    page = catalog.list_packages(
        producer="contract-list", state=None, key=None, limit=1, cursor=by_producer
    )
    assert [r.package_id for r in page.items] == [listed[3].package_id]


# -- sealing, expiry and the outbox ---------------------------------------------------------


def test_sealing_needs_every_condition_and_happens_once(catalog: Catalog) -> None:
    record = created(catalog, blob_count=2)
    pid = record.package_id
    files = files_of(3, kinds=2)
    catalog.add_files(pid, files, verified_hex=set(), expires_at=record.expires_at)
    now = T0 + HOUR
    assert catalog.seal(catalog.get_package(pid), MANIFEST, now) is False  # nothing done yet
    catalog.mark_files_complete(pid)
    assert catalog.seal(catalog.get_package(pid), MANIFEST, now) is False  # not finalized
    catalog.request_finalize(pid)
    assert catalog.seal(catalog.get_package(pid), MANIFEST, now) is False  # nothing verified
    assert catalog.set_blob_status(pid, digest(0), BlobStatus.VERIFIED) is True
    assert catalog.set_blob_status(pid, digest(1), BlobStatus.REJECTED, "blake3:" + "0" * 64)
    assert catalog.seal(catalog.get_package(pid), MANIFEST, now) is False  # one rejected
    assert catalog.set_blob_status(pid, digest(1), BlobStatus.VERIFIED) is True
    ready = catalog.get_package(pid)
    assert ready.ready_to_seal()
    # The caller's count of blobs is the one checked.
    assert catalog.seal(replace(ready, blob_count=3), MANIFEST, now) is False
    assert catalog.seal(ready, MANIFEST, now) is True
    expected = stored(
        record,
        state=PackageState.SEALED,
        verified_count=2,
        finalize_requested=True,
        files_complete=True,
        manifest_digest=MANIFEST,
        sealed_at=now,
    )
    assert catalog.get_package(pid) == expected
    assert catalog.seal(ready, "blake3:" + "cd" * 32, now + HOUR) is False
    assert catalog.get_package(pid) == expected
    assert catalog.seal(new_record(), MANIFEST, now) is False  # no such package


def test_drafts_expire_past_their_ttl_or_abandoned(catalog: Catalog) -> None:
    now = T0 + 100 * HOUR
    abandoned_before = now - 15 * MINUTE
    past_ttl = sealable(catalog, created_at=T0)  # expires at T0 + 72 h
    fresh = sealable(catalog, created_at=now - HOUR)
    abandoned = created(catalog, created_at=T0 + 90 * HOUR)  # its list never completed
    starting = created(catalog, created_at=now - 5 * MINUTE)
    done = sealed(catalog, created_at=T0 - HOUR)
    assert [r.package_id for r in catalog.expired_drafts(now, abandoned_before)] == [
        past_ttl.package_id,
        abandoned.package_id,
    ]
    assert catalog.expired_drafts(now, abandoned_before, limit=1) == [past_ttl]
    for unexpirable in (fresh, starting, done):
        assert catalog.expire(unexpirable.package_id, now, abandoned_before) is False
    assert catalog.expire(str(uuid.uuid4()), now, abandoned_before) is False
    assert catalog.expire(past_ttl.package_id, now, abandoned_before) is True
    assert catalog.get_package(past_ttl.package_id) == replace(
        past_ttl, state=PackageState.EXPIRED, expired_at=now
    )
    assert catalog.expire(past_ttl.package_id, now + HOUR, abandoned_before) is False
    assert catalog.expire(abandoned.package_id, now, abandoned_before) is True
    assert catalog.expired_drafts(now, abandoned_before) == []
    assert catalog.get_package(done.package_id) == done
    for record in (fresh, starting):
        assert catalog.get_package(record.package_id).state is PackageState.DRAFT


def test_sealed_packages_of_an_expiring_class_expire_when_due(catalog: Catalog) -> None:
    later = sealable(catalog, created_at=T0)
    sooner = sealable(catalog, created_at=T0 + HOUR)
    kept = sealable(catalog, created_at=T0 + 2 * HOUR)
    now = T0 + DAY
    assert catalog.seal(later, MANIFEST, now, T0 + 10 * DAY) is True
    assert catalog.seal(sooner, MANIFEST, now, T0 + 5 * DAY) is True
    assert catalog.seal(kept, MANIFEST, now) is True
    assert catalog.get_package(later.package_id).expiry_due == T0 + 10 * DAY
    assert catalog.get_package(kept.package_id).expiry_due is None
    assert catalog.due_packages(T0 + 4 * DAY, 10) == []
    assert [r.package_id for r in catalog.due_packages(T0 + 11 * DAY, 10)] == [
        sooner.package_id,
        later.package_id,
    ]
    assert [r.package_id for r in catalog.due_packages(T0 + 11 * DAY, 1)] == [sooner.package_id]
    assert catalog.expire_sealed(later.package_id, T0 + 7 * DAY) is False  # not due yet
    assert catalog.expire_sealed(kept.package_id, T0 + 7 * DAY) is False  # never due
    assert catalog.expire_sealed(sooner.package_id, T0 + 7 * DAY) is True
    expired = catalog.get_package(sooner.package_id)
    assert (expired.state, expired.expired_at, expired.expiry_due) == (
        PackageState.EXPIRED,
        T0 + 7 * DAY,
        T0 + 5 * DAY,
    )
    assert catalog.expire_sealed(sooner.package_id, T0 + 8 * DAY) is False
    assert [r.package_id for r in catalog.due_packages(T0 + 11 * DAY, 10)] == [later.package_id]
    draft = created(catalog)
    assert catalog.expire_sealed(draft.package_id, T0 + 100 * DAY) is False


def test_the_outbox_holds_sealed_packages_until_published(catalog: Catalog) -> None:
    newer = sealed(catalog, created_at=T0 + HOUR, now=T0 + 2 * HOUR)
    older = sealed(catalog, created_at=T0, now=T0 + 3 * HOUR)
    created(catalog)  # a draft is never in it
    assert catalog.unpublished_seals() == [older, newer]
    assert catalog.unpublished_seals(limit=1) == [older]
    catalog.mark_published(older.package_id)
    assert catalog.unpublished_seals() == [newer]
    catalog.mark_published(older.package_id)  # again: nothing changes
    catalog.mark_published(newer.package_id)
    assert catalog.unpublished_seals() == []
    assert catalog.get_package(newer.package_id) == newer


# -- file lists -------------------------------------------------------------------------------


def test_files_read_back_in_path_order_one_at_a_time_and_in_pages(catalog: Catalog) -> None:
    record = created(catalog, blob_count=3)
    pid = record.package_id
    files = files_of(2100)  # more than one chunk's worth
    catalog.add_files(pid, files, verified_hex={digest(0).hex}, expires_at=record.expires_at)
    assert catalog.set_blob_status(pid, digest(2), BlobStatus.REJECTED, "size 3 (expected 12)")
    assert list(catalog.iter_files(pid)) == files
    assert list(catalog.iter_files(pid, after="d/0999.txt")) == files[1000:]
    assert list(catalog.iter_files(pid, after="d/1000.txt")) == files[1001:]
    assert list(catalog.iter_files(pid, after="d/0999.txtz")) == files[1000:]
    assert list(catalog.iter_files(pid, after="e")) == []
    assert catalog.get_file(pid, "d/1500.txt") == files[1500]
    assert catalog.get_file(pid, "d/0005.txt") == files[5]  # executable
    for missing in ("d/1500.tx", "a", "z", "d/2100.txt"):
        with pytest.raises(NotFound) as caught:
            catalog.get_file(pid, missing)
        assert error_code(caught.value) == "file_not_found"

    def view(entry: FileEntry) -> PackageFile:
        kind = int(entry.digest == digest(1)) + 2 * int(entry.digest == digest(2))
        status = [BlobStatus.VERIFIED, BlobStatus.PENDING, BlobStatus.REJECTED][kind]
        return PackageFile(entry, status, "size 3 (expected 12)" if kind == 2 else None)

    pages: list[list[PackageFile]] = []
    cursor: str | None = None
    while True:
        page = catalog.list_files(pid, 800, cursor)
        pages.append(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert [len(p) for p in pages] == [800, 800, 500]
    assert [f for p in pages for f in p] == [view(f) for f in files]


def test_a_sealed_packages_files_are_all_verified(catalog: Catalog) -> None:
    record = created(catalog)  # counted no blobs: it seals with its buckets pending
    pid = record.package_id
    files = files_of(4)
    catalog.add_files(pid, files, expires_at=record.expires_at)
    assert [f.status for f in catalog.list_files(pid, 10, None).items] == [BlobStatus.PENDING] * 4
    catalog.mark_files_complete(pid)
    catalog.request_finalize(pid)
    assert catalog.seal(catalog.get_package(pid), MANIFEST, T0) is True
    page = catalog.list_files(pid, 10, None)
    assert page.items == [PackageFile(f, BlobStatus.VERIFIED) for f in files]
    assert page.next_cursor is None


@pytest.mark.parametrize(
    "cursor",
    ["%%%", "eyJ4IjogMX0=", "eyJhZnRlciI6ICIifQ==", "eyJhZnRlciI6IDV9"],
    ids=["not base64", "no after", "empty after", "after not text"],
)
def test_a_files_listing_refuses_a_cursor_it_did_not_give(catalog: Catalog, cursor: str) -> None:
    record = created(catalog)
    catalog.add_files(record.package_id, files_of(3), expires_at=record.expires_at)
    with pytest.raises(InvalidInput) as caught:
        catalog.list_files(record.package_id, 2, cursor)
    assert error_code(caught.value) == "invalid_cursor"


def test_a_list_written_by_its_writer_opens_once(catalog: Catalog) -> None:
    record = created(catalog, files_in_parts=True)
    pid = record.package_id
    files = files_of(5)
    stale = 5 * MINUTE

    def claim(writer: str, now: datetime) -> bool:
        return catalog.claim_file_list(pid, writer, now, now - stale)

    assert claim("w1", T0) is True
    assert claim("w2", T0 + MINUTE) is False  # a live claim
    assert claim("w1", T0 + MINUTE) is False  # even for its holder
    catalog.release_file_list(pid, "w2")  # not the holder: nothing changes
    assert claim("w2", T0 + 2 * MINUTE) is False
    assert claim("w2", T0 + 6 * MINUTE) is True  # w1's claim went stale
    assert (
        catalog.finish_file_list(pid, "w1", blob_count=3, verified_count=0, total_bytes=1) is False
    )
    catalog.release_file_list(pid, "w2")
    assert claim("w3", T0 + 7 * MINUTE) is True
    catalog.add_file_chunks(pid, files, record.expires_at)
    blobs = {f.digest.hex: f.size for f in files}
    catalog.add_blob_buckets(pid, blobs, {digest(1).hex}, record.expires_at)
    assert catalog.finish_file_list(pid, "w3", blob_count=3, verified_count=1, total_bytes=57)
    assert catalog.get_package(pid) == stored(
        record, files_complete=True, blob_count=3, verified_count=1, total_bytes=57
    )
    assert list(catalog.iter_files(pid)) == files
    assert list(catalog.blob_states(pid)) == sorted(
        (
            BlobState(
                digest(i),
                10 + i,
                BlobStatus.VERIFIED if i == 1 else BlobStatus.PENDING,
            )
            for i in range(3)
        ),
        key=lambda b: b.digest.hex,
    )
    assert (
        catalog.finish_file_list(pid, "w3", blob_count=9, verified_count=9, total_bytes=9) is False
    )
    assert claim("w4", T0 + HOUR) is False  # complete: no writer any more


def test_list_parts_count_once_and_never_past_the_declared_size(catalog: Catalog) -> None:
    record = created(catalog, files_in_parts=True)
    pid = record.package_id
    files = files_of(6)
    first, second, third = files[0:2], files[2:4], files[3:6]

    def add(part: Sequence[FileEntry]) -> None:
        catalog.add_list_part(pid, part, 5, T0 - 5 * MINUTE, record.expires_at)

    add(first)
    add(first)  # sent again: kept once, counted once
    add(second)
    assert Counter(catalog.read_list_parts(pid)) == Counter(first + second)
    with pytest.raises(InvalidInput) as caught:
        add(third)  # 4 stored + 3 > 5
    assert (error_code(caught.value), caught.value.details) == (
        "file_list_too_long",
        {"declared": 5, "received": 7},
    )
    with pytest.raises(InvalidInput) as caught:
        add(files)  # 6 > 5 on its own
    assert (error_code(caught.value), caught.value.details) == (
        "file_list_too_long",
        {"declared": 5, "received": 6},
    )
    add(second)  # counted before: still fine at the cap
    assert Counter(catalog.read_list_parts(pid)) == Counter(first + second)
    catalog.delete_list_parts(pid)
    assert catalog.read_list_parts(pid) == []
    add(third)  # the count started again
    add(first)
    assert Counter(catalog.read_list_parts(pid)) == Counter(third + first)


def test_a_list_part_is_refused_while_the_list_is_not_open(catalog: Catalog) -> None:
    record = created(catalog, files_in_parts=True)
    pid = record.package_id
    files = files_of(4)

    def add(part: Sequence[FileEntry], stale_before: datetime) -> None:
        catalog.add_list_part(pid, part, 4, stale_before, record.expires_at)

    assert catalog.claim_file_list(pid, "writer", T0, T0 - 5 * MINUTE)
    with pytest.raises(Conflict) as caught:
        add(files[:1], T0 - 5 * MINUTE)  # the writer is live
    assert error_code(caught.value) == "busy"
    add(files[:1], T0 + MINUTE)  # its claim is stale
    assert catalog.finish_file_list(pid, "writer", blob_count=0, verified_count=0, total_bytes=0)
    with pytest.raises(Conflict) as caught:
        add(files[1:2], T0)
    assert error_code(caught.value) == "file_list_complete"
    add(files[:1], T0)  # counted before: nothing to refuse

    other = created(catalog, files_in_parts=True)
    assert catalog.expire(other.package_id, T0 + 80 * HOUR, T0) is True
    with pytest.raises(Conflict) as caught:
        catalog.add_list_part(other.package_id, files[:1], 4, T0, other.expires_at)
    assert error_code(caught.value) == "not_a_draft"


# -- blob states ------------------------------------------------------------------------------


@pytest.fixture
def draft_with_blobs(catalog: Catalog) -> PackageRecord:
    """A complete draft listing three blobs, all pending."""
    record = created(catalog, blob_count=3)
    catalog.add_files(record.package_id, files_of(6), expires_at=record.expires_at)
    catalog.mark_files_complete(record.package_id)
    return catalog.get_package(record.package_id)


def _counts(catalog: Catalog, package_id: str) -> tuple[int, int]:
    record = catalog.get_package(package_id)
    return record.verified_count, record.rejected_count


def test_blob_states_read_in_digest_order_by_status_and_range(
    catalog: Catalog, draft_with_blobs: PackageRecord
) -> None:
    pid = draft_with_blobs.package_id
    states = sorted(
        (BlobState(digest(i), 10 + i, BlobStatus.PENDING) for i in range(3)),
        key=lambda b: b.digest.hex,
    )
    assert list(catalog.blob_states(pid)) == states
    assert catalog.get_blob_state(pid, digest(1)) == BlobState(digest(1), 11, BlobStatus.PENDING)
    assert catalog.get_blob_state(pid, digest(7)) is None
    assert catalog.get_blob_state(str(uuid.uuid4()), digest(1)) is None
    assert catalog.set_blob_status(pid, digest(1), BlobStatus.REJECTED, "blake3:" + "1" * 64)
    rejected = BlobState(digest(1), 11, BlobStatus.REJECTED, "blake3:" + "1" * 64)
    assert list(catalog.blob_states(pid, BlobStatus.REJECTED)) == [rejected]
    assert list(catalog.blob_states(pid, BlobStatus.VERIFIED)) == []
    first, middle, last = (s.digest.hex for s in states)
    between = catalog.blob_states_between(pid, first, middle)
    assert set(between) == {first, middle}
    assert catalog.blob_states_between(pid, last, last) == {
        last: catalog.get_blob_state(pid, Digest(last))
    }
    assert catalog.blob_states_between(pid, "0" * 64, "0" * 63 + "1") == {}


def test_unverified_blob_states_start_after_a_digest_and_stop_at_a_limit(
    catalog: Catalog, draft_with_blobs: PackageRecord
) -> None:
    pid = draft_with_blobs.package_id
    states = sorted(catalog.blob_states(pid), key=lambda b: b.digest.hex)
    first, middle, last = (s.digest.hex for s in states)
    assert catalog.set_blob_status(pid, Digest(middle), BlobStatus.VERIFIED)
    assert catalog.set_blob_status(pid, Digest(last), BlobStatus.REJECTED, "blake3:" + "3" * 64)
    pending, rejected = states[0], catalog.get_blob_state(pid, Digest(last))
    assert catalog.unverified_blob_states(pid, None, 10) == [pending, rejected]
    assert catalog.unverified_blob_states(pid, None, 1) == [pending]
    assert catalog.unverified_blob_states(pid, first, 10) == [rejected]  # after, not from
    assert catalog.unverified_blob_states(pid, middle, 10) == [rejected]
    assert catalog.unverified_blob_states(pid, "0" * 64, 2) == [pending, rejected]
    assert catalog.unverified_blob_states(pid, last, 10) == []
    assert catalog.unverified_blob_states(pid, None, 0) == []
    assert catalog.unverified_blob_states(str(uuid.uuid4()), None, 10) == []


def test_a_blob_moves_once_with_the_packages_counters(
    catalog: Catalog, draft_with_blobs: PackageRecord
) -> None:
    pid = draft_with_blobs.package_id
    seen = "blake3:" + "2" * 64
    assert catalog.set_blob_status(pid, digest(0), BlobStatus.VERIFIED) is True
    assert _counts(catalog, pid) == (1, 0)
    assert catalog.set_blob_status(pid, digest(0), BlobStatus.VERIFIED) is False  # redelivered
    assert catalog.set_blob_status(pid, digest(0), BlobStatus.REJECTED, seen) is False  # never back
    assert catalog.get_blob_state(pid, digest(0)) == BlobState(digest(0), 10, BlobStatus.VERIFIED)
    assert catalog.set_blob_status(pid, digest(1), BlobStatus.REJECTED, seen) is True
    assert _counts(catalog, pid) == (1, 1)
    assert catalog.set_blob_status(pid, digest(1), BlobStatus.REJECTED, "other") is False
    assert catalog.get_blob_state(pid, digest(1)) == BlobState(
        digest(1), 11, BlobStatus.REJECTED, seen
    )
    assert catalog.set_blob_status(pid, digest(1), BlobStatus.VERIFIED) is True  # right bytes
    assert _counts(catalog, pid) == (2, 0)
    assert catalog.get_blob_state(pid, digest(1)) == BlobState(digest(1), 11, BlobStatus.VERIFIED)
    with pytest.raises(NotFound) as caught:
        catalog.set_blob_status(pid, digest(9), BlobStatus.VERIFIED)
    assert error_code(caught.value) == "blob_not_listed"


def test_a_stale_expected_state_is_only_a_hint(
    catalog: Catalog, draft_with_blobs: PackageRecord
) -> None:
    pid = draft_with_blobs.package_id
    read = catalog.get_blob_state(pid, digest(0))
    assert read is not None and read.status is BlobStatus.PENDING
    assert catalog.set_blob_status(pid, digest(0), BlobStatus.REJECTED, "bad")
    assert catalog.set_blob_status(pid, digest(0), BlobStatus.VERIFIED, expected=read) is True
    assert _counts(catalog, pid) == (1, 0)
    assert catalog.set_blob_status(pid, digest(0), BlobStatus.REJECTED, "x", expected=read) is False
    assert _counts(catalog, pid) == (1, 0)
    other = catalog.get_blob_state(pid, digest(1))
    assert catalog.set_blob_status(pid, digest(2), BlobStatus.VERIFIED, expected=other) is True
    assert catalog.get_blob_state(pid, digest(1)) == other  # the hint names another blob
    assert _counts(catalog, pid) == (2, 0)


def test_blobs_of_a_package_that_is_no_longer_a_draft_never_move(catalog: Catalog) -> None:
    record = created(catalog, blob_count=2)
    pid = record.package_id
    catalog.add_files(pid, files_of(2, kinds=2), expires_at=record.expires_at)
    assert catalog.expire(pid, T0 + 80 * HOUR, T0) is True
    assert catalog.set_blob_status(pid, digest(0), BlobStatus.VERIFIED) is False
    assert catalog.set_blob_statuses(pid, {digest(1).hex: (BlobStatus.VERIFIED, None)}) == set()
    assert _counts(catalog, pid) == (0, 0)
    assert [b.status for b in catalog.blob_states(pid)] == [BlobStatus.PENDING] * 2


def test_many_blobs_move_at_once_across_buckets(catalog: Catalog) -> None:
    record = created(catalog, blob_count=150, verified_count=1)
    pid = record.package_id
    files = files_of(150, kinds=150)
    catalog.add_files(pid, files, verified_hex={digest(0).hex}, expires_at=record.expires_at)
    assert catalog.set_blob_status(pid, digest(1), BlobStatus.REJECTED, "bad 1")
    assert catalog.set_blob_statuses(pid, {}) == set()
    changes: dict[str, tuple[BlobStatus, str | None]] = {
        digest(i).hex: (BlobStatus.VERIFIED, None) for i in range(0, 100)
    }
    changes.update({digest(i).hex: (BlobStatus.REJECTED, f"bad {i}") for i in range(100, 140)})
    changes[digest(1).hex] = (BlobStatus.REJECTED, "bad again")  # already so: stays
    moved = catalog.set_blob_statuses(pid, changes)
    assert moved == {digest(i).hex for i in range(2, 140)}
    assert _counts(catalog, pid) == (1 + 98, 1 + 40)
    assert catalog.get_blob_state(pid, digest(1)) == BlobState(
        digest(1), 11, BlobStatus.REJECTED, "bad 1"
    )
    assert catalog.get_blob_state(pid, digest(120)) == BlobState(
        digest(120), 130, BlobStatus.REJECTED, "bad 120"
    )
    again = {digest(i).hex: (BlobStatus.VERIFIED, None) for i in range(95, 105)}
    assert catalog.set_blob_statuses(pid, again) == {digest(i).hex for i in range(100, 105)}
    assert _counts(catalog, pid) == (104, 36)
    with pytest.raises(NotFound) as caught:
        catalog.set_blob_statuses(
            pid,
            {
                digest(140).hex: (BlobStatus.VERIFIED, None),
                digest(999).hex: (BlobStatus.VERIFIED, None),
            },
        )
    assert error_code(caught.value) == "blob_not_listed"
    assert catalog.get_blob_state(pid, digest(140)) == BlobState(
        digest(140), 150, BlobStatus.PENDING
    )
    assert _counts(catalog, pid) == (104, 36)


# -- blobs each backend holds ---------------------------------------------------------------------


LOCK_10 = Protection(False, "GOVERNANCE", T0 + 10 * DAY)


def test_a_recorded_blob_is_held_by_its_backend_only(catalog: Catalog) -> None:
    d, other = digest("held"), digest("other")
    assert catalog.held_records("s3", [d]) == {}
    assert catalog.record_blob("s3", d, 42, str(uuid.uuid4()), T0, LOCK_10, "p1") is True
    held = HeldBlob(42, LOCK_10, frozenset({"p1"}))
    assert catalog.held_records("s3", [d, other, d]) == {d.hex: held}
    assert catalog.held_blobs("s3", [d, other]) == {d.hex: LOCK_10}
    assert catalog.verified_blobs("s3", [d, other]) == {d.hex}
    assert catalog.held_records("local", [d]) == {}
    assert catalog.verified_blobs("s3", []) == set()


def test_recording_a_held_blob_again_only_raises_it_and_adds_its_producer(catalog: Catalog) -> None:
    d = digest("held")
    assert catalog.record_blob("s3", d, 42, str(uuid.uuid4()), T0, LOCK_10, "p1")
    longer = Protection(False, "GOVERNANCE", T0 + 20 * DAY)
    assert catalog.record_blob("s3", d, 99, str(uuid.uuid4()), T0 + HOUR, longer, "p2") is True
    assert catalog.held_records("s3", [d]) == {d.hex: HeldBlob(42, longer, frozenset({"p1", "p2"}))}
    assert catalog.record_blob("s3", d, 42, str(uuid.uuid4()), T0, LOCK_10) is True  # shorter
    assert catalog.record_blob("s3", d, 42, str(uuid.uuid4()), T0) is True
    assert catalog.add_blob_producer("s3", d, "p3") is True
    assert catalog.held_records("s3", [d]) == {
        d.hex: HeldBlob(42, longer, frozenset({"p1", "p2", "p3"}))
    }


def test_protection_is_recorded_but_never_weakened(catalog: Catalog) -> None:
    d, unknown = digest("held"), digest("unknown")
    assert catalog.record_blob("s3", d, 1, str(uuid.uuid4()), T0, LOCK_10) is True

    def protection() -> Protection | None:
        return catalog.held_blobs("s3", [d])[d.hex]

    assert catalog.raise_blob_protection("s3", d, Protection(False, "GOVERNANCE", T0 + DAY))
    assert protection() == LOCK_10
    assert catalog.raise_blob_protection("s3", d, Protection(True, None, None, T0 + 30 * DAY))
    assert protection() == Protection(False, "GOVERNANCE", T0 + 10 * DAY, T0 + 30 * DAY)
    assert catalog.raise_blob_protection("s3", d, Protection(True, None, None, T0 + 20 * DAY))
    assert protection() == Protection(False, "GOVERNANCE", T0 + 10 * DAY, T0 + 30 * DAY)
    # A blob recorded before protections were: unknown, until told.
    assert catalog.record_blob("s3", unknown, 2, str(uuid.uuid4()), T0) is True
    assert catalog.held_records("s3", [unknown]) == {unknown.hex: HeldBlob(2, None)}
    assert catalog.raise_blob_protection("s3", unknown, Protection(True, None, None, T0 + DAY))
    assert catalog.held_blobs("s3", [unknown]) == {
        unknown.hex: Protection(True, None, None, T0 + DAY)
    }
    assert catalog.raise_blob_protection("s3", unknown, Protection(False))
    assert catalog.held_blobs("s3", [unknown]) == {
        unknown.hex: Protection(False, None, None, T0 + DAY)
    }
    assert catalog.raise_blob_protection("s3", unknown, Protection(True))
    assert catalog.held_blobs("s3", [unknown]) == {
        unknown.hex: Protection(False, None, None, T0 + DAY)
    }


def test_a_blob_not_held_takes_no_producer_and_no_protection(catalog: Catalog) -> None:
    d = digest("never recorded")
    assert catalog.add_blob_producer("s3", d, "p1") is False
    assert catalog.raise_blob_protection("s3", d, LOCK_10) is False
    assert catalog.held_records("s3", [d]) == {}


def test_the_sweep_takes_only_expired_unlocked_unleased_blobs(catalog: Catalog) -> None:
    pid = str(uuid.uuid4())
    late, early, kept, unknown = (digest(n) for n in ("late", "early", "kept", "unknown"))
    assert catalog.record_blob("s3", late, 1, pid, T0, Protection(True, None, None, T0 + 14 * DAY))
    assert catalog.record_blob("s3", early, 2, pid, T0, Protection(True, None, None, T0 + 7 * DAY))
    assert catalog.record_blob("s3", kept, 3, pid, T0, LOCK_10)
    assert catalog.record_blob("s3", unknown, 4, pid, T0)
    assert catalog.sweepable_blobs("s3", T0 + 30 * DAY, 10) == [
        SweepCandidate(early, 2, T0 + 7 * DAY),
        SweepCandidate(late, 1, T0 + 14 * DAY),
    ]
    assert catalog.sweepable_blobs("s3", T0 + 10 * DAY, 10) == [
        SweepCandidate(early, 2, T0 + 7 * DAY)
    ]
    assert catalog.sweepable_blobs("s3", T0 + 30 * DAY, 1) == [
        SweepCandidate(early, 2, T0 + 7 * DAY)
    ]
    assert catalog.sweepable_blobs("local", T0 + 30 * DAY, 10) == []

    assert catalog.lease_blob("s3", early, T0 + 8 * DAY) is True
    assert catalog.lease_blob("s3", early, T0 + 7 * DAY) is True  # a lease only lengthens
    assert catalog.tombstone_blob("s3", early, T0 + 9 * DAY, T0 + 8 * DAY - HOUR) is False
    assert catalog.tombstone_blob("s3", early, T0 + 7 * DAY, T0 + 8 * DAY + HOUR) is False
    assert catalog.tombstone_blob("s3", early, T0 + 9 * DAY, T0 + 8 * DAY + HOUR) is True
    assert catalog.tombstone_blob("s3", early, T0 + 9 * DAY, T0 + 8 * DAY + HOUR) is False
    # Tombstoned: nothing may rely on it any more.
    assert catalog.held_records("s3", [early, late]) == {
        late.hex: HeldBlob(1, Protection(True, None, None, T0 + 14 * DAY))
    }
    assert catalog.record_blob("s3", early, 2, pid, T0, Protection(False), "p1") is False
    assert catalog.record_blob("s3", early, 2, pid, T0, None, "p1") is False
    assert catalog.record_blob("s3", early, 2, pid, T0) is False
    assert catalog.add_blob_producer("s3", early, "p1") is False
    assert catalog.raise_blob_protection("s3", early, Protection(False)) is False
    assert catalog.lease_blob("s3", early, T0 + 30 * DAY) is False
    assert catalog.swept_blobs("s3", [early, late, digest("never")]) == {early.hex}
    assert catalog.swept_blobs("local", [early]) == set()
    assert catalog.sweepable_blobs("s3", T0 + 30 * DAY, 10) == [
        SweepCandidate(early, 2, T0 + 7 * DAY, tombstoned=True),
        SweepCandidate(late, 1, T0 + 14 * DAY),
    ]

    catalog.restore_blob("s3", early, T0 + 40 * DAY)  # storage kept it
    assert catalog.held_records("s3", [early]) == {
        early.hex: HeldBlob(2, Protection(True, None, None, T0 + 7 * DAY))
    }
    assert catalog.sweepable_blobs("s3", T0 + 30 * DAY, 10) == [
        SweepCandidate(late, 1, T0 + 14 * DAY)
    ]
    assert catalog.sweepable_blobs("s3", T0 + 41 * DAY, 10) == [
        SweepCandidate(late, 1, T0 + 14 * DAY),
        SweepCandidate(early, 2, T0 + 7 * DAY),
    ]
    catalog.forget_blob("s3", late)  # not tombstoned: kept
    assert catalog.tombstone_blob("s3", late, T0 + 30 * DAY, T0 + 30 * DAY) is True
    catalog.forget_blob("s3", late)
    assert catalog.held_records("s3", [late]) == {}
    assert catalog.sweepable_blobs("s3", T0 + 41 * DAY, 10) == [
        SweepCandidate(early, 2, T0 + 7 * DAY)
    ]
    assert catalog.lease_blob("s3", late, T0 + 50 * DAY) is True  # not recorded: nothing to hold
    assert catalog.record_blob("s3", late, 1, pid, T0 + 31 * DAY) is True  # stored anew

    for never in (kept, unknown, digest("nothing")):
        assert catalog.tombstone_blob("s3", never, T0 + 9999 * DAY, T0 + 9999 * DAY) is False


def test_a_blob_that_stops_expiring_leaves_the_sweep(catalog: Catalog) -> None:
    d = digest("relied on for good")
    expiring = Protection(True, None, None, T0 + 7 * DAY)
    assert catalog.record_blob("s3", d, 1, str(uuid.uuid4()), T0, expiring)
    assert catalog.raise_blob_protection("s3", d, Protection(True, None, None, T0 + 9 * DAY))
    assert catalog.sweepable_blobs("s3", T0 + 30 * DAY, 10) == [SweepCandidate(d, 1, T0 + 9 * DAY)]
    assert catalog.raise_blob_protection("s3", d, Protection(False, "GOVERNANCE", T0 + 99 * DAY))
    assert catalog.sweepable_blobs("s3", T0 + 999 * DAY, 10) == []
    assert catalog.tombstone_blob("s3", d, T0 + 999 * DAY, T0 + 999 * DAY) is False


# -- bundles, schemas, tokens ---------------------------------------------------------------------


def test_a_bundle_keeps_its_members_in_order(catalog: Catalog) -> None:
    pid = str(uuid.uuid4())
    members = [(digest(i).hex, 100 - i) for i in (3, 1, 2)]
    assert catalog.get_bundle(pid, "b" * 64) is None
    catalog.put_bundle(pid, "b" * 64, members, T0 + DAY)
    catalog.put_bundle(pid, "b" * 64, members)  # again: harmless
    catalog.put_bundle(pid, "c" * 64, members[:1])
    assert catalog.get_bundle(pid, "b" * 64) == members
    assert catalog.get_bundle(pid, "c" * 64) == members[:1]
    assert catalog.get_bundle(str(uuid.uuid4()), "b" * 64) is None


def _schema(slug: str, title: str = "run") -> MetadataSchema:
    return MetadataSchema.create(
        slug, {"type": "object", "title": title, "properties": {"id": {"type": "integer"}}}
    )


def test_a_schema_registers_once(catalog: Catalog) -> None:
    schema = _schema("contract.run")
    assert catalog.put_schema(schema, T0) == (True, T0)
    assert catalog.put_schema(_schema("contract.run"), T0 + DAY) == (False, T0)
    expected = StoredSchema("contract.run", schema.canonical_bytes.decode(), str(schema.digest), T0)
    assert catalog.get_schema("contract.run") == expected
    with pytest.raises(Conflict) as caught:
        catalog.put_schema(_schema("contract.run", "other"), T0 + DAY)
    assert (error_code(caught.value), caught.value.details) == (
        "schema_conflict",
        {"slug": "contract.run", "registered_digest": str(schema.digest)},
    )
    assert catalog.get_schema("contract.run") == expected
    for unknown in ("contract.other", "Not A Slug", ""):
        with pytest.raises(NotFound) as missing:
            catalog.get_schema(unknown)
        assert error_code(missing.value) == "schema_not_found"


def test_schemas_list_by_slug_a_page_at_a_time(catalog: Catalog) -> None:
    slugs = ["e.run", "a.run", "c.run", "b.run", "d.run"]
    for i, slug in enumerate(slugs):
        catalog.put_schema(_schema(slug), T0 + i * HOUR)
    pages = []
    cursor: str | None = None
    while True:
        page = catalog.list_schemas(2, cursor)
        pages.append([s.slug for s in page.items])
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == [["a.run", "b.run"], ["c.run", "d.run"], ["e.run"]]
    assert catalog.list_schemas(10, None).items[0] == catalog.get_schema("a.run")
    for bad in ("%%%", "WzFd"):
        with pytest.raises(InvalidInput) as caught:
            catalog.list_schemas(2, bad)
        assert error_code(caught.value) == "invalid_cursor"


def test_tokens_are_found_by_hash_until_revoked(catalog: Catalog) -> None:
    bound = IssuedToken("tok-1", "ci", ("write",), ("p1", "p2"), T0)
    admin = IssuedToken("tok-2", "ops", ("admin", "read"), None, T0 + HOUR)
    unbound = IssuedToken("tok-3", "bot", ("read",), (), T0 + 2 * HOUR)
    catalog.put_token("c" * 64, bound)
    catalog.put_token("a" * 64, admin)
    catalog.put_token("b" * 64, unbound)
    assert catalog.find_token("c" * 64) == bound
    assert catalog.find_token("a" * 64) == admin
    assert catalog.find_token("b" * 64) == replace(unbound, producers=None)
    assert catalog.find_token("d" * 64) is None
    assert catalog.list_tokens() == [admin, replace(unbound, producers=None), bound]
    assert catalog.revoke_token("tok-2") is True
    assert catalog.revoke_token("tok-2") is True  # still there, revoked again
    assert catalog.revoke_token("tok-9") is False
    assert catalog.find_token("a" * 64) is None
    assert catalog.list_tokens() == [
        replace(admin, revoked=True),
        replace(unbound, producers=None),
        bound,
    ]


# -- races: exactly one winner ------------------------------------------------------------------

RACERS = 6


def test_concurrent_creators_of_one_key_make_one_package(catalog: Catalog) -> None:
    records = [new_record(key="raced") for _ in range(RACERS)]
    results = all_at_once(RACERS, lambda i: catalog.create_package(records[i]))
    winners = [records[i] for i, result in enumerate(results) if result is None]
    assert len(winners) == 1
    winner = winners[0]
    losers = [r for r in results if r is not None]
    assert len(losers) == RACERS - 1
    for lost in losers:
        assert isinstance(lost, KeyTaken)
        assert (lost.package_id, lost.fingerprint) == (winner.package_id, winner.fingerprint)
    assert catalog.find_claim(PRODUCER, "raced") == (winner.package_id, winner.fingerprint)


def test_concurrent_sealers_seal_once(catalog: Catalog) -> None:
    record = sealable(catalog)
    results = all_at_once(RACERS, lambda i: catalog.seal(record, MANIFEST, T0 + i * MINUTE))
    assert sorted(results, key=str) == [False] * (RACERS - 1) + [True]
    sealed_at = catalog.get_package(record.package_id).sealed_at
    assert sealed_at == T0 + results.index(True) * MINUTE
    assert catalog.unpublished_seals() == [catalog.get_package(record.package_id)]


def test_concurrent_verifications_of_one_blob_count_it_once(
    catalog: Catalog, draft_with_blobs: PackageRecord
) -> None:
    pid = draft_with_blobs.package_id
    read = catalog.get_blob_state(pid, digest(0))
    results = all_at_once(
        RACERS,
        lambda i: catalog.set_blob_status(pid, digest(0), BlobStatus.VERIFIED, expected=read),
    )
    assert sorted(results, key=str) == [False] * (RACERS - 1) + [True]
    assert _counts(catalog, pid) == (1, 0)


def test_concurrent_verifications_of_different_blobs_all_count(
    catalog: Catalog, draft_with_blobs: PackageRecord
) -> None:
    pid = draft_with_blobs.package_id
    results = all_at_once(3, lambda i: catalog.set_blob_status(pid, digest(i), BlobStatus.VERIFIED))
    assert results == [True, True, True]
    assert _counts(catalog, pid) == (3, 0)


def test_concurrent_writers_of_a_list_claim_it_once(catalog: Catalog) -> None:
    record = created(catalog, files_in_parts=True)
    results = all_at_once(
        RACERS,
        lambda i: catalog.claim_file_list(record.package_id, f"w{i}", T0, T0 - 5 * MINUTE),
    )
    assert sorted(results, key=str) == [False] * (RACERS - 1) + [True]


def test_concurrent_parts_never_pass_the_declared_size(catalog: Catalog) -> None:
    record = created(catalog, files_in_parts=True)
    files = files_of(2 * RACERS)
    parts = [files[2 * i : 2 * i + 2] for i in range(RACERS)]
    results = all_at_once(
        RACERS,
        lambda i: catalog.add_list_part(
            record.package_id, parts[i], 5, T0 - 5 * MINUTE, record.expires_at
        ),
    )
    kept = [parts[i] for i, result in enumerate(results) if result is None]
    refused = [r for r in results if r is not None]
    assert len(kept) == 2
    assert all(isinstance(r, InvalidInput) and r.code == "file_list_too_long" for r in refused)
    assert Counter(catalog.read_list_parts(record.package_id)) == Counter(
        f for part in kept for f in part
    )


@pytest.mark.parametrize("write", ["mark_published", "record_link", "mark_files_complete"])
def test_writes_naming_no_package_create_none(
    catalog: Catalog, kind: str, request: pytest.FixtureRequest, write: str
) -> None:
    package_id = str(uuid.uuid4())
    with pytest.raises(NotFound) as refused:
        if write == "mark_published":
            catalog.mark_published(package_id)
        elif write == "record_link":
            catalog.record_link(package_id, {"status": 200})
        else:
            catalog.mark_files_complete(package_id)
    assert error_code(refused.value) == "package_not_found"
    with pytest.raises(NotFound) as caught:
        catalog.get_package(package_id)
    assert error_code(caught.value) == "package_not_found"
