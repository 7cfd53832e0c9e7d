"""``artifactstore attestation``, ``signing-keys``, and the attestation checks of ``download``
and ``verify``: the real executable against the in-memory API (envelopes signed here)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.attestation_keys import LocalKey, envelope_for, facts, with_payload_byte_changed
from tests.unit.cli_fake_api import TOKEN, FakeApi, serve
from tests.unit.test_cli_client_flows import SCHEMA, make_run
from tests.unit.test_cli_commands import cli


@pytest.fixture
def served() -> Iterator[tuple[FakeApi, dict[str, str]]]:
    api = FakeApi()
    with serve(api) as url:
        yield api, {"ARTIFACTSTORE_API_URL": url, "ARTIFACTSTORE_API_TOKEN": TOKEN}


def ingest(api: FakeApi, env: dict[str, str], run: Path, tmp_path: Path) -> str:
    done = cli("guide-board", "ingest", run, "--schema", SCHEMA, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)["package_id"])


def attest(api: FakeApi, package_id: str, key: LocalKey, manifest_of: str | None = None) -> bytes:
    """Sign a statement about ``manifest_of``'s manifest (default: the package's own)."""
    manifest = api.packages[manifest_of or package_id].manifest.canonical_bytes()
    envelope = envelope_for(manifest, key, facts(package_id))
    api.attestations[package_id] = envelope
    return envelope


@pytest.fixture
def sealed(
    served: tuple[FakeApi, dict[str, str]], tmp_path: Path
) -> tuple[FakeApi, dict[str, str], str, LocalKey, Path]:
    """A sealed package attested with a key whose PEM is in ``key.pem``."""
    api, env = served
    package_id = ingest(api, env, make_run(tmp_path / "run"), tmp_path)
    key = LocalKey.new()
    attest(api, package_id, key)
    return api, env, package_id, key, key.write_pem(tmp_path / "key.pem")


def test_prints_the_stored_envelope(
    sealed: tuple[FakeApi, dict[str, str], str, LocalKey, Path],
) -> None:
    api, env, package_id, _key, pem = sealed
    done = cli("attestation", package_id, cwd=pem.parent, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == json.loads(api.attestations[package_id])


def test_verify_with_the_signing_key_passes(
    sealed: tuple[FakeApi, dict[str, str], str, LocalKey, Path],
) -> None:
    api, env, package_id, key, pem = sealed
    done = cli("attestation", package_id, "--verify", "--key", pem, cwd=pem.parent, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == json.loads(api.attestations[package_id])
    assert done.stderr.startswith(f"attestation verified: package {package_id} sealed ")
    assert key.keyid in done.stderr
    # the same through ARTIFACTSTORE_TRUSTED_KEYS, the trusted key second in the list
    other = LocalKey.new().write_pem(pem.parent / "other.pem")
    keys = os.pathsep.join([str(other), str(pem)])
    again = cli(
        "attestation",
        package_id,
        "--verify",
        cwd=pem.parent,
        env={**env, "ARTIFACTSTORE_TRUSTED_KEYS": keys},
    )
    assert again.returncode == 0, again.stderr


def test_the_three_failures_have_distinct_messages(
    sealed: tuple[FakeApi, dict[str, str], str, LocalKey, Path], tmp_path: Path
) -> None:
    api, env, package_id, key, pem = sealed
    verify = ("attestation", package_id, "--verify", "--key", pem)
    stored = api.attestations[package_id]

    api.attestations[package_id] = with_payload_byte_changed(stored)
    changed = cli(*verify, cwd=tmp_path, env=env)

    api.attestations[package_id] = stored
    wrong = LocalKey.new().write_pem(tmp_path / "wrong.pem")
    untrusted = cli("attestation", package_id, "--verify", "--key", wrong, cwd=tmp_path, env=env)

    second = ingest(api, env, make_run(tmp_path / "run2", run_id="run-2"), tmp_path)
    attest(api, package_id, key, manifest_of=second)  # validly signed, about another manifest
    mismatch = cli(*verify, cwd=tmp_path, env=env)

    messages = []
    for done in (changed, untrusted, mismatch):
        assert (done.returncode, done.stdout) == (1, ""), done.stderr
        assert done.stderr.count("\n") == 1
        messages.append(done.stderr)
    assert messages[0].startswith("error: bad signature: ")
    assert messages[1].startswith("error: untrusted key: ")
    assert messages[2].startswith("error: manifest mismatch: ")


def test_pending_and_missing_keys(served: tuple[FakeApi, dict[str, str]], tmp_path: Path) -> None:
    api, env = served
    package_id = ingest(api, env, make_run(tmp_path / "run"), tmp_path)
    pending = cli("attestation", package_id, cwd=tmp_path, env=env)
    assert (pending.returncode, pending.stdout) == (3, "")
    assert "not attested yet" in pending.stderr
    no_keys = cli("attestation", package_id, "--verify", cwd=tmp_path, env=env)
    assert no_keys.returncode == 2 and "no trusted key" in no_keys.stderr
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello")
    bad_key = cli("attestation", package_id, "--verify", "--key", not_pem, cwd=tmp_path, env=env)
    assert bad_key.returncode == 2 and "no PEM public key" in bad_key.stderr


def test_a_saved_envelope_and_manifest_verify_without_the_api(
    sealed: tuple[FakeApi, dict[str, str], str, LocalKey, Path], tmp_path: Path
) -> None:
    api, _env, package_id, _key, pem = sealed
    (tmp_path / "envelope.json").write_bytes(api.attestations[package_id])
    manifest = tmp_path / "manifest.json"
    manifest.write_bytes(api.packages[package_id].manifest.canonical_bytes())
    offline = {"ARTIFACTSTORE_API_URL": "http://127.0.0.1:9"}  # nothing listens there
    args = ("--envelope", tmp_path / "envelope.json", "--manifest", manifest, "--key", pem)
    done = cli("attestation", package_id, "--verify", *args, cwd=tmp_path, env=offline)
    assert done.returncode == 0, done.stderr
    manifest.write_bytes(manifest.read_bytes() + b" ")
    changed = cli("attestation", package_id, "--verify", *args, cwd=tmp_path, env=offline)
    assert changed.returncode == 1 and changed.stderr.startswith("error: manifest mismatch: ")


def test_download_and_verify_check_the_attestation_when_keys_are_trusted(
    sealed: tuple[FakeApi, dict[str, str], str, LocalKey, Path], tmp_path: Path
) -> None:
    api, env, package_id, _key, pem = sealed
    trusting = {**env, "ARTIFACTSTORE_TRUSTED_KEYS": str(pem)}
    done = cli("download", package_id, tmp_path / "good", cwd=tmp_path, env=trusting)
    assert done.returncode == 0, done.stderr
    assert "attestation verified: " in done.stderr
    checked = cli("verify", tmp_path / "good", "--package", package_id, cwd=tmp_path, env=trusting)
    assert checked.returncode == 0 and "attestation verified: " in checked.stderr

    api.attestations[package_id] = with_payload_byte_changed(api.attestations[package_id])
    refused = cli("download", package_id, tmp_path / "bad", cwd=tmp_path, env=trusting)
    assert refused.returncode == 1 and "bad signature" in refused.stderr
    assert not any(p.is_file() for p in (tmp_path / "bad").rglob("*"))  # nothing written
    again = cli("verify", tmp_path / "good", "--package", package_id, cwd=tmp_path, env=trusting)
    assert again.returncode == 1 and "bad signature" in again.stderr
    # without trusted keys configured, nothing about attestations changes
    plain = cli("download", package_id, tmp_path / "plain", cwd=tmp_path, env=env)
    assert plain.returncode == 0 and "attestation" not in plain.stderr


def test_signing_keys_lists_json_and_pem(
    served: tuple[FakeApi, dict[str, str]], tmp_path: Path
) -> None:
    api, env = served
    key = LocalKey.new()
    api.signing_keys = [
        {
            "keyid": key.keyid,
            "algorithm": "ecdsa-p256-sha256",
            "public_key_pem": key.pem.decode(),
            "not_before": "2026-12-04T00:00:00+00:00",
            "not_after": None,
        }
    ]
    listed = cli("signing-keys", cwd=tmp_path, env=env)
    assert json.loads(listed.stdout) == {"keys": api.signing_keys}
    pem = cli("signing-keys", "--pem", cwd=tmp_path, env=env)
    assert pem.stdout == key.pem.decode()
