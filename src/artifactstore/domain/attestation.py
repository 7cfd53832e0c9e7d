"""Signed seals: an in-toto Statement v1 about a sealed manifest, in a DSSE envelope.

The statement's one subject is the manifest (digest set: its BLAKE3 and the SHA-256 of its
canonical bytes), the predicate says which package this store sealed when. The envelope is DSSE
(``payloadType`` ``application/vnd.in-toto+json``); its signature is ECDSA P-256 / SHA-256 over
DSSE's pre-authentication encoding (PAE), DER-encoded as AWS KMS returns it. A key's ``keyid``
is the SHA-256 (hex) of its DER SubjectPublicKeyInfo. See docs/attestations.md.

Nothing here knows AWS: signing goes through ``ports.signing.Signer``; verifying needs only the
envelope, a trusted public key and (to bind the statement to content) the manifest's bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from artifactstore.domain.digests import Digest
from artifactstore.domain.manifest import canonical_json
from artifactstore.domain.signing_keys import ALGORITHM, PublicKeyInfo
from artifactstore.errors import IntegrityError, InvalidInput

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
PREDICATE_TYPE = "https://artifactstore.dev/seal/v1"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_STANDARD_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_URLSAFE_B64 = re.compile(r"[A-Za-z0-9_-]*={0,2}")
_PEM_BLOCK = re.compile(rb"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", re.DOTALL)


# -- the statement -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SealFacts:
    """What the predicate says about the seal (all from the package's catalog record)."""

    package_id: str
    producer: str
    idempotency_key: str
    schema: str
    retention_class: str
    sealed_at: datetime
    file_count: int
    total_bytes: int
    store: str  # the API's public URL: which store sealed it


def subject_name(digest: Digest) -> str:
    """The subject's name: the manifest's storage key."""
    return f"manifests/blake3/{digest.hex}.json"


def build_statement(manifest: bytes, facts: SealFacts) -> dict[str, Any]:
    """The in-toto Statement v1 whose one subject is ``manifest`` (its canonical bytes)."""
    digest = Digest.of_bytes(manifest)
    return {
        "_type": STATEMENT_TYPE,
        "subject": [
            {
                "name": subject_name(digest),
                "digest": {"blake3": digest.hex, "sha256": hashlib.sha256(manifest).hexdigest()},
            }
        ],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "package_id": facts.package_id,
            "producer": facts.producer,
            "idempotency_key": facts.idempotency_key,
            "schema": facts.schema,
            "retention_class": facts.retention_class,
            "sealed_at": facts.sealed_at.isoformat(),
            "file_count": facts.file_count,
            "total_bytes": facts.total_bytes,
            "manifest_digest": str(digest),
            "store": facts.store,
        },
    }


def statement_payload(statement: Mapping[str, Any]) -> bytes:
    """The bytes signed and carried in the envelope: the statement as RFC 8785 JSON."""
    return canonical_json(dict(statement))


# -- DSSE --------------------------------------------------------------------------------


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: ``DSSEv1 <len> <type> <len> <body>`` (lengths in
    bytes, ASCII decimal), the exact bytes a signature covers."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def build_envelope(payload: bytes, keyid: str, signature: bytes) -> dict[str, Any]:
    """A DSSE envelope with one signature (standard base64, as the DSSE spec writes it)."""
    return {
        "payload": base64.b64encode(payload).decode("ascii"),
        "payloadType": PAYLOAD_TYPE,
        "signatures": [{"keyid": keyid, "sig": base64.b64encode(signature).decode("ascii")}],
    }


def envelope_bytes(envelope: Mapping[str, Any]) -> bytes:
    """An envelope as stored and served: RFC 8785 JSON."""
    return canonical_json(dict(envelope))


# -- keys --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrustedKey:
    """A P-256 public key a verifier trusts, and its keyid."""

    keyid: str
    key: ec.EllipticCurvePublicKey

    @property
    def pem(self) -> str:
        """The key as PEM SubjectPublicKeyInfo."""
        return self.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")


def keyid_of(spki_der: bytes) -> str:
    """A key's keyid: SHA-256 (hex) of its DER SubjectPublicKeyInfo."""
    return hashlib.sha256(spki_der).hexdigest()


def trusted_key_from_der(spki_der: bytes, source: str = "public key") -> TrustedKey:
    """A P-256 key from DER SubjectPublicKeyInfo (what KMS ``GetPublicKey`` answers)."""
    try:
        key = serialization.load_der_public_key(spki_der)
    except ValueError as exc:
        raise InvalidInput(f"{source}: not a DER public key", code="invalid_public_key") from exc
    return _p256(key, source)


def trusted_keys_from_pem(data: bytes, source: str) -> list[TrustedKey]:
    """Every ``PUBLIC KEY`` PEM block in ``data`` (a file may hold several), each P-256."""
    blocks = _PEM_BLOCK.findall(data)
    if not blocks:
        raise InvalidInput(f"{source}: no PEM public key in it", code="invalid_public_key")
    keys = []
    for block in blocks:
        try:
            key = serialization.load_pem_public_key(block)
        except ValueError as exc:
            raise InvalidInput(
                f"{source}: unreadable PEM public key", code="invalid_public_key"
            ) from exc
        keys.append(_p256(key, source))
    return keys


def _p256(key: object, source: str) -> TrustedKey:
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise InvalidInput(
            f"{source}: not an ECDSA P-256 public key (attestations are {ALGORITHM})",
            code="invalid_public_key",
        )
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return TrustedKey(keyid_of(der), key)


def public_key_info(
    spki_der: bytes, not_before: datetime | None, not_after: datetime | None
) -> PublicKeyInfo:
    """The ``/signing-keys`` entry of a DER public key."""
    trusted = trusted_key_from_der(spki_der)
    return PublicKeyInfo(trusted.keyid, trusted.pem, not_before, not_after)


# -- verification ------------------------------------------------------------------------


class AttestationError(IntegrityError):
    """An envelope that does not prove what it should; its ``code`` says why."""


@dataclass(frozen=True, slots=True)
class VerifiedStatement:
    """A statement whose signature a trusted key verified (and, if given, its manifest)."""

    statement: dict[str, Any]
    keyid: str

    @property
    def predicate(self) -> dict[str, Any]:
        """The seal's facts."""
        return dict(self.statement["predicate"])

    @property
    def subject_digest(self) -> dict[str, str]:
        """The manifest's digests the statement names."""
        return dict(self.statement["subject"][0]["digest"])


def _malformed(message: str) -> AttestationError:
    return AttestationError(f"malformed attestation: {message}", code="attestation_malformed")


def _b64(text: object, what: str) -> bytes:
    """Standard base64 (what DSSE writes), or URL-safe base64 (which it also allows)."""
    if not isinstance(text, str):
        raise _malformed(f"{what} is not a base64 string")
    alphabet = _URLSAFE_B64 if ("-" in text or "_" in text) else _STANDARD_B64
    if not alphabet.fullmatch(text):
        raise _malformed(f"{what} is not base64")
    try:
        return base64.b64decode(
            text + "=" * (-len(text) % 4),
            altchars=b"-_" if alphabet is _URLSAFE_B64 else None,
            validate=True,
        )
    except (binascii.Error, ValueError) as exc:
        raise _malformed(f"{what} is not base64") from exc


def parse_envelope(data: bytes | Mapping[str, Any]) -> dict[str, Any]:
    """The envelope as a JSON object with its required fields, or ``attestation_malformed``."""
    if isinstance(data, bytes | bytearray):
        try:
            envelope = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise _malformed("not JSON") from exc
    else:
        envelope = dict(data)
    if not isinstance(envelope, dict):
        raise _malformed("not a JSON object")
    if envelope.get("payloadType") != PAYLOAD_TYPE:
        raise _malformed(f"payloadType is {envelope.get('payloadType')!r}, not {PAYLOAD_TYPE!r}")
    signatures = envelope.get("signatures")
    if not isinstance(signatures, list) or not signatures:
        raise _malformed("no signatures")
    if not all(isinstance(s, dict) and "sig" in s for s in signatures):
        raise _malformed("a signature without 'sig'")
    return envelope


def _check_signature(envelope: dict[str, Any], trusted: Sequence[TrustedKey]) -> tuple[bytes, str]:
    """The payload and the keyid of a trusted key whose signature verifies over its PAE.

    DSSE's ``keyid`` is an unauthenticated hint: the key it names is tried first, then every
    other trusted key. A failure is a bad signature when the envelope names a trusted key (or
    none), an untrusted key otherwise.
    """
    payload = _b64(envelope.get("payload"), "payload")
    message = pae(PAYLOAD_TYPE, payload)
    ids = {k.keyid for k in trusted}
    named: list[str] = []
    for signature in envelope["signatures"]:
        sig = _b64(signature["sig"], "sig")
        keyid = str(signature.get("keyid") or "")
        named.append(keyid or "(none)")
        for key in sorted(trusted, key=lambda k: k.keyid != keyid):
            try:
                key.key.verify(sig, message, ec.ECDSA(hashes.SHA256()))
            except InvalidSignature:
                continue
            return payload, key.keyid
    if any(k in ids or k == "(none)" for k in named):
        raise AttestationError(
            f"bad signature: the envelope's signature by key {', '.join(named)} does not verify "
            "(its payload or signature was changed, or another key signed it)",
            code="attestation_bad_signature",
            details={"keyids": named},
        )
    raise AttestationError(
        f"untrusted key: the envelope is signed by key {', '.join(named)}, which is not a "
        f"trusted key (trusted: {', '.join(sorted(ids)) or 'none'})",
        code="attestation_untrusted_key",
        details={"keyids": named, "trusted": sorted(ids)},
    )


def _statement(payload: bytes) -> dict[str, Any]:
    try:
        statement = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _malformed("the payload is not JSON") from exc
    if not isinstance(statement, dict) or statement.get("_type") != STATEMENT_TYPE:
        raise _malformed(f"the payload is not an in-toto Statement v1 ({STATEMENT_TYPE})")
    if statement.get("predicateType") != PREDICATE_TYPE:
        raise _malformed(f"predicateType is not {PREDICATE_TYPE}")
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or len(subjects) != 1 or not isinstance(subjects[0], dict):
        raise _malformed("the statement does not name exactly one subject")
    digest = subjects[0].get("digest")
    if not isinstance(digest, dict) or not all(
        isinstance(digest.get(k), str) and _HEX64.fullmatch(digest[k]) for k in ("blake3", "sha256")
    ):
        raise _malformed("the subject's digest set lacks blake3 or sha256 (64 lowercase hex)")
    if not isinstance(statement.get("predicate"), dict):
        raise _malformed("no predicate")
    return statement


def verify_envelope(
    data: bytes | Mapping[str, Any],
    trusted: Sequence[TrustedKey],
    *,
    manifest: bytes | None = None,
    package_id: str | None = None,
) -> VerifiedStatement:
    """Check an envelope: a trusted key's signature over its PAE, an in-toto statement of
    ours, and (when given) that it names these manifest bytes and this package.

    Raises ``AttestationError`` with ``attestation_malformed``, ``attestation_bad_signature``
    (a key we trust is named but its signature fails: a changed byte),
    ``attestation_untrusted_key`` (signed by a key we do not trust),
    ``attestation_manifest_mismatch`` (a statement about another manifest) or
    ``attestation_package_mismatch``. The signature is checked before the payload is read.
    """
    envelope = parse_envelope(data)
    payload, keyid = _check_signature(envelope, trusted)
    statement = _statement(payload)
    verified = VerifiedStatement(statement, keyid)
    if manifest is not None:
        named = verified.subject_digest
        seen = {
            "blake3": Digest.of_bytes(manifest).hex,
            "sha256": hashlib.sha256(manifest).hexdigest(),
        }
        if named["blake3"] != seen["blake3"] or named["sha256"] != seen["sha256"]:
            raise AttestationError(
                f"manifest mismatch: the statement is about manifest blake3:{named['blake3']}, "
                f"not this package's manifest blake3:{seen['blake3']}",
                code="attestation_manifest_mismatch",
                details={"statement": named, "manifest": seen},
            )
    if package_id is not None and verified.predicate.get("package_id") != package_id:
        raise AttestationError(
            f"package mismatch: the statement is about package "
            f"{verified.predicate.get('package_id')}, not {package_id}",
            code="attestation_package_mismatch",
        )
    return verified
