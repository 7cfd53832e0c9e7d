"""What only the local-files backend does: receiving bytes, signing URLs, guarding paths."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from artifactstore.adapters.local.storage import LocalFilesStorage
from artifactstore.domain.digests import Digest
from artifactstore.domain.keys import blob_key, manifest_key, upload_key
from artifactstore.domain.retention import RetentionClass
from artifactstore.errors import AuthError, InvalidInput

EPHEMERAL = RetentionClass("ephemeral", expire_days=14)
NOW = 1_800_000_000.0


@pytest.fixture
def notified() -> list[tuple[str, int]]:
    return []


@pytest.fixture
def storage(tmp_path: Path, notified: list[tuple[str, int]]) -> LocalFilesStorage:
    return LocalFilesStorage(
        tmp_path / "store",
        signing_key=b"k",
        public_url="http://127.0.0.1:8000/",
        url_ttl=900,
        notify=lambda key, size: notified.append((key, size)),
        clock=lambda: NOW,
    )


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def chunks(data: bytes, size: int = 3) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_receive_upload_writes_exactly_size_bytes_and_notifies(
    storage: LocalFilesStorage, notified: list[tuple[str, int]]
) -> None:
    data = b"exactly these bytes"
    key = upload_key("pkg", Digest.of_bytes(data))

    etag = storage.receive_upload(key, len(data), chunks(data))

    assert etag == Digest.of_bytes(data).hex
    assert (storage.root / key).read_bytes() == data
    assert notified == [(key, len(data))]
    assert files_under(storage.root) == [key]  # no temp file left


@pytest.mark.parametrize("sent", [b"short", b"far too many bytes here"], ids=["fewer", "more"])
def test_receive_upload_refuses_another_size_and_leaves_nothing(
    storage: LocalFilesStorage, notified: list[tuple[str, int]], sent: bytes
) -> None:
    key = upload_key("pkg", Digest.of_bytes(b"x"))
    with pytest.raises(InvalidInput) as caught:
        storage.receive_upload(key, 10, chunks(sent))
    assert caught.value.code == "size_mismatch"
    assert storage.upload_size(key) is None
    assert files_under(storage.root) == []
    assert notified == []


def test_receive_upload_only_takes_upload_keys(storage: LocalFilesStorage) -> None:
    digest = Digest.of_bytes(b"x")
    for key in (blob_key(digest), manifest_key(digest), f"uploads/../../{digest.hex}"):
        with pytest.raises(InvalidInput) as caught:
            storage.receive_upload(key, 1, [b"x"])
        assert caught.value.code == "not_an_upload_key"
    assert files_under(storage.root) == []


@pytest.mark.parametrize("key", ["../escape", "/etc/passwd", "a//b", "uploads/./x", "a\\b", ""])
def test_keys_that_leave_the_root_are_refused(storage: LocalFilesStorage, key: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        storage.path_for(key)
    assert caught.value.code == "invalid_key"


def test_signature_binds_method_key_size_and_expiry(storage: LocalFilesStorage) -> None:
    key = "uploads/pkg/" + "a" * 64
    expires = int(NOW) + 60
    sig = storage.signature("PUT", key, 5, expires)
    storage.verify_signature("PUT", key, 5, expires, sig)

    for method, other_key, size, other_expiry in [
        ("GET", key, 5, expires),
        ("PUT", key + "b", 5, expires),
        ("PUT", key, 6, expires),
        ("PUT", key, 5, expires + 1),
    ]:
        with pytest.raises(AuthError) as caught:
            storage.verify_signature(method, other_key, size, other_expiry, sig)
        assert caught.value.code == "invalid_signature"

    past = int(NOW) - 1
    with pytest.raises(AuthError) as expired:
        storage.verify_signature("PUT", key, 5, past, storage.signature("PUT", key, 5, past))
    assert expired.value.code == "upload_url_expired"


def test_upload_target_points_at_the_api(storage: LocalFilesStorage) -> None:
    digest = Digest.of_bytes(b"abc")
    target = storage.upload_target("pkg", digest, 3)

    expires = int(NOW) + 900
    sig = storage.signature("PUT", target.key, 3, expires)
    assert target.url == (
        f"http://127.0.0.1:8000/local-storage/{target.key}?size=3&expires={expires}&sig={sig}"
    )
    assert target.upload_id is None
    assert dict(target.headers) == {
        "Content-Type": "application/octet-stream",
        "Content-Length": "3",
    }


def test_promoted_blobs_and_manifests_are_read_only(storage: LocalFilesStorage) -> None:
    data = b"kept"
    digest = Digest.of_bytes(data)
    key = upload_key("pkg", digest)
    storage.receive_upload(key, len(data), [data])
    storage.promote(key, digest, EPHEMERAL)
    storage.put_manifest(digest, data, EPHEMERAL)

    for stored in (blob_key(digest), manifest_key(digest)):
        assert stat.S_IMODE((storage.root / stored).stat().st_mode) == 0o444
    assert files_under(storage.root) == [blob_key(digest), manifest_key(digest)]
    assert not (storage.root / "uploads" / "pkg").exists()  # the emptied folder goes too


def test_local_has_no_multipart(storage: LocalFilesStorage) -> None:
    with pytest.raises(InvalidInput) as caught:
        storage.complete_multipart("pkg", Digest("a" * 64), "id", ['"e"'])
    assert caught.value.code == "multipart_not_supported"
