"""Checking a package's signed attestation on the client: trusted keys, the envelope, the check.

The server is not trusted here: the envelope must carry a signature by a key the user trusts
(``--key FILE`` or ``ARTIFACTSTORE_TRUSTED_KEYS``), over a statement whose subject is exactly
the manifest bytes in hand.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from artifactstore.client.api import ApiClient
from artifactstore.errors import InvalidInput

if TYPE_CHECKING:  # cryptography is imported only where a key or an envelope is checked
    from artifactstore.domain.attestation import TrustedKey, VerifiedStatement

TRUSTED_KEYS_SETTING = "ARTIFACTSTORE_TRUSTED_KEYS"


def load_trusted_keys(paths: Iterable[Path]) -> list[TrustedKey]:
    """Every PEM public key in the files (a file may hold several)."""
    from artifactstore.domain.attestation import trusted_keys_from_pem

    keys: list[TrustedKey] = []
    for path in paths:
        keys.extend(trusted_keys_from_pem(path.read_bytes(), str(path)))
    return keys


def configured_trusted_keys() -> list[TrustedKey]:
    """The keys named by ``ARTIFACTSTORE_TRUSTED_KEYS`` (PEM files, ``os.pathsep``-separated);
    none when it is unset."""
    from artifactstore.settings import ClientSettings

    setting = ClientSettings().trusted_keys or ""
    return load_trusted_keys(Path(p) for p in setting.split(os.pathsep) if p.strip())


def require_keys(keys: list[TrustedKey]) -> list[TrustedKey]:
    """``keys``, or ``no_trusted_keys`` when there are none."""
    if not keys:
        raise InvalidInput(
            f"no trusted key: give --key FILE (a PEM public key) or set {TRUSTED_KEYS_SETTING}",
            code="no_trusted_keys",
        )
    return keys


def fetch_envelope(client: ApiClient, package_id: str) -> bytes:
    """The package's stored envelope (404 ``attestation_pending`` while it is not signed)."""
    return client.get_bytes(f"/packages/{quote(package_id, safe='')}/attestation").content


def signing_keys(client: ApiClient) -> list[dict[str, Any]]:
    """``GET /signing-keys``: the keys the store says it signs with (not trusted by that)."""
    keys: list[dict[str, Any]] = client.get_json("/signing-keys")["keys"]
    return keys


def check_attestation(
    client: ApiClient, package_id: str, manifest: bytes, trusted: list[TrustedKey]
) -> VerifiedStatement:
    """Fetch the package's envelope and verify it against ``trusted`` and ``manifest``."""
    from artifactstore.domain.attestation import verify_envelope

    envelope = fetch_envelope(client, package_id)
    return verify_envelope(envelope, trusted, manifest=manifest, package_id=package_id)


def describe(verified: VerifiedStatement) -> str:
    """One line for people: what the verified statement says."""
    predicate = verified.predicate
    return (
        f"attestation verified: package {predicate.get('package_id')} sealed "
        f"{predicate.get('sealed_at')} with manifest blake3:{verified.subject_digest['blake3']}, "
        f"signed by key {verified.keyid}"
    )
