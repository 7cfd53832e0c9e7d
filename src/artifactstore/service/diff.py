"""Diffing two sealed packages through their manifests (read through ``service/reading.py``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from artifactstore.domain.diff import ManifestDiff, diff_manifests
from artifactstore.domain.digests import Digest
from artifactstore.errors import IntegrityError
from artifactstore.service import reading
from artifactstore.service.context import Services


@dataclass(frozen=True, slots=True)
class PackageDiff:
    """Two packages' views and what differs between their manifests."""

    old: dict[str, Any]
    new: dict[str, Any]
    diff: ManifestDiff

    def to_json(self) -> dict[str, Any]:
        """``{"from", "to", "same", "added", "removed", "changed", "metadata", ...}``."""
        return {"from": self.old, "to": self.new, **self.diff.to_json()}


def sealed_manifest(svc: Services, package_id: str) -> dict[str, Any]:
    """A sealed (or expired) package's manifest body, its bytes checked against its digest.

    A draft has no manifest: ``Conflict`` ``not_sealed`` (from ``reading.manifest_bytes``).
    """
    raw, digest = reading.manifest_bytes(svc, package_id)
    seen = Digest.of_bytes(raw)
    if str(seen) != digest:
        raise IntegrityError(
            f"the stored manifest of package {package_id} does not match its digest",
            details={"expected": digest, "seen": str(seen)},
        )
    body: dict[str, Any] = json.loads(raw)
    return body


def package_summary(svc: Services, package_id: str) -> dict[str, Any]:
    """What a diff says about each side: identity, digest, size and times."""
    view = reading.package_view(svc.catalog.get_package(package_id), svc.clock())
    keys = (
        "package_id",
        "producer",
        "idempotency_key",
        "schema",
        "state",
        "manifest_digest",
        "file_count",
        "total_bytes",
        "created_at",
        "sealed_at",
    )
    return {k: view[k] for k in keys}


def diff_packages(svc: Services, from_id: str, to_id: str) -> PackageDiff:
    """What changed from package ``from_id`` to package ``to_id`` (both sealed or expired)."""
    old_view, new_view = package_summary(svc, from_id), package_summary(svc, to_id)
    old, new = sealed_manifest(svc, from_id), sealed_manifest(svc, to_id)
    return PackageDiff(old_view, new_view, diff_manifests(old, new))
