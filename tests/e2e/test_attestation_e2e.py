"""Signed seals through the whole local stack and the real ``artifactstore`` executable.

The stack is ``make dev`` (``python -m localdev.dev``): the signing key is provisioned from
template.yaml into moto, the pump delivers each seal event to the linker, which signs with
moto's KMS. The CLI checks the envelope with a key saved from ``/signing-keys``; the three
ways an envelope can fail each exit 1 with their own message.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from tests.e2e.conftest import Stack
from tests.e2e.test_cli_e2e import ingest, make_run

pytestmark = pytest.mark.e2e


def attested(stack: Stack, package_id: str, timeout: float = 60) -> bytes:
    """The package's envelope, once the pump has had the linker sign it."""
    deadline = time.monotonic() + timeout
    while True:
        done = stack.cli("attestation", package_id)
        if done.returncode == 0:
            return done.stdout.encode()
        assert done.returncode == 3 and "not attested yet" in done.stderr, done.stderr
        assert time.monotonic() < deadline, f"{package_id} was not attested in {timeout} s"
        time.sleep(0.5)


def tampered(envelope: bytes) -> bytes:
    body = json.loads(envelope)
    payload = bytearray(base64.b64decode(body["payload"]))
    payload[-3] ^= 0x01  # one bit of the statement's last bytes
    body["payload"] = base64.b64encode(bytes(payload)).decode()
    return json.dumps(body).encode()


@pytest.mark.parametrize("retention", ["release-evidence", "ephemeral"], ids=["s3", "local"])
def test_every_seal_is_attested_and_verify_tells_the_failures_apart(
    stack: Stack, tmp_path: Path, retention: str
) -> None:
    first = ingest(stack, make_run(tmp_path / "run"), "--retention-class", retention)
    package_id = str(first["package_id"])
    envelope = attested(stack, package_id)
    keys = stack.cli("signing-keys", "--pem")
    assert keys.returncode == 0, keys.stderr
    trusted = tmp_path / "trusted.pem"
    trusted.write_text(keys.stdout)

    good = stack.cli("attestation", package_id, "--verify", "--key", trusted)
    assert good.returncode == 0, good.stderr
    assert good.stderr.startswith(f"attestation verified: package {package_id} sealed ")
    assert f"blake3:{str(first['manifest_digest']).removeprefix('blake3:')}" in good.stderr

    saved = tmp_path / "tampered.json"
    saved.write_bytes(tampered(envelope))
    changed = stack.cli(
        "attestation", package_id, "--verify", "--envelope", saved, "--key", trusted
    )

    wrong = tmp_path / "wrong.pem"
    wrong.write_bytes(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    untrusted = stack.cli("attestation", package_id, "--verify", "--key", wrong)

    other = ingest(stack, make_run(tmp_path / "other"), "--retention-class", retention)
    (tmp_path / "other.json").write_bytes(attested(stack, str(other["package_id"])))
    mismatch = stack.cli(
        "attestation",
        package_id,
        "--verify",
        "--envelope",
        tmp_path / "other.json",
        "--key",
        trusted,
    )

    for done in (changed, untrusted, mismatch):
        assert (done.returncode, done.stdout) == (1, ""), done.stderr
    assert changed.stderr.startswith("error: bad signature: ")
    assert untrusted.stderr.startswith("error: untrusted key: ")
    assert mismatch.stderr.startswith("error: manifest mismatch: ")

    # download and verify check it too once the key is trusted
    env = {"ARTIFACTSTORE_TRUSTED_KEYS": str(trusted)}
    dest = tmp_path / "dest"
    downloaded = stack.cli("download", package_id, dest, env=env)
    assert downloaded.returncode == 0 and "attestation verified: " in downloaded.stderr
    checked = stack.cli("verify", dest, "--package", package_id, env=env)
    assert checked.returncode == 0 and "attestation verified: " in checked.stderr
    refused = stack.cli(
        "download", package_id, tmp_path / "no", env={"ARTIFACTSTORE_TRUSTED_KEYS": str(wrong)}
    )
    assert refused.returncode == 1 and refused.stderr.startswith("error: untrusted key: ")
