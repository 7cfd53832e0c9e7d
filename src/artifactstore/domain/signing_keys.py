"""Which signing keys are configured: the current one, and retired ones still listed.

Kept apart from ``domain.attestation`` so that reading settings does not import
``cryptography``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from artifactstore.errors import ConfigurationError

ALGORITHM = "ecdsa-p256-sha256"  # ECDSA P-256 / SHA-256, DER signatures


@dataclass(frozen=True, slots=True)
class SigningKeyRef:
    """A configured signing key (a KMS key id, ARN or alias) and when it was retired."""

    key_id: str
    not_after: datetime | None = None


def parse_signing_keys(current: str | None, listed: str | None) -> tuple[SigningKeyRef, ...]:
    """The keys whose public keys are listed, the current one first.

    ``listed`` is comma-separated; a retired key may carry ``@<ISO 8601 time>``, the time it
    stopped signing (its ``not_after``). The current key is put first when missing and may not
    carry a retirement time.
    """
    refs: list[SigningKeyRef] = []
    for item in (listed or "").split(","):
        text = item.strip()
        if not text:
            continue
        key_id, _, retired = text.partition("@")
        not_after = None
        if retired:
            try:
                not_after = datetime.fromisoformat(retired.strip())
            except ValueError as exc:
                raise ConfigurationError(
                    f"ARTIFACTSTORE_SIGNING_KEY_IDS: {text!r}: not an ISO 8601 time after '@'"
                ) from exc
            if not_after.tzinfo is None:
                raise ConfigurationError(
                    f"ARTIFACTSTORE_SIGNING_KEY_IDS: {text!r}: give the time zone (e.g. Z)"
                )
        refs.append(SigningKeyRef(key_id.strip(), not_after))
    if current:
        mine = [r for r in refs if r.key_id == current]
        if any(r.not_after is not None for r in mine):
            raise ConfigurationError(
                f"the current signing key {current!r} is listed as retired "
                "in ARTIFACTSTORE_SIGNING_KEY_IDS"
            )
        refs = [SigningKeyRef(current), *(r for r in refs if r.key_id != current)]
    return tuple(refs)


@dataclass(frozen=True, slots=True)
class PublicKeyInfo:
    """One listed public key, as ``GET /signing-keys`` shows it."""

    keyid: str
    public_key_pem: str
    not_before: datetime | None
    not_after: datetime | None
    algorithm: str = ALGORITHM

    def to_json(self) -> dict[str, Any]:
        """The ``/signing-keys`` entry."""
        return {
            "keyid": self.keyid,
            "algorithm": self.algorithm,
            "public_key_pem": self.public_key_pem,
            "not_before": self.not_before.isoformat() if self.not_before else None,
            "not_after": self.not_after.isoformat() if self.not_after else None,
        }
