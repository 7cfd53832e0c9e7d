"""One suite over both storage backends: S3 through moto over HTTP, local files through our API.

Clients send bytes with httpx to the URLs the backends hand out, exactly as the CLI does: to
moto for S3, and to a real uvicorn server running the local-storage router for local files.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from artifactstore.adapters.local.storage import LocalFilesStorage
from artifactstore.adapters.s3.storage import S3Storage
from artifactstore.api.local_storage import local_storage_router
from artifactstore.domain.digests import Digest, hash_stream
from artifactstore.domain.keys import blob_key, manifest_key, pack_key, upload_key
from artifactstore.domain.packs import upload_pack_name
from artifactstore.domain.retention import RetentionClass
from artifactstore.errors import ArtifactStoreError, InvalidInput, NotFound
from artifactstore.ports.storage import BlobStorage, UploadTarget

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

pytestmark = pytest.mark.integration

MiB = 1024**2
THRESHOLD = 5 * MiB
URL_TTL = 900
SIGNING_KEY = b"test-signing-key"
EPHEMERAL = RetentionClass("ephemeral", expire_days=14)
EVIDENCE = RetentionClass("release-evidence", lock_mode="GOVERNANCE", lock_days=30)
# moto takes presigned requests on trust: it checks neither signature, signed headers nor expiry.
MOTO_TRUSTS_PRESIGNED = pytest.mark.xfail(
    strict=True, reason="moto does not verify presigned URLs (real S3 refuses these with 403)"
)


def payload(size: int, seed: str = "") -> bytes:
    """Deterministic, non-repeating bytes (so a misplaced part or range shows)."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest() * 64
        counter += 1
    return bytes(out[:size])


# -- the local backend's HTTP server -----------------------------------------------------------


@dataclass
class LocalServer:
    """A uvicorn server on a free port, serving whichever local storage the test installs."""

    url: str
    storage: LocalFilesStorage | None = None

    def get(self) -> LocalFilesStorage:
        assert self.storage is not None
        return self.storage


def _error_response(_: Request, exc: Exception) -> JSONResponse:
    """Stand-in for the API's single error mapper: our errors to the one error body."""
    assert isinstance(exc, ArtifactStoreError)
    if exc.code == "invalid_signature":
        status = 403
    elif exc.code.endswith("_url_expired"):
        status = 410
    elif isinstance(exc, NotFound):
        status = 404
    else:
        status = 422 if isinstance(exc, InvalidInput) else 500
    body = {"error": {"code": exc.code, "message": exc.message, "details": exc.details}}
    return JSONResponse(body, status_code=status)


@pytest.fixture(scope="module")
def local_server() -> Iterator[LocalServer]:
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server_box = LocalServer(url=f"http://127.0.0.1:{sock.getsockname()[1]}")
    app = FastAPI()
    app.include_router(local_storage_router(server_box.get))
    app.add_exception_handler(ArtifactStoreError, _error_response)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:  # readiness wait, not a timing assertion
        assert thread.is_alive(), "uvicorn failed to start"
        time.sleep(0.01)
    yield server_box
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


# -- one fixture, two backends ----------------------------------------------------------------


@dataclass
class Backend:
    """A storage under test plus probes the assertions need."""

    name: str
    storage: BlobStorage
    version_of: Callable[[str], str | None]
    expired_target: Callable[[str, Digest, int], UploadTarget]
    leftovers: Callable[[], list[str]]
    s3: S3Client | None = None
    bucket: str = ""
    notified: list[tuple[str, int]] = field(default_factory=list)


def s3_client() -> S3Client:
    import boto3

    return boto3.session.Session().client("s3")


def new_bucket(client: S3Client) -> str:
    bucket = f"test-{uuid.uuid4().hex[:16]}"
    client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    return bucket


def s3_backend(moto_server: str) -> Backend:
    client = s3_client()
    bucket = new_bucket(client)
    # No client injected: the adapter builds its own from AWS_ENDPOINT_URL, like in Lambda.
    storage = S3Storage(
        bucket, multipart_threshold=THRESHOLD, url_ttl=URL_TTL, copy_threshold=8 * MiB
    )

    def version_of(key: str) -> str | None:
        try:
            return client.head_object(Bucket=bucket, Key=key)["VersionId"]
        except client.exceptions.ClientError:
            return None

    def expired_target(package_id: str, digest: Digest, size: int) -> UploadTarget:
        return S3Storage(bucket, multipart_threshold=THRESHOLD, url_ttl=1).upload_target(
            package_id, digest, size
        )

    def leftovers() -> list[str]:
        answer = client.list_object_versions(Bucket=bucket, Prefix="uploads/")
        return [v["Key"] for v in answer.get("Versions", [])]

    return Backend("s3", storage, version_of, expired_target, leftovers, client, bucket)


def local_backend(server: LocalServer, root: Path) -> Backend:
    notified: list[tuple[str, int]] = []

    def make(clock: Callable[[], float] = time.time) -> LocalFilesStorage:
        return LocalFilesStorage(
            root,
            signing_key=SIGNING_KEY,
            public_url=server.url,
            url_ttl=URL_TTL,
            notify=lambda key, size: notified.append((key, size)),
            clock=clock,
        )

    server.storage = make()

    def version_of(key: str) -> str | None:
        try:
            stat = (root / key).stat()
        except FileNotFoundError:
            return None
        return f"{stat.st_ino}:{stat.st_mtime_ns}"

    def expired_target(package_id: str, digest: Digest, size: int) -> UploadTarget:
        # Signed by a twin whose clock runs two TTLs behind: valid signature, long expired.
        return make(lambda: time.time() - 2 * URL_TTL).upload_target(package_id, digest, size)

    def leftovers() -> list[str]:
        upload_files = (root / "uploads").rglob("*") if (root / "uploads").exists() else []
        return [str(p.relative_to(root)) for p in upload_files if p.is_file()]

    backend = Backend("local", server.storage, version_of, expired_target, leftovers)
    backend.notified = notified
    return backend


@pytest.fixture(params=["s3", "local"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "s3":
        return s3_backend(request.getfixturevalue("moto_server"))
    return local_backend(request.getfixturevalue("local_server"), tmp_path / "storage")


def send(backend: Backend, target: UploadTarget, data: bytes, package_id: str = "") -> str:
    """Upload like the CLI: one PUT, or every part then completion (the API completes a
    multipart upload of ``package_id``); returns the last ETag."""
    if target.upload_id is None:
        assert target.url is not None
        answer = httpx.put(target.url, content=data, headers=dict(target.headers))
        assert answer.status_code == 200, answer.text
        return answer.headers["ETag"]
    etags = []
    for part in target.parts:
        chunk = data[part.offset : part.offset + part.size]
        answer = httpx.put(part.url, content=chunk, headers=dict(target.headers))
        assert answer.status_code == 200, answer.text
        etags.append(answer.headers["ETag"])
    digest = Digest.parse(str(target.digest))
    backend.storage.complete_multipart(package_id, digest, target.upload_id, etags)
    return etags[-1]


def uploaded(backend: Backend, data: bytes, digest: Digest | None = None) -> UploadTarget:
    """A fresh package's upload of ``data`` (under ``digest``, its own by default)."""
    package_id = str(uuid.uuid4())
    target = backend.storage.upload_target(package_id, digest or Digest.of_bytes(data), len(data))
    send(backend, target, data, package_id)
    return target


def blob_bytes(backend: Backend, digest: Digest) -> bytes:
    with backend.storage.open_blob(digest) as stream:
        return stream.read()


# -- the suite --------------------------------------------------------------------------------


def test_upload_then_promote_makes_a_blob_that_streams_back(backend: Backend) -> None:
    data = payload(100_000, "small")
    digest = Digest.of_bytes(data)
    assert not backend.storage.has_blob(digest)

    target = backend.storage.upload_target("pkg-small", digest, len(data))
    assert target.upload_id is None
    etag = send(backend, target, data)
    if backend.name == "local":  # S3's is an MD5; ours the bytes' BLAKE3
        assert etag == f'"{digest.hex}"'
    assert backend.storage.upload_size(target.key) == len(data)
    with backend.storage.open_upload(target.key) as opened:
        assert opened.size == len(data)
        assert hash_stream(opened.stream) == (digest, len(data))

    backend.storage.promote(target.key, digest, EPHEMERAL)

    assert backend.storage.has_blob(digest)
    assert blob_bytes(backend, digest) == data
    assert backend.storage.read_range(blob_key(digest), 1000, 1234) == data[1000:1234]
    assert backend.storage.read_range(blob_key(digest), 5, 5) == b""
    assert backend.storage.upload_size(target.key) is None
    assert backend.leftovers() == []
    if backend.name == "local":  # the stand-in for S3's ObjectCreated notification
        assert backend.notified == [(target.key, len(data))]


def test_large_blob_goes_multipart_on_s3_and_streams_back(backend: Backend) -> None:
    data = payload(11 * MiB, "large")
    digest = Digest.of_bytes(data)
    target = backend.storage.upload_target("pkg-large", digest, len(data))
    boundary = 8 * MiB
    if backend.name == "local":
        assert target.upload_id is None  # local streams any size in one PUT
        send(backend, target, data)
        backend.storage.promote(target.key, digest, EVIDENCE)  # a hard link: no copy
        with backend.storage.open_blob(digest) as stream:
            assert hash_stream(stream) == (digest, len(data))
        assert (
            backend.storage.read_range(blob_key(digest), boundary - 7, boundary + 9)
            == data[boundary - 7 : boundary + 9]
        )
        return
    # S3: straight into the blob's upload pack, where it stays once verified
    assert target.upload_id is not None
    assert target.key == pack_key(upload_pack_name("pkg-large", digest))
    assert [(p.part_number, p.offset, p.size) for p in target.parts] == [
        (1, 0, 8 * MiB),
        (2, 8 * MiB, 3 * MiB),
    ]
    send(backend, target, data, "pkg-large")
    # completing again (a lost answer, retried) is harmless
    backend.storage.complete_multipart("pkg-large", digest, target.upload_id, [])
    with backend.storage.open_upload(target.key) as opened:
        assert opened.started_for == ("pkg-large", digest)
        assert hash_stream(opened.stream) == (digest, len(data))
    assert (
        backend.storage.read_range(target.key, boundary - 7, boundary + 9)
        == data[boundary - 7 : boundary + 9]
    )
    assert not backend.storage.has_blob(digest)  # nothing copied it anywhere
    assert backend.storage.upload_size(upload_key("pkg-large", digest)) is None


def _refused_cases() -> list[Any]:
    cases = ["wrong_size", "tampered_signature", "expired"]
    return [
        *(pytest.param("s3", case, marks=MOTO_TRUSTS_PRESIGNED, id=f"s3-{case}") for case in cases),
        *(pytest.param("local", case, id=f"local-{case}") for case in cases),
    ]


EXPECTED_REFUSAL = {
    "wrong_size": (422, "size_mismatch"),
    "tampered_signature": (403, "invalid_signature"),
    "expired": (410, "upload_url_expired"),
}


@pytest.mark.parametrize(("backend", "case"), _refused_cases(), indirect=["backend"])
def test_refused_upload_urls_store_nothing(backend: Backend, case: str) -> None:
    data = payload(4096, case)
    digest = Digest.of_bytes(data)
    body = data
    if case == "expired":
        target = backend.expired_target("pkg-refused", digest, len(data))
    else:
        target = backend.storage.upload_target("pkg-refused", digest, len(data))
    assert target.url is not None
    url, headers = target.url, dict(target.headers)
    if case == "wrong_size":
        body = data + b"!"
        headers["Content-Length"] = str(len(body))
    elif case == "tampered_signature":
        url = _flip_signature(url)

    answer = httpx.put(url, content=body, headers=headers)

    assert 400 <= answer.status_code < 500, f"accepted: {answer.status_code}"
    if backend.name == "local":
        assert (answer.status_code, answer.json()["error"]["code"]) == EXPECTED_REFUSAL[case]
        if case == "wrong_size":  # refused on the header, before reading the body
            assert answer.json()["error"]["details"]["content_length"] == str(len(body))
        assert backend.notified == []
    assert backend.storage.upload_size(target.key) is None
    assert backend.leftovers() == []


def _flip_signature(url: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    name = "sig" if "sig" in query else "X-Amz-Signature"
    query[name] = ("0" if query[name][0] != "0" else "1") + query[name][1:]
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_promote_is_write_once_and_idempotent(backend: Backend) -> None:
    data = payload(50_000, "first")
    digest = Digest.of_bytes(data)
    first = uploaded(backend, data)
    backend.storage.promote(first.key, digest, EPHEMERAL)
    version = backend.version_of(blob_key(digest))
    assert version is not None

    backend.storage.promote(first.key, digest, EPHEMERAL)  # redelivered event: no-op

    # Other bytes promoted under the same digest (never verified: storage must not care) do not
    # replace the blob, and their upload is still dropped.
    impostor = uploaded(backend, payload(50_000, "other"), digest=digest)
    backend.storage.promote(impostor.key, digest, EPHEMERAL)
    assert backend.version_of(blob_key(digest)) == version
    assert blob_bytes(backend, digest) == data
    assert backend.storage.upload_size(impostor.key) is None


def test_promote_without_upload_or_blob_is_not_found(backend: Backend) -> None:
    digest = Digest.of_bytes(b"never uploaded")
    with pytest.raises(NotFound) as caught:
        backend.storage.promote(upload_key("pkg-x", digest), digest, EPHEMERAL)
    assert caught.value.code == "upload_not_found"
    assert not backend.storage.has_blob(digest)


def test_delete_upload_never_touches_blobs(backend: Backend) -> None:
    data = payload(10_000, "kept")
    digest = Digest.of_bytes(data)
    backend.storage.promote(uploaded(backend, data).key, digest, EPHEMERAL)
    version = backend.version_of(blob_key(digest))

    for key in (blob_key(digest), f"uploads/../{blob_key(digest)}", manifest_key(digest)):
        with pytest.raises(InvalidInput) as caught:
            backend.storage.delete_upload(key)
        assert caught.value.code == "not_an_upload_key"
    assert backend.version_of(blob_key(digest)) == version

    pending = uploaded(backend, payload(10_000, "rejected"), digest=digest)
    backend.storage.delete_upload(pending.key)
    backend.storage.delete_upload(pending.key)  # already gone: no-op
    assert backend.storage.upload_size(pending.key) is None
    assert backend.leftovers() == []  # on S3 not even an old version remains
    assert blob_bytes(backend, digest) == data


def test_manifests_are_write_once(backend: Backend) -> None:
    data = b'{"files":[],"manifest_version":1}'
    digest = Digest.of_bytes(data)
    with pytest.raises(NotFound) as missing:
        backend.storage.get_manifest(digest)
    assert missing.value.code == "manifest_not_found"

    backend.storage.put_manifest(digest, data, EVIDENCE)
    version = backend.version_of(manifest_key(digest))
    backend.storage.put_manifest(digest, data, EVIDENCE)
    assert backend.version_of(manifest_key(digest)) == version
    assert backend.storage.get_manifest(digest) == data

    other = Digest.of_bytes(b"other")
    with pytest.raises(InvalidInput) as caught:
        backend.storage.put_manifest(other, data, EVIDENCE)
    assert caught.value.code == "manifest_digest_mismatch"
    assert backend.version_of(manifest_key(other)) is None


def test_download_url_gets_the_blob(backend: Backend) -> None:
    data = payload(70_000, "download")
    digest = Digest.of_bytes(data)
    backend.storage.promote(uploaded(backend, data).key, digest, EPHEMERAL)

    url = backend.storage.download_url(digest, 60)
    answer = httpx.get(url)

    assert answer.status_code == 200
    assert answer.content == data
    if backend.name == "local":  # moto does not check presigned GETs either
        refused = httpx.get(_flip_signature(url))
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "invalid_signature")
