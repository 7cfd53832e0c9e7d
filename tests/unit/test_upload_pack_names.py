"""Upload packs' names and keys (domain/packs.py, domain/keys.py, adapters/s3/upload_packs.py)."""

from __future__ import annotations

from artifactstore.adapters.s3.upload_packs import started_for, upload_pack_key
from artifactstore.domain.bundles import BUNDLE_MEMBER_MAX
from artifactstore.domain.digests import Digest
from artifactstore.domain.keys import blob_key, pack_key, parse_pack_key, upload_key
from artifactstore.domain.packs import build_pack, is_whole_pack, upload_pack_name

BLOB = Digest.of_bytes(b"a large blob")


def test_an_upload_pack_is_named_by_its_package_and_blob_only() -> None:
    name = upload_pack_name("pkg-1", BLOB)
    assert name == upload_pack_name("pkg-1", BLOB)
    assert name != upload_pack_name("pkg-2", BLOB)  # no other package's upload lands there
    assert name != upload_pack_name("pkg-1", Digest.of_bytes(b"another blob"))
    assert name not in (BLOB, build_pack("pkg-1/bundle", [(BLOB, b"a large blob")]).digest)
    assert upload_pack_key("pkg-1", BLOB) == pack_key(name)


def test_pack_keys_parse_back_and_nothing_else_does() -> None:
    name = upload_pack_name("pkg-1", BLOB)
    assert parse_pack_key(pack_key(name)) == name
    wrong_shard = pack_key(name).replace(f"/{name.hex[:2]}/", "/00/", 1)
    for key in (
        blob_key(BLOB),
        upload_key("pkg-1", BLOB),
        pack_key(name) + ".json",
        pack_key(name).upper(),
        wrong_shard if name.hex[:2] != "00" else "packs/blake3/x",
        "packs/blake3/ab/cd/" + "g" * 64,
    ):
        assert parse_pack_key(key) is None, key


def test_only_the_metadata_of_that_very_upload_pack_names_its_owner() -> None:
    key = upload_pack_key("pkg-1", BLOB)
    meta = {"artifactstore-package": "pkg-1", "artifactstore-digest": BLOB.hex}
    assert started_for(key, meta) == ("pkg-1", BLOB)
    # A pack the verifier wrote (no such metadata), metadata naming another package or blob,
    # or a digest that is not one: not an upload pack to verify.
    assert started_for(key, {}) is None
    assert started_for(key, {**meta, "artifactstore-package": "pkg-2"}) is None
    assert started_for(key, {**meta, "artifactstore-digest": "f" * 64}) is None
    assert started_for(key, {**meta, "artifactstore-digest": "not hex"}) is None


def test_a_blob_bigger_than_any_bundle_member_is_its_packs_whole_content() -> None:
    assert not is_whole_pack(BUNDLE_MEMBER_MAX)  # may share a bundle's pack: read its range
    assert is_whole_pack(BUNDLE_MEMBER_MAX + 1)
