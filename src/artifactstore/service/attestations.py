"""Signed seals: sign each sealed package's in-toto statement once; serve it and the keys.

``attest_package`` runs on the event path (the linker, after the State Hub link), never in a
user's request. It is idempotent: an attestation already stored is returned as it is, and the
store's write-once put (``If-None-Match: *`` on S3, a hard link locally) keeps the first of two
racing deliveries, so a package has exactly one attestation however often its seal event
arrives. See docs/attestations.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from artifactstore.domain.digests import Digest
from artifactstore.domain.packages import PackageRecord, PackageState
from artifactstore.errors import Conflict, IntegrityError, NotFound
from artifactstore.service.context import Services

logger = Logger(service="artifactstore", child=True)


@dataclass(frozen=True, slots=True)
class Attested:
    """A package's stored envelope, and whether this call signed and stored it."""

    envelope: bytes
    created: bool


def attest_package(svc: Services, package_id: str) -> Attested | None:
    """Sign and store the sealed package's attestation unless it is stored already.

    None when no signing key is configured (nothing to do). ``not_sealed`` for a package that
    was never sealed; a KMS failure raises ``signing_unavailable`` (the event is retried; the
    seal stands).
    """
    from artifactstore.domain.attestation import (
        PAYLOAD_TYPE,
        SealFacts,
        build_envelope,
        build_statement,
        envelope_bytes,
        pae,
        statement_payload,
    )

    record = svc.catalog.get_package(package_id)
    manifest_digest, sealed_at = _sealed(record)
    storage = svc.storage(record.backend)
    stored = storage.get_attestation(package_id)
    if stored is not None:
        return Attested(stored, created=False)
    if svc.signer is None:
        logger.info("no signing key configured: package not attested")
        return None
    manifest = storage.get_manifest(manifest_digest)
    if Digest.of_bytes(manifest) != manifest_digest:
        raise IntegrityError(
            f"stored manifest of package {package_id} does not hash to {manifest_digest}",
            details={"package_id": package_id, "manifest_digest": str(manifest_digest)},
        )
    facts = SealFacts(
        package_id=record.package_id,
        producer=record.producer,
        idempotency_key=record.idempotency_key,
        schema=record.schema,
        retention_class=record.retention_class,
        sealed_at=sealed_at,
        file_count=record.file_count,
        total_bytes=record.total_bytes,
        store=svc.public_api_url,
    )
    payload = statement_payload(build_statement(manifest, facts))
    signature = svc.signer.sign(pae(PAYLOAD_TYPE, payload))
    data = envelope_bytes(build_envelope(payload, signature.keyid, signature.der))
    retention = svc.retention_classes[record.retention_class]
    if storage.put_attestation(package_id, data, retention):
        logger.info("package attested", extra={"package_id": package_id, "keyid": signature.keyid})
        return Attested(data, created=True)
    # A concurrent delivery stored its envelope first: that one is the package's attestation.
    first = storage.get_attestation(package_id)
    if first is None:  # pragma: no cover - write-once storage never loses what it refused for
        raise IntegrityError(f"attestation of package {package_id} vanished after a write race")
    return Attested(first, created=False)


def _sealed(record: PackageRecord) -> tuple[Digest, datetime]:
    """The sealed package's manifest digest and seal time (both recorded by the seal)."""
    if record.manifest_digest is None or record.sealed_at is None:
        raise Conflict(
            f"package {record.package_id} is {record.state.value}: only a sealed package is "
            "attested",
            code="not_sealed",
        )
    return Digest.parse(record.manifest_digest), record.sealed_at


def get_attestation(svc: Services, package_id: str) -> bytes:
    """The package's envelope (``GET /packages/{id}/attestation``).

    404 ``attestation_pending`` until it is signed: a draft (it is signed once sealed) and a
    sealed package whose seal event the linker has not handled yet. 409 ``not_sealed`` for a
    draft that expired unsealed (it never will be).
    """
    record = svc.catalog.get_package(package_id)
    if record.manifest_digest is None and record.state is not PackageState.DRAFT:
        raise Conflict(
            f"package {package_id} expired before it was sealed: it has no attestation",
            code="not_sealed",
        )
    stored = None
    if record.manifest_digest is not None:
        stored = svc.storage(record.backend).get_attestation(package_id)
    if stored is None:
        raise NotFound(
            f"package {package_id} is {record.state.value} and not attested yet: its "
            "attestation is signed shortly after it seals; ask again",
            code="attestation_pending",
            details={"package_id": package_id, "state": record.state.value},
        )
    return stored


def signing_keys(svc: Services) -> dict[str, Any]:
    """``GET /signing-keys``: every listed public key, the current one first."""
    keys = svc.signer.public_keys() if svc.signer is not None else []
    return {"keys": [key.to_json() for key in keys]}
