"""Reading packages: their JSON view, the exact manifest bytes, download URLs."""

from __future__ import annotations

from typing import Any

from artifactstore.domain.digests import Digest
from artifactstore.domain.packages import PackageRecord, PackageState
from artifactstore.errors import Conflict
from artifactstore.service.context import Services


def package_view(record: PackageRecord) -> dict[str, Any]:
    """The JSON view of a package record (without its files)."""
    return {
        "package_id": record.package_id,
        "producer": record.producer,
        "idempotency_key": record.idempotency_key,
        "retention_class": record.retention_class,
        "schema": record.schema,
        "metadata": record.metadata,
        "state": record.state.value,
        "backend": record.backend,
        "manifest_digest": record.manifest_digest,
        "file_count": record.file_count,
        "total_bytes": record.total_bytes,
        "blob_count": record.blob_count,
        "verified_blobs": record.verified_count,
        "rejected_blobs": record.rejected_count,
        "created_at": record.created_at.isoformat(),
        "expires_at": record.expires_at.isoformat() if record.state is PackageState.DRAFT else None,
        "sealed_at": record.sealed_at.isoformat() if record.sealed_at else None,
        "run_dir": record.run_dir,
        "links": record.links,
        "state_hub_link": record.state_hub_link,
    }


def manifest_bytes(svc: Services, package_id: str) -> tuple[bytes, str]:
    """The sealed package's exact canonical manifest bytes and digest."""
    record = svc.catalog.get_package(package_id)
    if record.manifest_digest is None:
        raise Conflict(
            f"package {package_id} is {record.state.value}: it has no manifest until sealed",
            code="not_sealed",
        )
    digest = Digest.parse(record.manifest_digest)
    return svc.storage(record.backend).get_manifest(digest), record.manifest_digest


def file_download_url(svc: Services, package_id: str, path: str) -> str:
    """A short-lived URL for one file's blob."""
    record = svc.catalog.get_package(package_id)
    entry = svc.catalog.get_file(package_id, path)
    if svc.catalog.get_blob_state(package_id, entry.digest) is None or (
        record.state is not PackageState.SEALED
        and not svc.catalog.verified_blobs(record.backend, [entry.digest])
    ):
        raise Conflict(f"{path} of package {package_id} is not verified yet", code="not_verified")
    return svc.storage(record.backend).download_url(entry.digest, 300)
