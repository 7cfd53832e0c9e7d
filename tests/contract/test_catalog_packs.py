"""The packs contract: packed blobs' places, each pack's live blobs, and a concurrent verifier
recording the same blob in its own pack (the first place recorded wins)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from artifactstore.domain.digests import Digest
from artifactstore.domain.lifecycle import SweepCandidate
from artifactstore.domain.packages import HeldBlob
from artifactstore.domain.packs import PackedBlob, PackPlace, build_pack
from artifactstore.domain.protection import Protection
from artifactstore.ports.catalog import Catalog

T0 = datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
DAY = timedelta(days=1)
EXPIRING = Protection(True, None, None, T0 + 7 * DAY)
KEPT = Protection(False)


def blob(label: object, size: int = 10) -> tuple[Digest, bytes]:
    data = f"{label}".encode().ljust(size, b".")
    return Digest.of_bytes(data), data


def test_packed_blobs_are_held_at_their_place_and_counted_live(catalog: Catalog) -> None:
    pack = build_pack("p/b", [blob(i, 10 + i) for i in range(3)])
    assert [m.offset for m in pack.members] == [0, 10, 21]
    pid = str(uuid.uuid4())
    recorded = catalog.record_packed_blobs("s3", pack.digest, pack.members, pid, T0, KEPT, "p1")
    assert recorded == {m.digest.hex for m in pack.members}
    held = catalog.held_records("s3", [m.digest for m in pack.members])
    assert held == {
        m.digest.hex: HeldBlob(m.size, KEPT, frozenset({"p1"}), PackPlace(pack.digest, m.offset))
        for m in pack.members
    }
    assert catalog.held_records("local", [pack.members[0].digest]) == {}
    # Recording the same pack again (a retried verifier) records nothing twice.
    again = catalog.record_packed_blobs("s3", pack.digest, pack.members, pid, T0, KEPT, "p1")
    assert again == set()
    # Each release takes one blob out; the last one empties the pack (idempotent).
    first, second, third = pack.members
    assert catalog.release_packed_blob("s3", pack.digest, first.digest) is False
    assert catalog.release_packed_blob("s3", pack.digest, first.digest) is False
    assert catalog.release_packed_blob("s3", pack.digest, second.digest) is False
    assert catalog.release_packed_blob("s3", pack.digest, third.digest) is True
    assert catalog.release_packed_blob("s3", pack.digest, third.digest) is True
    catalog.forget_pack("s3", pack.digest)
    assert catalog.release_packed_blob("s3", pack.digest, third.digest) is True  # gone


def test_a_blob_held_already_keeps_its_first_place(catalog: Catalog) -> None:
    (single, single_data), (other, other_data) = blob("single"), blob("other")
    pid = str(uuid.uuid4())
    assert catalog.record_blob("s3", single, len(single_data), pid, T0, KEPT, "p1")
    pack = build_pack("p/b", [(single, single_data), (other, other_data)])
    recorded = catalog.record_packed_blobs("s3", pack.digest, pack.members, pid, T0, EXPIRING, "p2")
    assert recorded == {other.hex}
    held = catalog.held_records("s3", [single, other])
    assert held[single.hex] == HeldBlob(len(single_data), KEPT, frozenset({"p1"}))
    assert held[other.hex].place == PackPlace(pack.digest, len(single_data))
    # Only the blob recorded in it keeps the pack: releasing it empties the pack.
    assert catalog.release_packed_blob("s3", pack.digest, other) is True


def test_a_swept_packed_blob_is_a_candidate_with_its_place(catalog: Catalog) -> None:
    pack = build_pack("p/b", [blob("gone"), blob("stays")])
    gone, stays = pack.members
    pid = str(uuid.uuid4())
    catalog.record_packed_blobs("s3", pack.digest, [gone], pid, T0, EXPIRING, "p1")
    catalog.record_packed_blobs("s3", pack.digest, [stays], pid, T0, KEPT, "p1")
    place = PackPlace(pack.digest, gone.offset)
    assert catalog.sweepable_blobs("s3", T0 + 30 * DAY, 10) == [
        SweepCandidate(gone.digest, gone.size, T0 + 7 * DAY, place=place)
    ]
    assert catalog.tombstone_blob("s3", gone.digest, T0 + 9 * DAY, T0 + 9 * DAY) is True
    # A new pack naming a tombstoned blob does not record it there.
    retry = catalog.record_packed_blobs("s3", pack.digest, [gone], pid, T0, KEPT, "p2")
    assert retry == set()
    assert catalog.release_packed_blob("s3", pack.digest, gone.digest) is False  # one stays
    catalog.forget_blob("s3", gone.digest)
    assert catalog.held_records("s3", [gone.digest, stays.digest]).keys() == {stays.digest.hex}


def test_racing_verifiers_record_each_blob_in_one_pack_only(catalog: Catalog) -> None:
    blobs = [blob(i) for i in range(150)]  # more than one transaction's worth
    packs = [build_pack("p/1", blobs[:120]), build_pack("p/2", blobs[30:])]
    pid = str(uuid.uuid4())

    def record(index: int) -> set[str]:
        pack = packs[index]
        return catalog.record_packed_blobs(
            "s3", pack.digest, pack.members, pid, T0, KEPT, f"p{index}"
        )

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(record, [0, 1])
    assert not first & second
    assert first | second == {d.hex for d, _ in blobs}
    held = catalog.held_records("s3", [d for d, _ in blobs])
    for hex_digest, record_ in held.items():
        assert record_.place is not None
        owner = 0 if hex_digest in first else 1
        assert record_.place.pack == packs[owner].digest
        member = next(m for m in packs[owner].members if m.digest.hex == hex_digest)
        assert record_.place.offset == member.offset
    # Each pack's live blobs are exactly those recorded in it.
    for index, recorded in enumerate((first, second)):
        pack = packs[index].digest
        left = sorted(recorded)
        for hex_digest in left[:-1]:
            assert catalog.release_packed_blob("s3", pack, Digest(hex_digest)) is False
        if left:
            assert catalog.release_packed_blob("s3", pack, Digest(left[-1])) is True


def test_packed_members_need_not_be_in_one_write(catalog: Catalog) -> None:
    pack = build_pack("p/b", [blob(i) for i in range(250)])
    members: list[PackedBlob] = list(pack.members)
    recorded = catalog.record_packed_blobs(
        "s3", pack.digest, members, str(uuid.uuid4()), T0, KEPT, "p"
    )
    assert len(recorded) == 250
    assert len(catalog.held_records("s3", [m.digest for m in members])) == 250
