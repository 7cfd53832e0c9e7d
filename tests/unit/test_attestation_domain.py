"""The statement, the DSSE encoding and the verification, checked against independent code.

The expected side (PAE bytes, digests, signature checks) is computed here with ``hashlib``,
``blake3`` and ``cryptography`` directly, never with the module under test.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime

import blake3
import pytest
import rfc8785
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from artifactstore.domain.attestation import (
    AttestationError,
    build_statement,
    pae,
    trusted_key_from_der,
    trusted_keys_from_pem,
    verify_envelope,
)
from artifactstore.domain.keys import attestation_key
from artifactstore.domain.signing_keys import SigningKeyRef, parse_signing_keys
from artifactstore.errors import ConfigurationError, InvalidInput
from tests.unit.attestation_keys import LocalKey, envelope_for, facts, with_payload_byte_changed

MANIFEST = rfc8785.dumps({"manifest_version": 1, "producer": "guide-board", "files": []})
OTHER_MANIFEST = rfc8785.dumps({"manifest_version": 1, "producer": "guide-board", "files": [1]})


def test_pae_is_dsse_v1() -> None:
    # The DSSE spec's own example (protocol.md): type and body lengths in bytes, ASCII decimal.
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )
    assert pae("t", "é".encode()) == b"DSSEv1 1 t 2 \xc3\xa9"


def test_statement_names_the_manifest_by_blake3_and_sha256() -> None:
    statement = build_statement(MANIFEST, facts())
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    (subject,) = statement["subject"]
    hexdigest = blake3.blake3(MANIFEST).hexdigest()
    assert subject == {
        "name": f"manifests/blake3/{hexdigest}.json",
        "digest": {"blake3": hexdigest, "sha256": hashlib.sha256(MANIFEST).hexdigest()},
    }
    assert statement["predicateType"] == "https://artifactstore.dev/seal/v1"
    assert statement["predicate"] == {
        "package_id": "00000000-0000-0000-0000-000000000001",
        "producer": "guide-board",
        "idempotency_key": "run-1",
        "schema": "guide-board.run.v1",
        "retention_class": "release-evidence",
        "sealed_at": "2026-12-04T14:49:22+00:00",
        "file_count": 3,
        "total_bytes": 116,
        "manifest_digest": f"blake3:{hexdigest}",
        "store": "http://127.0.0.1:8000",
    }


def test_envelope_is_dsse_and_its_signature_covers_the_pae() -> None:
    key = LocalKey.new()
    envelope = json.loads(envelope_for(MANIFEST, key))
    assert set(envelope) == {"payload", "payloadType", "signatures"}
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    payload = base64.b64decode(envelope["payload"])
    assert payload == rfc8785.dumps(json.loads(payload))  # canonical JSON
    (signature,) = envelope["signatures"]
    assert signature["keyid"] == hashlib.sha256(key.der).hexdigest()
    message = b"DSSEv1 28 application/vnd.in-toto+json %d %s" % (len(payload), payload)
    key.private.public_key().verify(
        base64.b64decode(signature["sig"]), message, ec.ECDSA(hashes.SHA256())
    )


def test_a_good_envelope_verifies_against_its_manifest_and_package() -> None:
    key = LocalKey.new()
    trusted = trusted_keys_from_pem(key.pem, "key.pem")
    verified = verify_envelope(
        envelope_for(MANIFEST, key),
        trusted,
        manifest=MANIFEST,
        package_id="00000000-0000-0000-0000-000000000001",
    )
    assert verified.keyid == key.keyid
    assert verified.predicate["producer"] == "guide-board"


def _code(excinfo: pytest.ExceptionInfo[AttestationError]) -> str:
    return excinfo.value.code


def test_a_changed_payload_byte_is_a_bad_signature() -> None:
    key = LocalKey.new()
    tampered = with_payload_byte_changed(envelope_for(MANIFEST, key))
    with pytest.raises(AttestationError) as excinfo:
        verify_envelope(tampered, [trusted_key_from_der(key.der)], manifest=MANIFEST)
    assert _code(excinfo) == "attestation_bad_signature"
    assert excinfo.value.message.startswith("bad signature:")


def test_a_signature_by_another_key_is_an_untrusted_key() -> None:
    signer, mine = LocalKey.new(), LocalKey.new()
    with pytest.raises(AttestationError) as excinfo:
        verify_envelope(envelope_for(MANIFEST, signer), [trusted_key_from_der(mine.der)])
    assert _code(excinfo) == "attestation_untrusted_key"
    assert signer.keyid in excinfo.value.message and mine.keyid in excinfo.value.message


def test_a_forged_keyid_is_still_a_bad_signature() -> None:
    forger, mine = LocalKey.new(), LocalKey.new()
    body = json.loads(envelope_for(MANIFEST, forger))
    body["signatures"][0]["keyid"] = mine.keyid  # claims to be signed by the trusted key
    with pytest.raises(AttestationError) as excinfo:
        verify_envelope(json.dumps(body).encode(), [trusted_key_from_der(mine.der)])
    assert _code(excinfo) == "attestation_bad_signature"


def test_keyid_is_only_a_hint() -> None:
    key = LocalKey.new()
    body = json.loads(envelope_for(MANIFEST, key))
    body["signatures"][0]["keyid"] = "something-else"
    assert verify_envelope(body, [trusted_key_from_der(key.der)]).keyid == key.keyid
    del body["signatures"][0]["keyid"]
    assert verify_envelope(body, [trusted_key_from_der(key.der)]).keyid == key.keyid


def test_a_statement_about_another_manifest_is_a_manifest_mismatch() -> None:
    key = LocalKey.new()
    envelope = envelope_for(OTHER_MANIFEST, key)  # validly signed, about other bytes
    with pytest.raises(AttestationError) as excinfo:
        verify_envelope(envelope, [trusted_key_from_der(key.der)], manifest=MANIFEST)
    assert _code(excinfo) == "attestation_manifest_mismatch"
    assert excinfo.value.message.startswith("manifest mismatch:")


def test_a_statement_about_another_package_is_a_package_mismatch() -> None:
    key = LocalKey.new()
    with pytest.raises(AttestationError) as excinfo:
        verify_envelope(
            envelope_for(MANIFEST, key),
            [trusted_key_from_der(key.der)],
            manifest=MANIFEST,
            package_id="another",
        )
    assert _code(excinfo) == "attestation_package_mismatch"


@pytest.mark.parametrize(
    "envelope",
    [
        b"not json",
        b"[]",
        b'{"payloadType": "application/json", "payload": "", "signatures": [{"sig": ""}]}',
        b'{"payloadType": "application/vnd.in-toto+json", "payload": "", "signatures": []}',
        b'{"payloadType": "application/vnd.in-toto+json", "payload": "%%%", '
        b'"signatures": [{"sig": "AA=="}]}',
    ],
)
def test_malformed_envelopes(envelope: bytes) -> None:
    with pytest.raises(AttestationError) as excinfo:
        verify_envelope(envelope, [trusted_key_from_der(LocalKey.new().der)])
    assert _code(excinfo) == "attestation_malformed"


def test_a_signed_payload_that_is_not_our_statement_is_malformed() -> None:
    from artifactstore.domain.attestation import PAYLOAD_TYPE, build_envelope

    key = LocalKey.new()
    payload = b'{"_type": "https://in-toto.io/Statement/v1", "subject": []}'
    envelope = build_envelope(payload, key.keyid, key.sign(pae(PAYLOAD_TYPE, payload)))
    with pytest.raises(AttestationError) as excinfo:
        verify_envelope(envelope, [trusted_key_from_der(key.der)])
    assert _code(excinfo) == "attestation_malformed"


def test_trusted_keys_are_p256_pem_several_per_file() -> None:
    one, two = LocalKey.new(), LocalKey.new()
    keys = trusted_keys_from_pem(b"comment\n" + one.pem + two.pem, "keys.pem")
    assert [k.keyid for k in keys] == [one.keyid, two.keyid]
    other = ec.generate_private_key(ec.SECP384R1()).public_key()
    from cryptography.hazmat.primitives import serialization

    p384 = other.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for bad in (b"", b"no key here", p384):
        with pytest.raises(InvalidInput) as excinfo:
            trusted_keys_from_pem(bad, "bad.pem")
        assert excinfo.value.code == "invalid_public_key"


def test_signing_keys_configuration() -> None:
    assert parse_signing_keys(None, None) == ()
    assert parse_signing_keys("k1", None) == (SigningKeyRef("k1"),)
    retired = datetime(2027, 1, 1, tzinfo=UTC)
    assert parse_signing_keys("k2", "k1@2027-01-01T00:00:00Z") == (
        SigningKeyRef("k2"),
        SigningKeyRef("k1", retired),
    )
    assert parse_signing_keys("k2", "k2, k1@2027-01-01T00:00:00+00:00,") == (
        SigningKeyRef("k2"),
        SigningKeyRef("k1", retired),
    )
    for current, listed in (
        ("k1", "k1@2027-01-01T00:00:00Z"),
        (None, "k1@yesterday"),
        (None, "k1@2027-01-01"),
    ):
        with pytest.raises(ConfigurationError):
            parse_signing_keys(current, listed)


def test_attestation_keys_are_per_package() -> None:
    assert attestation_key("4f9c-01") == "attestations/4f9c-01.dsse.json"
    for bad in ("", "../x", "a/b", "x" * 65):
        with pytest.raises(ValueError):
            attestation_key(bad)
