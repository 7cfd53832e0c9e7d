"""The signing port: sign bytes with the current key; list every key's public half."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from artifactstore.domain.signing_keys import PublicKeyInfo


@dataclass(frozen=True, slots=True)
class Signature:
    """An ECDSA P-256 / SHA-256 signature (DER) and the keyid of the key that made it."""

    keyid: str
    der: bytes


class Signer(Protocol):
    """An asymmetric signing key held elsewhere (AWS KMS), and the keys it rotated from."""

    def sign(self, message: bytes) -> Signature:
        """Sign ``message`` (the DSSE PAE bytes) with the current key."""
        ...

    def public_keys(self) -> list[PublicKeyInfo]:
        """Every listed key's public key, the current one first."""
        ...
