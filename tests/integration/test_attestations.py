"""Signed seals against moto over HTTP: the linker, driven with real-shaped EventBridge events,
signs each seal with moto's KMS exactly once; the API serves the envelope and the keys.

Every envelope is checked with keys taken from ``GET /signing-keys`` and with ``cryptography``
(and the snippet of docs/attestations.md), never with the signer's own view of itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import blake3
import boto3
import pytest
from localdev.stack import LocalStack
from localdev.statehub import StateHubStandIn

from artifactstore.domain.attestation import (
    AttestationError,
    TrustedKey,
    trusted_keys_from_pem,
    verify_envelope,
)
from artifactstore.service.factory import services
from artifactstore.settings import service_settings
from tests.integration.conftest import Configured, configure
from tests.integration.flow import AUTH, Harness
from tests.integration.test_linker import TASK, WORKSTREAM, invoke_linker, received, seal_one
from tests.unit.test_attestations_doc import run_snippet

pytestmark = pytest.mark.integration
LINKS = {"state_hub": {"workstream_id": WORKSTREAM, "task_id": TASK}}


@pytest.fixture
def statehub(tmp_path: Path) -> Iterator[StateHubStandIn]:
    hub = StateHubStandIn(tmp_path / "events.jsonl", port=0)
    hub.start()
    yield hub
    hub.stop()


@dataclass
class Signed:
    """A configured stack whose linker signs, and what a test needs around it."""

    h: Harness
    stack: LocalStack
    hub: StateHubStandIn
    storage_dir: Path
    routes: str

    def reconfigure(self, **extra: str) -> Configured:
        """New settings (a new signing key, say): every cached service is built again."""
        cfg = configure(self.stack, self.storage_dir, self.routes, **extra)
        self.h.cfg = cfg
        return cfg

    def seal(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return seal_one(self.h, links=LINKS)

    def attestation(self, package_id: str) -> bytes:
        answer = self.h.client.get(f"/packages/{package_id}/attestation", headers=AUTH)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "application/json"
        return bytes(answer.content)

    def listed_keys(self) -> list[dict[str, Any]]:
        answer = self.h.client.get("/signing-keys", headers=AUTH)
        assert answer.status_code == 200, answer.text
        keys: list[dict[str, Any]] = answer.json()["keys"]
        return keys

    def manifest(self, package_id: str) -> bytes:
        answer = self.h.client.get(f"/packages/{package_id}/manifest", headers=AUTH)
        assert answer.status_code == 200, answer.text
        return bytes(answer.content)

    def stored_versions(self, package_id: str) -> int:
        """How many envelopes storage holds for the package (every S3 version counts)."""
        key = f"attestations/{package_id}.dsse.json"
        if self.routes.endswith("=s3"):
            listing = boto3.client("s3").list_object_versions(Bucket=self.stack.bucket, Prefix=key)
            return len(listing.get("Versions", [])) + len(listing.get("DeleteMarkers", []))
        folder = self.storage_dir / "attestations"
        return sum(1 for p in folder.iterdir() if p.name.startswith(f"{package_id}.dsse.json"))


@pytest.fixture(params=["s3", "local"])
def signed(
    request: pytest.FixtureRequest, stack: LocalStack, tmp_path: Path, statehub: StateHubStandIn
) -> Iterator[Signed]:
    """Services that sign with the template's key (provisioned in moto), on one backend."""
    saved = dict(os.environ)
    routes = f"*:*={request.param}"
    try:
        cfg = configure(
            stack,
            tmp_path / "storage",
            routes,
            STATE_HUB_URL=statehub.url,
            ARTIFACTSTORE_SIGNING_KEY_ID=stack.signing_key,
        )
        yield Signed(Harness.start(cfg), stack, statehub, tmp_path / "storage", routes)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        service_settings.cache_clear()
        services.cache_clear()


def trusted(listed: list[dict[str, Any]]) -> list[TrustedKey]:
    """The listed keys as a verifier would load them: from their PEM."""
    return [
        k
        for entry in listed
        for k in trusted_keys_from_pem(entry["public_key_pem"].encode(), "listed")
    ]


def payload_of(envelope: bytes) -> dict[str, Any]:
    statement: dict[str, Any] = json.loads(base64.b64decode(json.loads(envelope)["payload"]))
    return statement


def test_a_seal_gets_exactly_one_attestation_under_redelivery(
    signed: Signed, tmp_path: Path
) -> None:
    sealed, event = signed.seal()
    package_id = sealed["package_id"]
    pending = signed.h.client.get(f"/packages/{package_id}/attestation", headers=AUTH)
    assert pending.status_code == 404 and pending.json()["error"]["code"] == "attestation_pending"

    results = [invoke_linker(event) for _ in range(3)]  # EventBridge delivers it three times

    assert all(r == results[0] for r in results) and results[0]["status"] == "linked"
    assert signed.stored_versions(package_id) == 1
    envelope = signed.attestation(package_id)
    assert signed.attestation(package_id) == envelope  # served byte for byte as stored
    assert len(received(signed.hub, package_id)) == 1  # and State Hub heard of it once

    listed = signed.listed_keys()
    assert [k["algorithm"] for k in listed] == ["ecdsa-p256-sha256"]
    manifest = signed.manifest(package_id)
    verified = verify_envelope(envelope, trusted(listed), manifest=manifest, package_id=package_id)
    assert verified.keyid == listed[0]["keyid"]
    # The doc's snippet, with cryptography alone, on moto KMS's real signature.
    pem = listed[0]["public_key_pem"].encode()
    assert run_snippet(tmp_path, envelope, pem, manifest).startswith(f"OK {package_id} blake3:")


def test_concurrent_deliveries_still_store_one(
    signed: Signed, monkeypatch: pytest.MonkeyPatch
) -> None:
    from artifactstore.service.attestations import attest_package

    sealed, event = signed.seal()
    package_id = sealed["package_id"]
    outcomes: list[Any] = []
    start = threading.Barrier(3)

    def deliver() -> None:
        start.wait()
        try:
            outcomes.append(invoke_linker(event))
        except Exception as exc:  # a delivery racing another may be told to retry later
            outcomes.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert any(isinstance(o, dict) for o in outcomes), outcomes
    invoke_linker(event)  # the retry of any delivery that was told to come back
    assert signed.stored_versions(package_id) == 1
    assert len(received(signed.hub, package_id)) == 1

    # Three signers racing on the store itself: each reads "no attestation" before any of
    # them writes (held at a barrier), so all three sign (ECDSA signatures differ); the
    # write-once put keeps one, and every signer answers that one.
    racing = seal_one(signed.h, links=LINKS)[0]["package_id"]
    storage = services().storage(signed.routes.rsplit("=", 1)[1])
    real_get = storage.get_attestation
    read_once = threading.local()
    all_read = threading.Barrier(3)

    def get_after_all_read(package_id: str) -> bytes | None:
        found = real_get(package_id)
        if not getattr(read_once, "done", False):
            read_once.done = True
            all_read.wait()
        return found

    answers: list[Any] = []
    monkeypatch.setattr(storage, "get_attestation", get_after_all_read)
    workers = [
        threading.Thread(target=lambda: answers.append(attest_package(services(), racing)))
        for _ in range(3)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    monkeypatch.undo()
    assert len(answers) == 3
    assert len({a.envelope for a in answers}) == 1
    assert sum(a.created for a in answers) == 1
    assert signed.stored_versions(racing) == 1
    assert signed.attestation(racing) == answers[0].envelope


def test_the_statement_is_about_this_package_and_its_manifest(signed: Signed) -> None:
    sealed, event = signed.seal()
    package_id = sealed["package_id"]
    invoke_linker(event)
    statement = payload_of(signed.attestation(package_id))
    manifest = signed.manifest(package_id)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["subject"] == [
        {
            "name": f"manifests/blake3/{blake3.blake3(manifest).hexdigest()}.json",
            "digest": {
                "blake3": blake3.blake3(manifest).hexdigest(),
                "sha256": hashlib.sha256(manifest).hexdigest(),
            },
        }
    ]
    view = signed.h.client.get(f"/packages/{package_id}", headers=AUTH).json()
    predicate = statement["predicate"]
    for field in (
        "package_id",
        "producer",
        "idempotency_key",
        "schema",
        "retention_class",
        "sealed_at",
        "file_count",
        "total_bytes",
        "manifest_digest",
    ):
        assert predicate[field] == view[field], field
    assert statement["predicateType"] == "https://artifactstore.dev/seal/v1"


def test_rotation_keeps_old_envelopes_valid(signed: Signed) -> None:
    kms = boto3.client("kms")
    key_a = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    key_b = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    signed.reconfigure(STATE_HUB_URL=signed.hub.url, ARTIFACTSTORE_SIGNING_KEY_ID=key_a["KeyId"])
    first, event = signed.seal()
    invoke_linker(event)
    (only_a,) = signed.listed_keys()

    retired = "2027-01-01T00:00:00+00:00"
    signed.reconfigure(
        STATE_HUB_URL=signed.hub.url,
        ARTIFACTSTORE_SIGNING_KEY_ID=key_b["KeyId"],
        ARTIFACTSTORE_SIGNING_KEY_IDS=f"{key_b['KeyId']},{key_a['KeyId']}@{retired}",
    )
    second, event = signed.seal()
    invoke_linker(event)

    listed = signed.listed_keys()
    assert [k["keyid"] for k in listed][1] == only_a["keyid"] != listed[0]["keyid"]
    assert listed[0]["not_after"] is None and listed[1]["not_after"] == retired
    assert listed[1]["not_before"] == key_a["CreationDate"].astimezone(UTC).isoformat()
    assert datetime.fromisoformat(listed[0]["not_before"]) == key_b["CreationDate"]
    keys = trusted(listed)
    old = verify_envelope(
        signed.attestation(first["package_id"]), keys, manifest=signed.manifest(first["package_id"])
    )
    new = verify_envelope(
        signed.attestation(second["package_id"]),
        keys,
        manifest=signed.manifest(second["package_id"]),
    )
    assert (old.keyid, new.keyid) == (listed[1]["keyid"], listed[0]["keyid"])
    # the old envelope is the old key's alone: trusting only the new key refuses it
    with pytest.raises(AttestationError) as excinfo:
        verify_envelope(signed.attestation(first["package_id"]), trusted(listed[:1]))
    assert excinfo.value.code == "attestation_untrusted_key"


def test_a_kms_outage_leaves_the_seal_and_the_link_then_a_retry_signs(signed: Signed) -> None:
    from artifactstore.errors import DependencyUnavailable

    signed.reconfigure(STATE_HUB_URL=signed.hub.url, ARTIFACTSTORE_SIGNING_KEY_ID=str(uuid.uuid4()))
    sealed, event = signed.seal()
    package_id = sealed["package_id"]
    with pytest.raises(DependencyUnavailable) as excinfo:
        invoke_linker(event)
    assert excinfo.value.code == "signing_unavailable"
    view = signed.h.client.get(f"/packages/{package_id}", headers=AUTH).json()
    assert view["state"] == "sealed"
    assert view["state_hub_link"]["status"] == "linked"  # State Hub was not held up
    pending = signed.h.client.get(f"/packages/{package_id}/attestation", headers=AUTH)
    assert pending.status_code == 404 and pending.json()["error"]["code"] == "attestation_pending"
    broken_keys = signed.h.client.get("/signing-keys", headers=AUTH)
    assert broken_keys.status_code == 502
    assert broken_keys.json()["error"]["code"] == "signing_unavailable"

    signed.reconfigure(
        STATE_HUB_URL=signed.hub.url, ARTIFACTSTORE_SIGNING_KEY_ID=signed.stack.signing_key
    )
    assert invoke_linker(event)["status"] == "linked"  # the retry: the recorded link
    verify_envelope(
        signed.attestation(package_id),
        trusted(signed.listed_keys()),
        manifest=signed.manifest(package_id),
    )
    assert len(received(signed.hub, package_id)) == 1
    assert signed.stored_versions(package_id) == 1


def test_drafts_unknown_packages_and_an_unsigned_store(signed: Signed) -> None:
    draft = signed.h.create(str(uuid.uuid4()), {"run.json": b"{}"}).json()
    answer = signed.h.client.get(f"/packages/{draft['package_id']}/attestation", headers=AUTH)
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "attestation_pending"
    unknown = signed.h.client.get(f"/packages/{uuid.uuid4()}/attestation", headers=AUTH)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "package_not_found"
    assert signed.h.client.get("/signing-keys").status_code == 401
    assert signed.h.client.get(f"/packages/{draft['package_id']}/attestation").status_code == 401

    os.environ.pop("ARTIFACTSTORE_SIGNING_KEY_ID", None)
    signed.reconfigure(STATE_HUB_URL=signed.hub.url)  # no signing key: nothing is signed
    assert signed.listed_keys() == []
    sealed, event = signed.seal()
    assert invoke_linker(event)["status"] == "linked"
    later = signed.h.client.get(f"/packages/{sealed['package_id']}/attestation", headers=AUTH)
    assert later.status_code == 404 and later.json()["error"]["code"] == "attestation_pending"
