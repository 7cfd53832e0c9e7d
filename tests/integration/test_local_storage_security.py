"""Issue 14 (1 and 6): the local-files backend publishes exactly the bytes it verified, keeps an
upload write-once, and refuses a forgeable signing key and URLs that live too long."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlsplit

import pytest
from localdev.config import DevConfig
from localdev.dev import DevStack
from localdev.stack import LocalStack

from artifactstore.adapters.local.storage import LocalFilesStorage
from artifactstore.adapters.storage_factory import build_storages
from artifactstore.domain.digests import Digest, hash_stream
from artifactstore.domain.keys import blob_key, upload_key
from artifactstore.domain.packages import BlobStatus
from artifactstore.domain.retention import RetentionClass
from artifactstore.errors import AuthError, ConfigurationError, Conflict, InvalidInput, NotFound
from artifactstore.service import upload_outcomes
from artifactstore.service.verification import verify_upload
from artifactstore.settings import ServiceSettings
from tests.integration.api_support import assert_error
from tests.integration.conftest import Configured, configured_for
from tests.integration.flow import AUTH, Harness

EPHEMERAL = RetentionClass("ephemeral", expire_days=14)
NOW = 1_800_000_000.0
GOOD = b"the bytes the producer hashed"
EVIL = b"the bytes an attacker swaps!!"  # the same size: the URL is signed for a size
STRONG_KEY = "k" * 32


@pytest.fixture
def notified() -> list[tuple[str, int]]:
    return []


@pytest.fixture
def storage(tmp_path: Path, notified: list[tuple[str, int]]) -> LocalFilesStorage:
    return LocalFilesStorage(
        tmp_path / "store",
        signing_key=STRONG_KEY.encode(),
        public_url="http://127.0.0.1:8000/",
        url_ttl=900,
        notify=lambda key, size: notified.append((key, size)),
        clock=lambda: NOW,
    )


def files_under(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (temp files included) and its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def swap_in_place(path: Path, data: bytes) -> None:
    """Replace the file at ``path`` the way the old ``receive_upload`` did (rename over it)."""
    temp = path.with_name(".swap.tmp")
    temp.write_bytes(data)
    temp.replace(path)


def hashed(storage: LocalFilesStorage, key: str) -> tuple[Digest, str | None]:
    """What the verifier does first: open the upload and hash it; the digest and version."""
    with storage.open_upload(key) as upload:
        digest, _ = hash_stream(upload.stream, 1 << 20)
        return digest, upload.version


# -- 1. promote exactly what was hashed ------------------------------------------------------


assert len(GOOD) == len(EVIL)


def test_promote_publishes_the_hashed_upload(storage: LocalFilesStorage) -> None:
    digest = Digest.of_bytes(GOOD)
    key = upload_key("pkg", digest)
    storage.receive_upload(key, len(GOOD), [GOOD])

    seen, version = hashed(storage, key)
    assert seen == digest and version is not None
    storage.promote(key, digest, EPHEMERAL, version, len(GOOD))

    assert files_under(storage.root) == {blob_key(digest): GOOD}


def test_an_upload_swapped_between_hash_and_promote_never_becomes_the_blob(
    storage: LocalFilesStorage,
) -> None:
    digest = Digest.of_bytes(GOOD)
    key = upload_key("pkg", digest)
    storage.receive_upload(key, len(GOOD), [GOOD])

    seen, version = hashed(storage, key)
    assert seen == digest
    swap_in_place(storage.root / key, EVIL)  # a second PUT lands between hash and promote
    with pytest.raises(NotFound) as caught:
        storage.promote(key, digest, EPHEMERAL, version, len(GOOD))

    assert caught.value.code == "upload_not_found"
    assert not storage.has_blob(digest)
    # The swapped-in upload is left for its own verification (which rejects it); nothing else.
    assert files_under(storage.root) == {key: EVIL}


def test_an_upload_deleted_and_put_again_after_hashing_is_not_promoted(
    storage: LocalFilesStorage,
) -> None:
    digest = Digest.of_bytes(GOOD)
    key = upload_key("pkg", digest)
    storage.receive_upload(key, len(GOOD), [GOOD])

    _, version = hashed(storage, key)
    storage.delete_upload(key)  # a concurrent verifier's verdict took the name away ...
    storage.receive_upload(key, len(EVIL), [EVIL])  # ... and another PUT took it again
    with pytest.raises(NotFound) as caught:
        storage.promote(key, digest, EPHEMERAL, version, len(GOOD))

    assert caught.value.code == "upload_not_found"
    assert not storage.has_blob(digest)
    assert files_under(storage.root) == {key: EVIL}


def test_a_stale_version_neither_opens_nor_deletes_a_later_upload(
    storage: LocalFilesStorage,
) -> None:
    digest = Digest.of_bytes(GOOD)
    key = upload_key("pkg", digest)
    storage.receive_upload(key, len(EVIL), [EVIL])
    _, bad_version = hashed(storage, key)
    storage.delete_upload(key, bad_version)  # the verifier rejected it
    storage.receive_upload(key, len(GOOD), [GOOD])  # the right bytes, through a fresh target

    storage.delete_upload(key, bad_version)  # a late duplicate of that rejection
    with pytest.raises(NotFound) as caught:
        storage.open_upload(key, bad_version)
    assert caught.value.code == "upload_not_found"
    assert files_under(storage.root) == {key: GOOD}


# -- 1. an upload is write-once ----------------------------------------------------------------


def test_a_second_put_of_other_bytes_is_upload_exists_and_changes_nothing(
    storage: LocalFilesStorage, notified: list[tuple[str, int]]
) -> None:
    key = upload_key("pkg", Digest.of_bytes(GOOD))
    storage.receive_upload(key, len(GOOD), [GOOD])

    with pytest.raises(Conflict) as caught:
        storage.receive_upload(key, len(EVIL), [EVIL])

    assert caught.value.code == "upload_exists"
    assert files_under(storage.root) == {key: GOOD}  # no temp file left either
    assert notified == [(key, len(GOOD))]


def test_the_same_bytes_again_are_a_client_retry_and_succeed(
    storage: LocalFilesStorage, notified: list[tuple[str, int]]
) -> None:
    key = upload_key("pkg", Digest.of_bytes(GOOD))
    first = storage.receive_upload(key, len(GOOD), [GOOD])
    version = storage.open_upload(key).version
    storage.open_upload(key).stream.close()

    assert storage.receive_upload(key, len(GOOD), [GOOD[:5], GOOD[5:]]) == first
    assert files_under(storage.root) == {key: GOOD}
    with storage.open_upload(key) as upload:
        assert upload.version == version  # the very file the verifier may be hashing
    assert notified == [(key, len(GOOD))] * 2


def test_a_put_that_failed_midway_and_a_rejected_upload_can_be_sent_again(
    storage: LocalFilesStorage,
) -> None:
    digest = Digest.of_bytes(GOOD)
    key = upload_key("pkg", digest)
    with pytest.raises(InvalidInput) as short:
        storage.receive_upload(key, len(GOOD), [GOOD[:4]])
    assert short.value.code == "size_mismatch"
    assert files_under(storage.root) == {}

    storage.receive_upload(key, len(EVIL), [EVIL])  # wrong bytes: the verifier rejects them
    seen, version = hashed(storage, key)
    assert seen != digest
    storage.delete_upload(key, version)
    storage.receive_upload(key, len(GOOD), [GOOD])  # the right ones, through a fresh target
    seen, version = hashed(storage, key)
    storage.promote(key, digest, EPHEMERAL, version, len(GOOD))
    assert files_under(storage.root) == {blob_key(digest): GOOD}


# -- 1. through the HTTP route and the verifier -------------------------------------------------


@pytest.fixture
def local(stack: LocalStack, tmp_path: Path) -> Iterator[Harness]:
    with configured_for(stack, tmp_path / "storage", "*:*=local") as cfg:
        harness = Harness.start(cfg)
        harness.notifications()  # the shared queue: start from nothing
        yield harness
        harness.notifications()  # and leave nothing for other tests


def route(target: dict[str, Any]) -> str:
    parts = urlsplit(target["url"])
    return f"{parts.path}?{parts.query}"


def unique_pair() -> tuple[bytes, bytes]:
    """Right and wrong bytes of one size that no other test stores (the catalog is shared)."""
    nonce = uuid.uuid4().hex.encode()
    return b"good " + nonce, b"evil " + nonce


def local_storage(cfg: Configured) -> LocalFilesStorage:
    storage = cfg.svc.storages["local"]
    assert isinstance(storage, LocalFilesStorage)
    return storage


def test_a_second_put_on_the_same_url_is_409_and_the_first_bytes_stay(local: Harness) -> None:
    good, evil = unique_pair()
    created = local.create(str(uuid.uuid4()), {"run.json": good}).json()
    (target,) = created["upload_targets"]
    root = local.cfg.storage_dir

    first = local.client.put(route(target), content=good, headers=target["headers"])
    assert first.status_code == 200, first.text
    before = files_under(root)
    second = local.client.put(route(target), content=evil, headers=target["headers"])

    assert_error(second, 409, "upload_exists")
    assert files_under(root) == before
    assert list(before.values()) == [good]
    retry = local.client.put(route(target), content=good, headers=target["headers"])
    assert retry.status_code == 200 and retry.headers["etag"] == first.headers["etag"]
    assert files_under(root) == before


def test_a_swap_between_hash_and_promote_is_refused_by_the_verifier(
    local: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    good, evil = unique_pair()
    created = local.create(str(uuid.uuid4()), {"run.json": good}).json()
    package_id = created["package_id"]
    (target,) = created["upload_targets"]
    local.upload(target, good)
    (record,) = [r for r in local.notifications() if package_id in r["body"]]
    key = unquote_plus(json.loads(record["body"])["Records"][0]["s3"]["object"]["key"])
    path = local.cfg.storage_dir / key
    real_hash = hash_stream  # what upload_outcomes.hash_stream (the verifier's hashing) is

    def hash_then_swap(stream: Any, chunk: int) -> tuple[Digest, int]:
        result = real_hash(stream, chunk)
        swap_in_place(path, evil)  # the attacker's PUT, right after the bytes were hashed
        return result

    monkeypatch.setattr(upload_outcomes, "hash_stream", hash_then_swap)
    with pytest.raises(NotFound) as caught:
        verify_upload(local.cfg.svc, "local", key)
    monkeypatch.undo()

    assert caught.value.code == "upload_not_found"
    digest = Digest.of_bytes(good)
    storage = local_storage(local.cfg)
    assert not storage.has_blob(digest)
    # The notification is redelivered: the bytes now there are hashed, and rejected.
    assert local.verify([record]) == {"batchItemFailures": []}
    assert not storage.has_blob(digest)
    (state,) = local.cfg.svc.catalog.blob_states(package_id)
    assert state.status is BlobStatus.REJECTED
    assert files_under(local.cfg.storage_dir) == {}


def test_the_right_bytes_after_a_rejection_seal_the_package(local: Harness) -> None:
    good, evil = unique_pair()
    key = str(uuid.uuid4())
    created = local.create(key, {"run.json": good}).json()
    package_id = created["package_id"]
    (target,) = created["upload_targets"]
    local.upload(target, evil)
    assert local.pump() == 1
    states = local.cfg.svc.catalog.blob_states(package_id)
    assert [s.status for s in states] == [BlobStatus.REJECTED]

    resumed = local.create(key, {"run.json": good})
    assert resumed.status_code == 200, resumed.text
    (fresh,) = resumed.json()["upload_targets"]
    local.upload(fresh, good)
    assert local.pump() == 1
    finalized = local.client.post(f"/packages/{package_id}/finalize", headers=AUTH)
    assert finalized.status_code in (200, 202), finalized.text
    assert local.cfg.svc.catalog.get_package(package_id).state.value == "sealed"
    stored = local_storage(local.cfg).open_blob(Digest.of_bytes(good))
    with stored:
        assert stored.read() == good


# -- 6. the signing key and the URLs' lifetime --------------------------------------------------


def settings(tmp_path: Path, key: str | None, *, local_dev: bool) -> ServiceSettings:
    return ServiceSettings.model_validate(
        {
            "ARTIFACTSTORE_STORAGE_BACKEND_ROUTES": "*:*=local",
            "ARTIFACTSTORE_BUCKET": None,
            "ARTIFACTSTORE_LOCAL_STORAGE_DIR": str(tmp_path / "files"),
            "ARTIFACTSTORE_LOCAL_SIGNING_KEY": key,
            "ARTIFACTSTORE_LOCAL_DEV": local_dev,
        }
    )


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        (None, "is not set"),
        ("", "is not set"),
        ("local-dev-signing-key", "the published example key"),
        ("k" * 31, "shorter than 32 bytes"),
    ],
    ids=["missing", "empty", "example", "short"],
)
def test_a_weak_signing_key_is_refused_outside_local_development(
    tmp_path: Path, key: str | None, problem: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        build_storages(settings(tmp_path, key, local_dev=False))
    assert "ARTIFACTSTORE_LOCAL_SIGNING_KEY" in caught.value.message
    assert problem in caught.value.message
    assert caught.value.code == "configuration_error"
    assert not (tmp_path / "files").exists()


def test_a_strong_key_or_local_development_builds_the_backend(tmp_path: Path) -> None:
    strong = build_storages(settings(tmp_path, "é" * 16, local_dev=False))  # 32 bytes in UTF-8
    dev = build_storages(settings(tmp_path, None, local_dev=True))
    example = build_storages(settings(tmp_path, "local-dev-signing-key", local_dev=True))
    for built in (strong, dev, example):
        assert isinstance(built["local"], LocalFilesStorage)
    # The key signs: different keys, different signatures.
    sig = {
        name: storages["local"].signature("GET", "k", 1, 2)  # type: ignore[attr-defined]
        for name, storages in (("strong", strong), ("dev", dev), ("example", example))
    }
    assert sig["dev"] == sig["example"] != sig["strong"]


def test_a_url_expiring_beyond_the_ttl_is_refused_even_when_signed(
    storage: LocalFilesStorage,
) -> None:
    key = upload_key("pkg", Digest.of_bytes(GOOD))
    at_ttl = int(NOW) + storage.url_ttl
    storage.verify_signature("PUT", key, 5, at_ttl, storage.signature("PUT", key, 5, at_ttl))

    for method in ("PUT", "GET"):
        far = at_ttl + 1
        with pytest.raises(AuthError) as caught:
            storage.verify_signature(method, key, 5, far, storage.signature(method, key, 5, far))
        assert caught.value.code == "invalid_signature"


def test_every_url_the_backend_signs_is_accepted(storage: LocalFilesStorage) -> None:
    data = b"blob"
    digest = Digest.of_bytes(data)
    key = upload_key("pkg", digest)
    storage.receive_upload(key, len(data), [data])
    with storage.open_upload(key) as upload:
        storage.promote(key, digest, EPHEMERAL, upload.version, upload.size)

    for url in (
        storage.download_url(digest, storage.url_ttl * 10),  # asked longer: capped at the TTL
        storage.upload_target("pkg", digest, 4).url or "",
    ):
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        assert int(query["expires"]) == int(NOW) + storage.url_ttl
        method = "GET" if "/blobs/" in url else "PUT"
        key_in_url = unquote_plus(urlsplit(url).path.removeprefix("/local-storage/"))
        storage.verify_signature(
            method, key_in_url, int(query["size"]), int(query["expires"]), query["sig"]
        )


def test_a_far_future_url_is_403_over_http_and_stores_nothing(local: Harness) -> None:
    storage = local_storage(local.cfg)
    key = upload_key(str(uuid.uuid4()), Digest.of_bytes(GOOD))
    expires = int(storage._clock()) + 10 * 365 * 86400  # signed with the key, for ten years
    sig = storage.signature("PUT", key, len(GOOD), expires)
    before = files_under(local.cfg.storage_dir) if local.cfg.storage_dir.exists() else {}

    answer = local.client.put(
        f"/local-storage/{key}?size={len(GOOD)}&expires={expires}&sig={sig}",
        content=GOOD,
        headers={"Content-Type": "application/octet-stream"},
    )

    assert_error(answer, 403, "invalid_signature")
    after = files_under(local.cfg.storage_dir) if local.cfg.storage_dir.exists() else {}
    assert after == before
    assert not any(key in name for name in after)


def test_make_dev_marks_local_development(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARTIFACTSTORE_LOCAL_DEV", raising=False)
    monkeypatch.delenv("ARTIFACTSTORE_LOCAL_SIGNING_KEY", raising=False)
    child = DevStack(DevConfig.from_env(tmp_path))._child_env({})

    assert child["ARTIFACTSTORE_LOCAL_DEV"] == "1"
    # What the API and the pump it starts then build: the local backend, on the example key.
    for name, value in child.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ARTIFACTSTORE_STORAGE_BACKEND_ROUTES", "*:*=local")
    monkeypatch.delenv("ARTIFACTSTORE_BUCKET", raising=False)
    assert isinstance(build_storages(ServiceSettings())["local"], LocalFilesStorage)
