"""Large lists behave as small ones, whatever the catalog's layout (``conftest.catalog``).

The DynamoDB catalog spreads the chunks, buckets and parts of a list of more than
``shards.FILES_PER_SHARD`` files over several partition keys (``docs/catalog.md``). Here that
threshold, the chunk size and the bucket size are lowered, so a 2,400-file list is spread over
eight keys, in many chunks and buckets each: every read of the port must still see one list in
path order, one set of blobs in digest order, and every status move must count once. The
DynamoDB runs also check that the items really are spread (else these tests would prove
nothing about shards).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from artifactstore.adapters.dynamodb import file_list_items, shards
from artifactstore.domain.digests import Digest
from artifactstore.domain.manifest import FileEntry
from artifactstore.domain.packages import BlobState, BlobStatus, PackageFile, PackageRecord
from artifactstore.errors import NotFound
from artifactstore.ports.catalog import Catalog
from tests.contract.test_catalog_contract import (
    MANIFEST,
    MINUTE,
    T0,
    digest,
    error_code,
    new_record,
)

COUNT = 2_400
BLOBS = 300
PER_SHARD = 300  # 2,400 files: eight shards (``shards.MAX_SHARDS``)
PER_CHUNK = 40
PER_BUCKET = 8
# Prefixes whose UTF-8 order differs from UTF-16's ("😀" is a surrogate pair there).
PREFIXES = [
    "d",
    "D",
    "z",
    "é",
    "Ω",
    "😀",
    "a/b",
    "\uff5a",
]  # fullwidth z: after "Ω", before "😀" in UTF-8


@pytest.fixture(autouse=True)
def sharded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small shards, chunks and buckets (the in-memory catalog has none of them)."""
    monkeypatch.setattr(shards, "FILES_PER_SHARD", PER_SHARD)
    monkeypatch.setattr(file_list_items, "FILES_PER_CHUNK", PER_CHUNK)
    monkeypatch.setattr(file_list_items, "BLOBS_PER_BUCKET", PER_BUCKET)


def created(catalog: Catalog, file_count: int, **fields: Any) -> PackageRecord:
    """A draft whose list declares ``file_count`` files (the size shards are chosen by)."""
    record = replace(new_record(**fields), file_count=file_count)
    catalog.create_package(record)
    return record


def spread_files() -> list[FileEntry]:
    """``COUNT`` files in path order (UTF-8 bytes, as the manifest), over ``BLOBS`` blobs."""
    files = [
        FileEntry(f"{PREFIXES[i % len(PREFIXES)]}/{i:04}.txt", 10 + i % BLOBS, digest(i % BLOBS))
        for i in range(COUNT)
    ]
    return sorted(files, key=lambda f: f.path.encode())


def items_per_shard(catalog: Catalog, package_id: str, prefix: str) -> list[int]:
    """DynamoDB only: how many items whose sort key starts with ``prefix`` each key of the
    catalog's table holds (shard 0 is ``PKG#<id>``; one key past the last shard, to see it is
    empty)."""
    from tests.integration.dynamodb_calls import catalog_models

    chunks = catalog_models(catalog).FileChunkModel
    return [
        chunks.count(
            shards.shard_key(package_id, s),
            chunks.sk.startswith(prefix),
            consistent_read=True,
        )
        for s in range(shards.MAX_SHARDS + 1)
    ]


def chunk_edges(files: list[FileEntry]) -> Iterator[FileEntry]:
    """The first and last file of every chunk of every shard, as the DynamoDB catalog cuts
    them: the files a lookup finds at the edges of a chunk item."""
    count = shards.shard_count(len(files))
    for s in range(count):
        mine = [f for f in files if shards.path_shard(f.path, count) == s]
        for run in file_list_items.split_files(mine):
            yield run[0]
            yield run[-1]


def test_a_list_over_many_shards_reads_back_as_one(catalog: Catalog, kind: str) -> None:
    files = spread_files()
    record = created(catalog, COUNT, blob_count=BLOBS)
    pid = record.package_id
    catalog.add_files(pid, files, verified_hex={digest(0).hex}, expires_at=record.expires_at)
    if kind == "dynamodb":
        chunks = items_per_shard(catalog, pid, "FILE#")
        assert chunks[-1] == 0 and all(n >= 5 for n in chunks[:-1]), chunks
        buckets = items_per_shard(catalog, pid, "BLOB#")
        assert buckets[-1] == 0 and all(n >= 3 for n in buckets[:-1]), buckets

    assert list(catalog.iter_files(pid)) == files
    for i in range(0, COUNT, 61):
        after = files[i].path
        assert (
            list(itertools.islice(catalog.iter_files(pid, after=after), 7)) == files[i + 1 : i + 8]
        )
        between = after + " "  # sorts after it, before the next
        assert next(catalog.iter_files(pid, after=between)) == files[i + 1]
    assert list(catalog.iter_files(pid, after="0")) == files
    assert list(catalog.iter_files(pid, after=files[-1].path)) == []

    edges = list(chunk_edges(files))
    assert len(edges) > 100
    for entry in edges:
        assert catalog.get_file(pid, entry.path) == entry
    for missing in ("0", "d/0000.tx", files[0].path + " ", files[-1].path + "x", "zz"):
        with pytest.raises(NotFound) as caught:
            catalog.get_file(pid, missing)
        assert error_code(caught.value) == "file_not_found"


def test_pages_of_files_cross_the_shards_in_path_order(catalog: Catalog) -> None:
    files = spread_files()
    record = created(catalog, COUNT, blob_count=BLOBS)
    pid = record.package_id
    catalog.add_files(pid, files, verified_hex={digest(0).hex}, expires_at=record.expires_at)
    assert catalog.set_blob_status(pid, digest(1), BlobStatus.REJECTED, "size 3 (expected 11)")

    def view(entry: FileEntry) -> PackageFile:
        if entry.digest == digest(0):
            return PackageFile(entry, BlobStatus.VERIFIED)
        if entry.digest == digest(1):
            return PackageFile(entry, BlobStatus.REJECTED, "size 3 (expected 11)")
        return PackageFile(entry, BlobStatus.PENDING)

    for limit in (1, 170, 2_399):
        seen: list[PackageFile] = []
        cursor: str | None = None
        pages = 0
        while pages == 0 or cursor is not None:
            page = catalog.list_files(pid, limit, cursor)
            seen.extend(page.items)
            cursor = page.next_cursor
            pages += 1
            if limit == 1 and pages == 60:  # enough single steps across the shards
                break
        if limit == 1:
            assert seen == [view(f) for f in files[:60]]
        else:
            assert pages == -(-COUNT // limit)
            assert seen == [view(f) for f in files]


def test_blobs_over_many_shards_are_found_and_move_once(catalog: Catalog, kind: str) -> None:
    files = spread_files()
    record = created(catalog, COUNT, blob_count=BLOBS)
    pid = record.package_id
    catalog.add_files(pid, files, expires_at=record.expires_at)
    catalog.mark_files_complete(pid)
    if kind == "dynamodb":
        assert all(items_per_shard(catalog, pid, "BLOB#")[:-1])
    states = sorted(
        (BlobState(digest(i), 10 + i, BlobStatus.PENDING) for i in range(BLOBS)),
        key=lambda b: b.digest.hex,
    )
    assert list(catalog.blob_states(pid)) == states
    for state in states:  # every blob, in every bucket of every shard
        assert catalog.get_blob_state(pid, state.digest) == state
    for first in ("00", "3f", "80", "c1", "ff"):
        assert catalog.get_blob_state(pid, Digest(first * 32)) is None

    # One blob of each shard: rejected, then verified (a hint from another shard's blob too).
    count = shards.shard_count(COUNT)
    one_each: dict[int, BlobState] = {}
    for state in states:
        one_each.setdefault(shards.hex_shard(state.digest.hex, count), state)
    assert len(one_each) == count
    other = states[0]
    for state in one_each.values():
        assert catalog.set_blob_status(pid, state.digest, BlobStatus.REJECTED, "bad")
        assert not catalog.set_blob_status(pid, state.digest, BlobStatus.REJECTED, "bad")
        assert catalog.set_blob_status(pid, state.digest, BlobStatus.VERIFIED, expected=other)
    moved_one = {s.digest.hex for s in one_each.values()}
    assert _counts(catalog, pid) == (count, 0)

    # Many at once, across every shard; nothing moves while one of them is not listed.
    changes: dict[str, tuple[BlobStatus, str | None]] = {
        s.digest.hex: (BlobStatus.REJECTED, f"bad {n}")
        if n % 5 == 0
        else (BlobStatus.VERIFIED, None)
        for n, s in enumerate(states[:200])
    }
    with pytest.raises(NotFound) as caught:
        catalog.set_blob_statuses(pid, {**changes, "ff" * 32: (BlobStatus.VERIFIED, None)})
    assert error_code(caught.value) == "blob_not_listed"
    assert _counts(catalog, pid) == (count, 0)
    moved = catalog.set_blob_statuses(pid, changes)
    assert moved == set(changes) - moved_one
    assert catalog.set_blob_statuses(pid, changes) == set()  # redelivered: nothing moves
    rejected = {h for h, (new, _) in changes.items() if new is BlobStatus.REJECTED} - moved_one
    verified = (set(changes) | moved_one) - rejected
    assert _counts(catalog, pid) == (len(verified), len(rejected))
    by_status = Counter(b.status for b in catalog.blob_states(pid))
    assert by_status == {
        BlobStatus.VERIFIED: len(verified),
        BlobStatus.REJECTED: len(rejected),
        BlobStatus.PENDING: BLOBS - len(verified) - len(rejected),
    }
    assert [b.digest.hex for b in catalog.blob_states(pid, BlobStatus.REJECTED)] == sorted(rejected)

    low, high = states[10].digest.hex, states[250].digest.hex
    between = catalog.blob_states_between(pid, low, high)
    assert sorted(between) == [s.digest.hex for s in states[10:251]]
    assert between == {h: catalog.get_blob_state(pid, Digest(h)) for h in between}


def test_unverified_blobs_over_many_shards_page_in_digest_order(catalog: Catalog) -> None:
    files = spread_files()
    record = created(catalog, COUNT, blob_count=BLOBS)
    pid = record.package_id
    catalog.add_files(pid, files, expires_at=record.expires_at)
    catalog.mark_files_complete(pid)
    ordered = [b.digest.hex for b in catalog.blob_states(pid)]
    # Runs of verified blobs (whole buckets of some shards) and a few rejected ones between.
    changes: dict[str, tuple[BlobStatus, str | None]] = {
        h: (BlobStatus.VERIFIED, None) for n, h in enumerate(ordered) if n % 50 < 30 or n % 7 == 0
    }
    changes |= {h: (BlobStatus.REJECTED, "bad") for n, h in enumerate(ordered) if n % 50 == 41}
    assert catalog.set_blob_statuses(pid, changes) == set(changes)
    unverified = [b for b in catalog.blob_states(pid) if b.status is not BlobStatus.VERIFIED]
    assert 50 < len(unverified) < BLOBS - 50
    starts: list[str | None] = [None, "0" * 64, "f" * 64, ordered[-1]]
    # Starting points across every shard's buckets (eight blobs a bucket, 300 blobs), listed
    # and not; limits that stop in the first bucket, run over several, and take everything.
    starts += ordered[::29]
    starts += [h[:-1] + ("0" if h[-1] != "0" else "1") for h in ordered[5::71]]  # not listed
    for after in starts:
        rest = [b for b in unverified if after is None or b.digest.hex > after]
        for limit in (1, 40, BLOBS):
            assert catalog.unverified_blob_states(pid, after, limit) == rest[:limit], (after, limit)

    # Page by page, as the upload targets do: every unverified blob exactly once.
    seen: list[BlobState] = []
    cursor: str | None = None
    while page := catalog.unverified_blob_states(pid, cursor, 17):
        seen += page
        cursor = page[-1].digest.hex
    assert seen == unverified


def test_a_list_sent_in_parts_over_many_shards_completes_once(catalog: Catalog, kind: str) -> None:
    files = spread_files()
    record = created(catalog, COUNT, files_in_parts=True)
    pid = record.package_id
    parts = [files[i::6] for i in range(6)]  # each part spans the whole path range

    for part in [*parts, parts[2]]:  # one sent twice: kept once
        catalog.add_list_part(pid, part, COUNT, T0 - 5 * MINUTE, record.expires_at)
    assert Counter(catalog.read_list_parts(pid)) == Counter(files)
    if kind == "dynamodb":
        assert sum(n > 0 for n in items_per_shard(catalog, pid, "PART#")) > 1

    assert catalog.claim_file_list(pid, "writer", T0, T0 - 5 * MINUTE)
    catalog.add_file_chunks(pid, files, record.expires_at)
    blobs = {f.digest.hex: f.size for f in files}
    catalog.add_blob_buckets(pid, blobs, {digest(7).hex}, record.expires_at)
    assert catalog.finish_file_list(
        pid, "writer", blob_count=BLOBS, verified_count=1, total_bytes=1
    )
    catalog.delete_list_parts(pid)
    assert catalog.read_list_parts(pid) == []
    if kind == "dynamodb":
        assert items_per_shard(catalog, pid, "PART#") == [0] * (shards.MAX_SHARDS + 1)
    assert list(catalog.iter_files(pid)) == files
    assert catalog.get_blob_state(pid, digest(7)) == BlobState(digest(7), 17, BlobStatus.VERIFIED)


def test_a_sealed_list_over_many_shards_reads_all_verified(catalog: Catalog) -> None:
    files = spread_files()
    record = created(catalog, COUNT)  # counted no blobs: seals with buckets pending
    pid = record.package_id
    catalog.add_files(pid, files, expires_at=record.expires_at)
    catalog.mark_files_complete(pid)
    catalog.request_finalize(pid)
    assert catalog.seal(catalog.get_package(pid), MANIFEST, T0) is True
    assert list(catalog.iter_files(pid)) == files
    page = catalog.list_files(pid, 500, None)
    assert page.items == [PackageFile(f, BlobStatus.VERIFIED) for f in files[:500]]


def test_a_small_list_keeps_one_key(catalog: Catalog, kind: str) -> None:
    files = spread_files()[:PER_SHARD]
    record = created(catalog, PER_SHARD, blob_count=BLOBS)
    pid = record.package_id
    catalog.add_files(pid, files, expires_at=record.expires_at)
    if kind == "dynamodb":
        chunks = items_per_shard(catalog, pid, "FILE#")
        assert chunks[0] == -(-PER_SHARD // PER_CHUNK) and sum(chunks) == chunks[0]
        assert sum(items_per_shard(catalog, pid, "BLOB#")[1:]) == 0
    assert list(catalog.iter_files(pid)) == files
    assert catalog.get_file(pid, files[-1].path) == files[-1]


def _counts(catalog: Catalog, package_id: str) -> tuple[int, int]:
    record = catalog.get_package(package_id)
    return record.verified_count, record.rejected_count
