"""Fetching a package's manifest and checking it against the package's recorded digest."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from artifactstore.client.api import ApiClient
from artifactstore.domain.digests import Digest
from artifactstore.domain.manifest import FileEntry
from artifactstore.errors import Conflict, IntegrityError, InvalidInput


@dataclass(frozen=True, slots=True)
class FetchedManifest:
    """A manifest's exact bytes, its checked digest and its file entries."""

    raw: bytes
    digest: Digest
    body: dict[str, Any]
    files: tuple[FileEntry, ...]


def parse_manifest(raw: bytes, source: str) -> tuple[dict[str, Any], tuple[FileEntry, ...]]:
    """Parse manifest JSON; every entry is validated (paths included) before anything trusts it."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{source} is not JSON: {exc}", code="invalid_manifest") from exc
    files = body.get("files") if isinstance(body, dict) else None
    if not isinstance(files, list):
        raise InvalidInput(f"{source} has no 'files' list", code="invalid_manifest")
    entries = tuple(FileEntry.from_json(f) for f in _objects(files, source))
    return body, entries


def _objects(items: Iterable[Any], source: str) -> Iterable[dict[str, Any]]:
    for item in items:
        if not isinstance(item, dict):
            raise InvalidInput(f"{source}: a file entry is not an object", code="invalid_manifest")
        yield item


def fetch_manifest(client: ApiClient, package_id: str) -> FetchedManifest:
    """The sealed package's manifest, its BLAKE3 checked against the catalog's digest."""
    package = client.get_json(f"/packages/{package_id}", {"files_limit": 1})
    if package.get("state") != "sealed":
        raise Conflict(
            f"package {package_id} is {package.get('state')}, not sealed: it has no manifest yet",
            code="package_not_sealed",
        )
    expected = Digest.parse(package.get("manifest_digest"))
    raw = client.get_bytes(f"/packages/{package_id}/manifest").content
    seen = Digest.of_bytes(raw)
    if seen != expected:
        raise IntegrityError(
            f"manifest of package {package_id} does not match its digest: expected {expected}, "
            f"got {seen}",
            details={"expected": str(expected), "seen": str(seen)},
        )
    body, files = parse_manifest(raw, f"manifest of package {package_id}")
    return FetchedManifest(raw, seen, body, files)
