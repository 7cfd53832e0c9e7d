"""Test signing keys held in memory, and envelopes made with them as the linker makes its own."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from artifactstore.domain.attestation import (
    PAYLOAD_TYPE,
    SealFacts,
    build_envelope,
    build_statement,
    envelope_bytes,
    keyid_of,
    pae,
    statement_payload,
)


@dataclass
class LocalKey:
    """A P-256 key pair, standing in for a KMS key."""

    private: ec.EllipticCurvePrivateKey

    @classmethod
    def new(cls) -> LocalKey:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @property
    def der(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def keyid(self) -> str:
        return keyid_of(self.der)

    def write_pem(self, path: Path) -> Path:
        path.write_bytes(self.pem)
        return path

    def sign(self, message: bytes) -> bytes:
        """A DER ECDSA P-256 / SHA-256 signature, as KMS returns it."""
        return self.private.sign(message, ec.ECDSA(hashes.SHA256()))


def facts(package_id: str = "00000000-0000-0000-0000-000000000001", **changes: Any) -> SealFacts:
    """Seal facts of a made-up package."""
    values: dict[str, Any] = {
        "package_id": package_id,
        "producer": "guide-board",
        "idempotency_key": "run-1",
        "schema": "guide-board.run.v1",
        "retention_class": "release-evidence",
        "sealed_at": datetime(2026, 12, 4, 14, 49, 22, tzinfo=UTC),
        "file_count": 3,
        "total_bytes": 116,
        "store": "http://127.0.0.1:8000",
        **changes,
    }
    return SealFacts(**values)


def envelope_for(manifest: bytes, key: LocalKey, seal: SealFacts | None = None) -> bytes:
    """The stored envelope bytes of a statement about ``manifest``, signed by ``key``."""
    payload = statement_payload(build_statement(manifest, seal or facts()))
    return envelope_bytes(build_envelope(payload, key.keyid, key.sign(pae(PAYLOAD_TYPE, payload))))


def with_payload_byte_changed(envelope: bytes, index: int = 40) -> bytes:
    """The envelope with one byte of its (decoded) payload flipped, still valid JSON."""
    body = json.loads(envelope)
    payload = bytearray(base64.b64decode(body["payload"]))
    payload[index] = ord("X") if payload[index] != ord("X") else ord("Y")
    body["payload"] = base64.b64encode(bytes(payload)).decode()
    return json.dumps(body).encode()
