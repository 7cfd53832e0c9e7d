"""The local stack's signing key: provisioned from template.yaml into moto, signing for real,
and the same key (same private key) after a real process restart of the moto server."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from localdev.provision import provision

from artifactstore.adapters.kms import KmsSigner
from artifactstore.domain.signing_keys import SigningKeyRef
from tests.integration.test_localdev import ROOT, TEMPLATE, MotoProcess, _running

pytestmark = pytest.mark.integration
MESSAGE = b"DSSEv1 28 application/vnd.in-toto+json 2 {}"


def public_key(server: MotoProcess, key_id: str) -> ec.EllipticCurvePublicKey:
    der = server.client("kms").get_public_key(KeyId=key_id)["PublicKey"]
    key = serialization.load_der_public_key(der)
    assert isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)
    return key


def test_the_signing_key_is_provisioned_signs_and_survives_a_restart(tmp_path: Path) -> None:
    server = MotoProcess(tmp_path / "moto-state.pickle")
    with _running(server):
        stack = provision(server.endpoint, TEMPLATE, root=ROOT)
        key_id = stack.signing_key
        assert stack.environment["ARTIFACTSTORE_SIGNING_KEY_ID"] == key_id
        kms = server.client("kms")
        meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
        assert (meta["KeySpec"], meta["KeyUsage"]) == ("ECC_NIST_P256", "SIGN_VERIFY")
        aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
        assert aliases["alias/artifactstore-dev-signing"] == key_id
        assert provision(server.endpoint, TEMPLATE, root=ROOT).signing_key == key_id  # kept
        tagged = [
            k["KeyId"]
            for k in kms.list_keys()["Keys"]  # moto also makes one for DynamoDB's SSE
            if kms.list_resource_tags(KeyId=k["KeyId"])["Tags"]
        ]
        assert tagged == [key_id]

        signer = KmsSigner([SigningKeyRef(key_id)], client=kms)
        before = signer.sign(MESSAGE)
        public_key(server, key_id).verify(before.der, MESSAGE, ec.ECDSA(hashes.SHA256()))
        old_public = public_key(server, key_id)
        server.stop()

    with _running(server):
        again = provision(server.endpoint, TEMPLATE, root=ROOT)
        assert again.signing_key == key_id
        kms = server.client("kms")
        after = KmsSigner([SigningKeyRef(key_id)], client=kms).sign(MESSAGE)
        assert after.keyid == before.keyid
        # the restarted key is the same private key: its new signature verifies with the
        # public key read before the restart, and the old signature with the one read now
        old_public.verify(after.der, MESSAGE, ec.ECDSA(hashes.SHA256()))
        public_key(server, key_id).verify(before.der, MESSAGE, ec.ECDSA(hashes.SHA256()))
