"""Build the storage backends the configured routes name, and only those."""

from __future__ import annotations

from artifactstore.adapters.local.signing import signing_key_for
from artifactstore.adapters.local.storage import LocalFilesStorage, Notify
from artifactstore.adapters.s3.storage import S3Storage
from artifactstore.errors import ConfigurationError
from artifactstore.ports.storage import BlobStorage
from artifactstore.settings import ServiceSettings


def build_storages(
    settings: ServiceSettings, notify: Notify | None = None
) -> dict[str, BlobStorage]:
    """``{backend name: storage}`` for every backend a route names; nothing connects yet.

    ``notify(key, size)`` is called after each local upload (the local stand-in for S3's
    ObjectCreated notification). ``ConfigurationError`` when a route names ``local`` and its
    signing key is missing, the example or short outside local development.
    """
    storages: dict[str, BlobStorage] = {}
    backends = settings.routes().backends
    # The bucket's notifications reach the verifier whatever the routes say, so S3 is built
    # whenever a bucket is configured (lazily: nothing connects here).
    if "s3" in backends or settings.bucket:
        if not settings.bucket:
            raise ConfigurationError(
                "ARTIFACTSTORE_BUCKET is required: ARTIFACTSTORE_STORAGE_BACKEND_ROUTES "
                f"sends packages to s3 ({settings.storage_backend_routes!r})"
            )
        storages["s3"] = S3Storage(
            settings.bucket,
            multipart_threshold=settings.multipart_threshold,
            url_ttl=settings.upload_url_ttl_seconds,
        )
    if "local" in backends:
        key = settings.local_signing_key
        storages["local"] = LocalFilesStorage(
            settings.local_storage_dir,
            # A missing, example or short key is refused outside local development.
            signing_key=signing_key_for(
                key.get_secret_value() if key else None, local_dev=settings.local_dev
            ),
            public_url=settings.public_api_url,
            url_ttl=settings.upload_url_ttl_seconds,
            notify=notify,
        )
    return storages
