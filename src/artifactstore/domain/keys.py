"""The storage key layout: where blobs, manifests, uploads and bundles live, and its parsers."""

from __future__ import annotations

import re

from artifactstore.domain.bundles import BUNDLE_MAX_BYTES
from artifactstore.domain.digests import Digest
from artifactstore.errors import InvalidInput

UPLOADS_PREFIX = "uploads/"
BUNDLES_SEGMENT = "bundles"
_BUNDLE_ID_RE = re.compile(r"[0-9a-f]{64}")
ATTESTATIONS_PREFIX = "attestations/"
_PACKAGE_ID_RE = re.compile(r"[A-Za-z0-9-]{1,64}")
_PACK_KEY_RE = re.compile(
    r"packs/blake3/(?P<a>[0-9a-f]{2})/(?P<b>[0-9a-f]{2})/(?P<hex>[0-9a-f]{64})"
)


def blob_key(digest: Digest) -> str:
    """Content-addressed blob key: ``blobs/blake3/<2 hex>/<2 hex>/<64 hex>``."""
    return f"blobs/blake3/{digest.hex[:2]}/{digest.hex[2:4]}/{digest.hex}"


def pack_key(pack: Digest) -> str:
    """Where a pack of small blobs lives: ``packs/blake3/<2 hex>/<2 hex>/<64 hex>``, by its
    name (``domain/packs.pack_name``)."""
    return f"packs/blake3/{pack.hex[:2]}/{pack.hex[2:4]}/{pack.hex}"


def parse_pack_key(key: str) -> Digest | None:
    """The pack a ``pack_key`` names, or None for any other key."""
    match = _PACK_KEY_RE.fullmatch(key)
    if match is None or match["hex"][:2] != match["a"] or match["hex"][2:4] != match["b"]:
        return None
    return Digest(match["hex"])


def manifest_key(digest: Digest) -> str:
    """Manifest key: ``manifests/blake3/<64 hex>.json``."""
    return f"manifests/blake3/{digest.hex}.json"


def attestation_key(package_id: str) -> str:
    """Where a package's signed attestation (a DSSE envelope) is stored:
    ``attestations/<package_id>.dsse.json`` (docs/attestations.md)."""
    if not _PACKAGE_ID_RE.fullmatch(package_id):
        # Never a client's input: built from a catalog record's id.
        raise ValueError(f"not a package id: {package_id!r}")
    return f"{ATTESTATIONS_PREFIX}{package_id}.dsse.json"


def upload_key(package_id: str, digest: Digest) -> str:
    """Where a client's bytes for one blob of one package land before verification."""
    return f"{UPLOADS_PREFIX}{package_id}/{digest.hex}"


def parse_upload_key(key: str) -> tuple[str, Digest] | None:
    """``(package_id, digest)`` of an upload key, or None for any other key."""
    if not key.startswith(UPLOADS_PREFIX):
        return None
    parts = key[len(UPLOADS_PREFIX) :].split("/")
    if len(parts) != 2 or not parts[0]:
        return None
    try:
        return parts[0], Digest.parse("blake3:" + parts[1])
    except ValueError:
        return None


def bundle_key(package_id: str, bundle_id: str) -> str:
    """Where a client's bundle (many small blobs' bytes, concatenated) lands before verification."""
    if not _BUNDLE_ID_RE.fullmatch(bundle_id):
        # Never a client's input: bundle ids are computed (``domain.bundles.bundle_id``).
        raise ValueError(f"not a bundle id: {bundle_id!r} (expected 64 lowercase hex)")
    return f"{UPLOADS_PREFIX}{package_id}/{BUNDLES_SEGMENT}/{bundle_id}"


def require_bundle_size(bundle_id: str, size: int) -> None:
    """Refuse a bundle target of more bytes than a bundle may carry (``bundle_too_big``, as
    ``POST /packages/{id}/bundles`` answers)."""
    if size < 0 or size > BUNDLE_MAX_BYTES:
        raise InvalidInput(
            f"bundle size {size} is outside 0..{BUNDLE_MAX_BYTES} bytes",
            code="bundle_too_big",
            details={"bundle_id": bundle_id, "size": size, "limit": BUNDLE_MAX_BYTES},
        )


def parse_bundle_key(key: str) -> tuple[str, str] | None:
    """``(package_id, bundle_id)`` of a bundle key, or None for any other key."""
    if not key.startswith(UPLOADS_PREFIX):
        return None
    parts = key[len(UPLOADS_PREFIX) :].split("/")
    if len(parts) != 3 or not parts[0] or parts[1] != BUNDLES_SEGMENT:
        return None
    if not _BUNDLE_ID_RE.fullmatch(parts[2]):
        return None
    return parts[0], parts[2]


def is_upload_key(key: str) -> bool:
    """Whether ``key`` is a pending upload's: one blob's or one bundle's."""
    return parse_upload_key(key) is not None or parse_bundle_key(key) is not None


def require_upload_key(key: str) -> None:
    """Refuse any key but a pending upload's (a blob's or a bundle's): a backend never deletes
    a blob this way."""
    if not is_upload_key(key):
        raise InvalidInput(
            f"refusing to delete {key!r}: not an upload key",
            code="not_an_upload_key",
            details={"key": key},
        )
