"""Bundles through the verifier: one upload carrying many small blobs, split and checked.

Real parts only: bundles are PUT to the backend's own presigned (S3) or signed (local) URL,
the backend raises the ObjectCreated notification (moto's bucket notification, or the local
backend's notifier) onto the stack's queue, and the verifier Lambda's handler gets it as the SQS
event Lambda builds. Both backends through the ``configured`` fixture.
"""

from __future__ import annotations

import io
import tracemalloc
import uuid
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import pytest

from artifactstore.adapters.s3.storage import S3Storage
from artifactstore.domain.bundles import BUNDLE_MAX_BYTES, bundle_id
from artifactstore.domain.digests import Digest
from artifactstore.domain.keys import (
    blob_key,
    bundle_key,
    pack_key,
    parse_bundle_key,
    parse_upload_key,
    require_upload_key,
    upload_key,
)
from artifactstore.domain.retention import RetentionClass
from artifactstore.errors import InvalidInput, StorageError
from artifactstore.service.bundle_verification import READ_CHUNK, read_members
from artifactstore.service.targets import target_json
from tests.integration.conftest import Configured
from tests.integration.flow import AUTH, Harness, digest_of, expected_manifest_digest, run_metadata
from tests.integration.s3_calls import S3Calls
from tests.integration.test_verifier_s3 import redelivered

pytestmark = pytest.mark.integration

KiB = 1024


def unique(size: int) -> bytes:
    """Bytes no other test stored (blobs are shared by every package of a backend)."""
    nonce = uuid.uuid4().bytes
    return (nonce * (size // len(nonce) + 1))[:size]


def small_files(count: int, size: int = 300) -> dict[str, bytes]:
    return {f"f{i:03}.bin": unique(size + i) for i in range(count)}


def draft(h: Harness, files: dict[str, bytes]) -> tuple[str, str]:
    """A new draft listing ``files``: its id and key (its single-blob targets go unused)."""
    key = str(uuid.uuid4())
    created = h.create(key, files)
    assert created.status_code == 201, created.text
    return created.json()["package_id"], key


def bundle(
    cfg: Configured, package_id: str, blobs: list[bytes], size: int | None = None
) -> dict[str, Any]:
    """Record a bundle of ``blobs`` (in this order) as the API does, and its upload target, in
    wire form (bound to ``size`` bytes, their total by default)."""
    digests = [Digest.parse(digest_of(b)) for b in blobs]
    name = bundle_id(digests)
    cfg.svc.catalog.put_bundle(
        package_id, name, [(d.hex, len(b)) for d, b in zip(digests, blobs, strict=True)]
    )
    backend = cfg.svc.catalog.get_package(package_id).backend
    total = sum(map(len, blobs)) if size is None else size
    return target_json(cfg.svc.storage(backend).bundle_target(package_id, name, total))


def statuses(h: Harness, package_id: str) -> dict[str, tuple[str, str | None]]:
    """digest -> (status, seen digest) of every file, as the API shows them."""
    view = h.client.get(f"/packages/{package_id}", headers=AUTH).json()
    return {f["digest"]: (f["status"], f["seen_digest"]) for f in view["files"]}


def finalize(h: Harness, package_id: str) -> dict[str, Any]:
    answer = h.client.post(f"/packages/{package_id}/finalize", headers=AUTH)
    assert answer.status_code in (200, 202), answer.text
    body: dict[str, Any] = answer.json()
    return body


def stored_bytes(cfg: Configured, package_id: str, data: bytes) -> bytes | None:
    """The bytes held for ``data``'s digest where the catalog places them (its pack, or its
    own object), or None when it is not held."""
    backend = cfg.svc.catalog.get_package(package_id).backend
    digest = Digest.parse(digest_of(data))
    held = cfg.svc.catalog.held_records(backend, [digest]).get(digest.hex)
    if held is None:
        return None
    storage = cfg.svc.storage(backend)
    if held.place is None:
        with storage.open_blob(digest) as blob:
            return blob.read()
    start = held.place.offset
    return storage.read_range(pack_key(held.place.pack), start, start + held.size)


def stored(cfg: Configured, package_id: str, data: bytes) -> bool:
    return stored_bytes(cfg, package_id, data) is not None


def packs_of(cfg: Configured, package_id: str, blobs: list[bytes]) -> set[str | None]:
    """The packs holding ``blobs`` (None for one stored as its own object)."""
    backend = cfg.svc.catalog.get_package(package_id).backend
    held = cfg.svc.catalog.held_records(backend, [Digest.parse(digest_of(b)) for b in blobs])
    return {None if r.place is None else r.place.pack.hex for r in held.values()}


def test_a_bundle_verifies_every_member_and_the_package_seals(configured: Configured) -> None:
    h = Harness.start(configured)
    h.notifications()  # drop what earlier tests on this worker left on the shared queue
    files = small_files(6)
    package_id, key = draft(h, files)
    asked = h.client.post(
        f"/packages/{package_id}/bundles",
        json={"blobs": [digest_of(d) for d in files.values()]},
        headers=AUTH,
    )
    assert asked.status_code == 201, asked.text
    answer = asked.json()
    target = answer["upload_target"]
    assert target["digest"] == f"bundle:{answer['bundle_id']}"
    by_digest = {digest_of(d): d for d in files.values()}
    h.upload(target, b"".join(by_digest[d] for d in answer["blobs"]))

    assert h.pump() == 1  # one upload, one notification, six blobs
    assert set(statuses(h, package_id).values()) == {("verified", None)}
    storage = configured.svc.storage(configured.svc.catalog.get_package(package_id).backend)
    for data in files.values():
        assert stored_bytes(configured, package_id, data) == data
    # The six became one pack, not six objects.
    (pack,) = packs_of(configured, package_id, list(files.values()))
    assert pack is not None
    # The bundle itself is gone (and, locally, the folders that held it).
    assert storage.upload_size(bundle_key(package_id, answer["bundle_id"])) is None
    assert not (configured.storage_dir / "uploads" / package_id).exists()
    assert configured.svc.catalog.get_package(package_id).verified_count == len(files)

    sealed = finalize(h, package_id)
    assert sealed["state"] == "sealed"
    assert sealed["manifest_digest"] == expected_manifest_digest(key, run_metadata(key), files)


def test_a_tampered_member_alone_is_rejected_and_blocks_sealing(configured: Configured) -> None:
    h = Harness.start(configured)
    files = small_files(4)
    blobs = list(files.values())
    package_id, _ = draft(h, files)
    bad = bytes([blobs[2][0] ^ 0xFF]) + blobs[2][1:]  # same size, other bytes
    target = bundle(configured, package_id, blobs)
    h.upload(target, b"".join([blobs[0], blobs[1], bad, blobs[3]]))
    assert h.pump() == 1

    status = statuses(h, package_id)
    assert status.pop(digest_of(blobs[2])) == ("rejected", digest_of(bad))
    assert set(status.values()) == {("verified", None)}
    assert not stored(configured, package_id, blobs[2])
    assert not stored(configured, package_id, bad)
    assert all(stored(configured, package_id, b) for b in (blobs[0], blobs[1], blobs[3]))
    # The good members share one pack that holds none of the bad member's bytes.
    (pack,) = packs_of(configured, package_id, [blobs[0], blobs[1], blobs[3]])
    assert pack is not None
    backend = configured.svc.catalog.get_package(package_id).backend
    packed = configured.svc.storage(backend).read_range(pack_key(Digest(pack)), 0, 1 << 20)
    assert len(packed) == len(blobs[0] + blobs[1] + blobs[3]) and bad not in packed
    assert all(b in packed for b in (blobs[0], blobs[1], blobs[3]))
    refused = h.client.post(f"/packages/{package_id}/finalize", headers=AUTH)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "files_rejected"
    assert [r["digest"] for r in refused.json()["error"]["details"]["rejected"]] == [
        digest_of(blobs[2])
    ]

    # The right bytes through a fresh target: the package seals.
    fresh = h.client.get(f"/packages/{package_id}/upload-targets", headers=AUTH).json()
    assert [t["digest"] for t in fresh["upload_targets"]] == [digest_of(blobs[2])]
    h.upload(fresh["upload_targets"][0], blobs[2])
    assert h.pump() == 1
    assert finalize(h, package_id)["state"] == "sealed"


def test_a_bundle_of_the_wrong_size_rejects_every_pending_member(configured: Configured) -> None:
    h = Harness.start(configured)
    files = small_files(3)
    blobs = list(files.values())
    package_id, _ = draft(h, files)
    total = sum(map(len, blobs))
    target = bundle(configured, package_id, blobs, size=total + 5)
    name = target["digest"].removeprefix("bundle:")
    h.upload(target, b"".join(blobs) + b"extra")
    assert h.pump() == 1

    seen = f"size {total + 5} (expected {total})"
    assert set(statuses(h, package_id).values()) == {("rejected", seen)}
    assert not any(stored(configured, package_id, b) for b in blobs)
    backend = configured.svc.catalog.get_package(package_id).backend
    assert configured.svc.storage(backend).upload_size(bundle_key(package_id, name)) is None
    record = configured.svc.catalog.get_package(package_id)
    assert (record.verified_count, record.rejected_count) == (0, len(blobs))


def test_a_redelivered_bundle_notification_counts_once(configured: Configured) -> None:
    h = Harness.start(configured)
    files = small_files(5)
    blobs = list(files.values())
    package_id, _ = draft(h, files)
    h.upload(bundle(configured, package_id, blobs), b"".join(blobs))
    records = [r for r in h.notifications() if package_id in r["body"]]
    assert len(records) == 1
    # Twice in one batch (handled in turn), then once more in a later batch.
    assert h.verify([records[0], redelivered(records[0])]) == {"batchItemFailures": []}
    assert h.verify([redelivered(records[0])]) == {"batchItemFailures": []}

    record = configured.svc.catalog.get_package(package_id)
    assert (record.verified_count, record.rejected_count) == (len(blobs), 0)
    assert set(statuses(h, package_id).values()) == {("verified", None)}
    assert finalize(h, package_id)["state"] == "sealed"


def test_a_bundle_for_nothing_expected_is_deleted_and_stores_nothing(
    configured: Configured,
) -> None:
    h = Harness.start(configured)
    files = small_files(2)
    blobs = list(files.values())
    package_id, _ = draft(h, files)
    backend = configured.svc.catalog.get_package(package_id).backend
    storage = configured.svc.storage(backend)
    name = bundle_id([Digest.parse(digest_of(b)) for b in blobs])  # never recorded
    target = target_json(storage.bundle_target(package_id, name, sum(map(len, blobs))))
    h.upload(target, b"".join(blobs))
    assert h.pump() == 1

    assert storage.upload_size(bundle_key(package_id, name)) is None
    assert not any(stored(configured, package_id, b) for b in blobs)
    assert set(statuses(h, package_id).values()) == {("pending", None)}


def test_members_spanning_read_chunks_verify(configured: Configured) -> None:
    h = Harness.start(configured)
    # More than one read chunk in all; the second member crosses the first chunk's end.
    blobs = [unique(700 * KiB), unique(700 * KiB), unique(KiB)]
    assert sum(map(len, blobs)) > READ_CHUNK
    files = {f"m{i}.bin": b for i, b in enumerate(blobs)}
    package_id, _ = draft(h, files)
    h.upload(bundle(configured, package_id, blobs), b"".join(blobs))
    assert h.pump() == 1
    assert set(statuses(h, package_id).values()) == {("verified", None)}
    assert [stored_bytes(configured, package_id, b) for b in blobs] == blobs


# -- S3: what is written ---------------------------------------------------------------------


def test_members_held_already_are_not_written_again(cfg: Configured) -> None:
    h = Harness.start(cfg)
    shared = unique(500)
    first, _ = draft(h, {"shared.bin": shared})
    h.upload(bundle(cfg, first, [shared]), shared)
    assert h.pump() == 1
    assert cfg.svc.catalog.get_package(first).verified_count == 1

    files = {"shared.bin": shared, **small_files(3)}
    blobs = list(files.values())
    second, _ = draft(h, files)
    h.upload(bundle(cfg, second, blobs), b"".join(blobs))
    calls = S3Calls(cast(S3Storage, cfg.svc.storage("s3")))
    try:
        assert h.pump() == 1
        names = calls.take()
    finally:
        calls.close()
    # One GET of the bundle, one write-once PUT of the pack of new members, one DELETE of the
    # bundle.
    assert names.count("PutObject") == 1
    assert names.count("GetObject") == 1
    assert names.count("DeleteObject") == 1
    assert "CopyObject" not in names
    assert set(statuses(h, second).values()) == {("verified", None)}
    assert cfg.svc.catalog.get_package(second).verified_count == len(files)


# -- storage: bundle targets and put_blob ---------------------------------------------------

EPHEMERAL = RetentionClass("ephemeral", expire_days=14)
EVIDENCE = RetentionClass("release-evidence", lock_mode="GOVERNANCE", lock_days=30)


def test_bundle_targets_sign_the_bundle_size_and_refuse_too_big(configured: Configured) -> None:
    storage = configured.svc.storage(configured.svc.routes.resolve("guide-board", "ephemeral"))
    name = bundle_id([Digest.of_bytes(b"x")])
    target = storage.bundle_target("pkg-1", name, 1234)
    assert (target.key, target.size, target.upload_id) == (bundle_key("pkg-1", name), 1234, None)
    assert dict(target.headers) == {
        "Content-Type": "application/octet-stream",
        "Content-Length": "1234",
    }
    assert target.url is not None
    query = parse_qs(urlsplit(target.url).query)
    if "sig" not in query:  # S3: size and type are signed, so S3 refuses any other PUT
        assert query["X-Amz-SignedHeaders"] == ["content-length;content-type;host"]
    wire = target_json(target)
    assert wire["digest"] == f"bundle:{name}" and wire["url"] == target.url
    assert wire["method"] == "PUT"
    with pytest.raises(InvalidInput) as refused:
        storage.bundle_target("pkg-1", name, BUNDLE_MAX_BYTES + 1)
    assert refused.value.code == "bundle_too_big"


def test_put_blob_is_write_once(configured: Configured) -> None:
    storage = configured.svc.storage(configured.svc.routes.resolve("guide-board", "ephemeral"))
    data = unique(333)
    digest = Digest.of_bytes(data)
    first = storage.put_blob(digest, data, EVIDENCE)
    again = storage.put_blob(digest, data, EVIDENCE)  # a redelivery: kept, nothing rewritten
    assert first.retain_until is not None and first.lock_mode == "GOVERNANCE"
    assert again.lock_mode == "GOVERNANCE"
    assert storage.has_blob(digest)
    with storage.open_blob(digest) as blob:
        assert blob.read() == data


def test_put_blob_on_s3_locks_or_tags_in_the_put(cfg: Configured) -> None:
    import boto3

    s3 = boto3.client("s3")
    bucket = cfg.env["ARTIFACTSTORE_BUCKET"]
    storage = cfg.svc.storage("s3")
    kept, passing = unique(100), unique(101)
    storage.put_blob(Digest.of_bytes(kept), kept, EVIDENCE)
    storage.put_blob(Digest.of_bytes(passing), passing, EPHEMERAL)

    head = s3.head_object(Bucket=bucket, Key=blob_key(Digest.of_bytes(kept)))
    assert head["ObjectLockMode"] == "GOVERNANCE"
    passing_key = blob_key(Digest.of_bytes(passing))
    assert s3.get_object_tagging(Bucket=bucket, Key=passing_key)["TagSet"] == [
        {"Key": "retention", "Value": "ephemeral"}
    ]
    assert "ObjectLockMode" not in s3.head_object(Bucket=bucket, Key=passing_key)

    # Held already and now asked to be kept: protected as promote does, no second version.
    raised = storage.put_blob(Digest.of_bytes(passing), passing, EVIDENCE)
    assert (raised.expiring, raised.lock_mode) == (False, "GOVERNANCE")
    assert s3.get_object_tagging(Bucket=bucket, Key=passing_key)["TagSet"] == []
    versions = s3.list_object_versions(Bucket=bucket, Prefix=passing_key).get("Versions", [])
    assert len(versions) == 1


# -- keys and the reader ---------------------------------------------------------------------


def test_bundle_keys_are_uploads_but_not_blob_uploads() -> None:
    name = bundle_id([Digest.of_bytes(b"a"), Digest.of_bytes(b"b")])
    key = bundle_key("pkg-1", name)
    assert key == f"uploads/pkg-1/bundles/{name}"
    assert parse_bundle_key(key) == ("pkg-1", name)
    assert parse_upload_key(key) is None
    require_upload_key(key)  # accepted: a pending upload
    assert parse_bundle_key(upload_key("pkg-1", Digest.of_bytes(b"a"))) is None
    assert parse_bundle_key(f"uploads/pkg-1/bundles/{name.upper()}") is None
    assert parse_bundle_key(f"uploads//bundles/{name}") is None
    with pytest.raises(InvalidInput) as refused:
        require_upload_key(f"blobs/blake3/{name[:2]}/{name[2:4]}/{name}")
    assert refused.value.code == "not_an_upload_key"
    with pytest.raises(ValueError, match="not a bundle id"):
        bundle_key("pkg-1", "../x")


class RecordingStream(io.RawIOBase):
    """A real stream over bytes that records the size of every read and what was read."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)
        self.reads: list[int] = []

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self.reads.append(size)
        return self._inner.read(size)

    @property
    def consumed(self) -> int:
        return self._inner.tell()


def test_members_are_read_one_at_a_time_never_ahead() -> None:
    sizes = [2500, 0, 999, 1000, 3001]
    members = [unique(n) for n in sizes]
    stream = RecordingStream(b"".join(members))
    ends = [sum(sizes[: i + 1]) for i in range(len(sizes))]
    for i, data in enumerate(read_members(cast(Any, stream), sizes, chunk=1000)):
        assert data == members[i]
        # Exactly this member's bytes were read so far: no read-ahead into the next one, so at
        # most one member (plus the read in flight) is held.
        assert stream.consumed == ends[i]
    assert stream.reads and max(stream.reads) <= 1000
    assert all(n > 0 for n in stream.reads)  # never "read everything"


class GeneratedStream(io.RawIOBase):
    """A real stream of ``size`` bytes made as they are read: it holds none of them itself."""

    def __init__(self, size: int) -> None:
        self._left = size

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        n = self._left if size < 0 else min(size, self._left)
        self._left -= n
        return b"\x5a" * n


def test_reading_a_bundle_holds_one_member_at_a_time() -> None:
    member, count = 512 * KiB, 16
    reader = read_members(cast(Any, GeneratedStream(member * count)), [member] * count)
    tracemalloc.start()
    try:
        for _ in range(count):
            assert len(next(reader)) == member  # dropped at once, as the verifier does
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # One member and change; holding the previous one while reading the next would be two.
    assert peak < member * 3 // 2, peak


def test_a_bundle_stream_that_ends_early_is_a_storage_error() -> None:
    stream = RecordingStream(unique(1500))
    reader = read_members(cast(Any, stream), [1000, 1000], chunk=400)
    assert len(next(reader)) == 1000
    with pytest.raises(StorageError):
        next(reader)
