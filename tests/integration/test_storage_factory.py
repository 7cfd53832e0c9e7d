"""The backends built are exactly those the routes name; a route to S3 needs a bucket."""

from __future__ import annotations

from pathlib import Path

import pytest

from artifactstore.adapters.local.storage import LocalFilesStorage
from artifactstore.adapters.s3.storage import S3Storage
from artifactstore.adapters.storage_factory import build_storages
from artifactstore.errors import ConfigurationError
from artifactstore.settings import ServiceSettings


def settings(routes: str, tmp_path: Path, bucket: str | None = None) -> ServiceSettings:
    return ServiceSettings.model_validate(
        {
            "ARTIFACTSTORE_STORAGE_BACKEND_ROUTES": routes,
            "ARTIFACTSTORE_BUCKET": bucket,
            "ARTIFACTSTORE_LOCAL_STORAGE_DIR": str(tmp_path / "files"),
            "ARTIFACTSTORE_API_URL": "http://127.0.0.1:9999",
            "ARTIFACTSTORE_MULTIPART_THRESHOLD": 16 * 1024**2,
            "ARTIFACTSTORE_LOCAL_SIGNING_KEY": "a-test-signing-key-of-32-bytes-or-more",
            "ARTIFACTSTORE_LOCAL_DEV": False,
        }
    )


def test_local_only_routes_build_only_local(tmp_path: Path) -> None:
    storages = build_storages(settings("*:*=local", tmp_path))

    assert list(storages) == ["local"]
    local = storages["local"]
    assert isinstance(local, LocalFilesStorage)
    assert local.root == tmp_path / "files"
    assert local.public_url == "http://127.0.0.1:9999"


def test_mixed_routes_build_both_without_connecting(tmp_path: Path) -> None:
    notes: list[tuple[str, int]] = []
    storages = build_storages(
        settings("guide-board:release-evidence=s3,*:*=local", tmp_path, bucket="evidence"),
        notify=lambda key, size: notes.append((key, size)),
    )

    assert sorted(storages) == ["local", "s3"]
    s3 = storages["s3"]
    assert isinstance(s3, S3Storage)
    assert (s3.bucket, s3.multipart_threshold) == ("evidence", 16 * 1024**2)
    assert s3._client is None  # built on first use, never at start
    local = storages["local"]
    assert isinstance(local, LocalFilesStorage)
    assert local.notify is not None
    local.notify("uploads/p/x", 1)
    assert notes == [("uploads/p/x", 1)]


def test_s3_route_without_bucket_fails_at_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        build_storages(settings("guide-board:*=s3,*:*=local", tmp_path))
    assert "ARTIFACTSTORE_BUCKET" in caught.value.message
