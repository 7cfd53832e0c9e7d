"""The IAM actions each function's code really sends, recorded against moto, are the template's.

One scenario drives every function's handler through its code paths on the S3 route (the API
through its app, the verifier, linker and maintenance through their Lambda handlers), while
``aws_actions.Recorder`` maps each AWS request to the IAM actions and resources it needs and
charges it to the function running. The recorded set must equal ``tests/iam_needs.CALLS`` for
that function, exactly: a new request in the code without a table (and template) change fails
here, and so does a table entry no code path uses. ``tests/unit/test_template.py`` holds the
template's policies to ``CALLS`` plus the documented ``NOT_RECORDED`` entries.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import httpx
import pytest
from localdev.stack import LocalStack

from artifactstore.adapters.dynamodb.catalog import OUTBOX
from artifactstore.adapters.dynamodb.models import item_key
from artifactstore.adapters.dynamodb.support import PKG_SK
from artifactstore.adapters.s3.storage import S3Storage
from artifactstore.domain.digests import Digest
from artifactstore.domain.keys import pack_key
from artifactstore.domain.packs import upload_pack_name
from artifactstore.errors import Conflict
from artifactstore.service.factory import services
from tests.iam_needs import CALLS, Action
from tests.integration.aws_actions import Recorder
from tests.integration.conftest import Configured, configured_for
from tests.integration.dynamodb_calls import catalog_models
from tests.integration.flow import AUTH, Harness, digest_of, run_metadata
from tests.lambda_runtime import FakeContext, load_event, load_handler

pytestmark = pytest.mark.integration

MiB = 1024**2


def unique(size: int) -> bytes:
    nonce = uuid.uuid4().bytes
    return (nonce * (size // len(nonce) + 1))[:size]


@pytest.fixture
def recorder(stack: LocalStack) -> Iterator[Recorder]:
    """The request recorder, installed for one test."""
    rec = Recorder({stack.table: "CatalogTable", stack.idempotency_table: "IdempotencyTable"})
    rec.install()
    try:
        yield rec
    finally:
        rec.uninstall()


@pytest.fixture
def s3_cfg(stack: LocalStack, tmp_path: Path, recorder: Recorder) -> Iterator[Configured]:
    """Every package on S3; the admin token read from SSM, as the API function reads it."""
    parameter = f"/artifactstore/test/{uuid.uuid4()}"
    boto3.client("ssm").put_parameter(Name=parameter, Value="test-admin-token", Type="SecureString")
    import os

    os.environ["ARTIFACTSTORE_API_TOKEN_PARAMETER"] = parameter
    os.environ["ARTIFACTSTORE_SIGNING_KEY_ID"] = stack.signing_key  # the linker attests
    try:
        with configured_for(stack, tmp_path / "storage", "*:*=s3") as cfg:
            yield cfg
    finally:
        os.environ.pop("ARTIFACTSTORE_API_TOKEN_PARAMETER", None)
        os.environ.pop("ARTIFACTSTORE_SIGNING_KEY_ID", None)


def cold_signer() -> None:
    """A signer with nothing cached: each Lambda reads the public keys in its own process."""
    from artifactstore.adapters.kms import KmsSigner
    from artifactstore.settings import service_settings

    services().signer = KmsSigner(service_settings().signing_keys())


class Driver:
    """Runs each function's code under its label."""

    def __init__(self, cfg: Configured, rec: Recorder) -> None:
        self.cfg = cfg
        self.rec = rec
        self.upload_packs: set[str] = set()  # keys of large blobs' upload packs
        with rec.as_function("ApiFunction"):
            self.h = Harness.start(cfg)

    def api(self, method: str, path: str, **kw: Any) -> httpx.Response:
        with self.rec.as_function("ApiFunction"):
            answer: httpx.Response = self.h.client.request(method, path, headers=AUTH, **kw)
        return answer

    def create(self, files: dict[str, bytes], retention: str, key: str | None = None) -> Any:
        key = key or str(uuid.uuid4())
        with self.rec.as_function("ApiFunction"):
            answer = self.h.create(key, files, retention_class=retention)
        assert answer.status_code in (200, 201), answer.text
        return {**answer.json(), "key": key}

    def upload(self, package: dict[str, Any], data: bytes) -> None:
        """PUT the bytes (a client, not a function); multipart completed through the API."""
        (target,) = [t for t in package["upload_targets"] if t["digest"] == digest_of(data)]
        if "parts" not in target:
            answer = httpx.put(target["url"], content=data, headers=target["headers"])
            assert answer.status_code == 200, answer.text
            return
        parts = []
        for part in target["parts"]:
            chunk = data[part["offset"] : part["offset"] + part["size"]]
            answer = httpx.put(part["url"], content=chunk)
            assert answer.status_code == 200, answer.text
            parts.append({"part_number": part["part_number"], "etag": answer.headers["ETag"]})
        digest = Digest.parse(target["digest"])
        self.upload_packs.add(pack_key(upload_pack_name(package["package_id"], digest)))
        body = {"digest": target["digest"], "upload_id": target["upload_id"], "parts": parts}
        done = self.api("POST", f"/packages/{package['package_id']}/multipart/complete", json=body)
        assert done.status_code == 200, done.text

    def notifications(self, package_id: str) -> list[dict[str, Any]]:
        return [
            r
            for r in self.h.notifications()
            if package_id in r["body"]
            or any(quote(key, safe="") in r["body"] for key in self.upload_packs)
        ]

    def verify(self, package_id: str) -> None:
        records = self.notifications(package_id)
        assert records
        with self.rec.as_function("VerifierFunction"):
            for record in records:
                assert self.h.verify([record]) == {"batchItemFailures": []}

    def link(self, package_id: str) -> Any:
        cold_signer()
        event = load_event("eventbridge_package_sealed.json")
        event["detail"] = dict(event["detail"], package_id=package_id)
        with self.rec.as_function("LinkerFunction"):
            return load_handler("linker").lambda_handler(event, FakeContext())

    def maintain(self, later: timedelta) -> Any:
        svc = services()
        clock = svc.clock
        svc.clock = lambda: clock() + later
        try:
            with self.rec.as_function("MaintenanceFunction"):
                return load_handler("maintenance").lambda_handler({}, FakeContext())
        finally:
            svc.clock = clock


def test_each_function_sends_exactly_the_requests_its_policy_allows(
    s3_cfg: Configured, recorder: Recorder
) -> None:
    d = Driver(s3_cfg, recorder)
    storage = s3_cfg.svc.storage("s3")
    assert isinstance(storage, S3Storage)
    # Copies above this go through s3transfer's managed multipart copy (5 GiB on AWS).
    storage.copy_threshold = 5 * MiB

    small, big, shared, late = unique(300), unique(9 * MiB), unique(200), unique(100)
    # An ephemeral package, finalized before its uploads are verified: the verifier seals it.
    ephemeral = d.create({"a.bin": small, "b.bin": big, "d.bin": shared}, "ephemeral")
    finalized = d.api("POST", f"/packages/{ephemeral['package_id']}/finalize")
    assert finalized.status_code == 202, finalized.text
    # A release-evidence draft of the same bytes (and one more), created before they verify.
    kept = d.create({"a.bin": small, "b.bin": big, "c.bin": late}, "release-evidence")
    for data in (small, big, shared):
        d.upload(ephemeral, data)
    d.verify(ephemeral["package_id"])
    assert d.api("GET", f"/packages/{ephemeral['package_id']}").json()["state"] == "sealed"

    # The release draft's uploads: held blobs are raised (untagged, locked), not copied; a
    # wrong upload is rejected and deleted, then the right bytes verified.
    for data in (small, big):
        d.upload(kept, data)
    (late_target,) = [t for t in kept["upload_targets"] if t["digest"] == digest_of(late)]
    bad = unique(len(late))
    assert httpx.put(late_target["url"], content=bad, headers=late_target["headers"]).is_success
    d.verify(kept["package_id"])
    # The client resumes: the same request again answers fresh targets for what is missing.
    again = d.create({"a.bin": small, "b.bin": big, "c.bin": late}, "release-evidence", kept["key"])
    assert [t["digest"] for t in again["upload_targets"]] == [digest_of(late)]
    d.upload(again, late)
    d.verify(kept["package_id"])
    sealed = d.api("POST", f"/packages/{kept['package_id']}/finalize")
    assert sealed.status_code == 200, sealed.text  # the API seals it

    # A release package of bytes an ephemeral package holds: the API raises them at creation.
    reuse = d.create({"d.bin": shared}, "release-evidence")
    assert reuse["upload_targets"] == []
    # An ephemeral package sealed by the API (its manifest tagged), whose blobs a later
    # ephemeral package re-uses once they would expire too soon: the API renews them (a copy
    # onto itself; a managed multipart copy above the copy threshold).
    renewed_small, renewed_big = unique(120), unique(9 * MiB)
    first = d.create({"r.bin": renewed_small, "R.bin": renewed_big}, "ephemeral")
    for data in (renewed_small, renewed_big):
        d.upload(first, data)
    d.verify(first["package_id"])
    assert d.api("POST", f"/packages/{first['package_id']}/finalize").status_code == 200
    svc = services()
    clock = svc.clock
    svc.clock = lambda: clock() + timedelta(days=5)
    try:
        second = d.create({"r.bin": renewed_small, "R.bin": renewed_big}, "ephemeral")
    finally:
        svc.clock = clock
    assert second["upload_targets"] == []
    # Small files travel in a bundle: one upload, verified and stored blob by blob.
    members = [unique(40), unique(60)]
    bundled = d.create({"m0.txt": members[0], "m1.txt": members[1]}, "release-evidence")
    asked = d.api(
        "POST",
        f"/packages/{bundled['package_id']}/bundles",
        json={"blobs": [digest_of(m) for m in members]},
    )
    assert asked.status_code == 201, asked.text
    order = {digest_of(m): m for m in members}
    target = asked.json()["upload_target"]
    body = b"".join(order[digest] for digest in asked.json()["blobs"])
    assert httpx.put(target["url"], content=body, headers=target["headers"]).is_success
    d.verify(bundled["package_id"])
    assert d.api("POST", f"/packages/{bundled['package_id']}/finalize").status_code == 200

    # Reads.
    assert d.api("GET", f"/packages/{kept['package_id']}/manifest").status_code == 200
    got = d.api("GET", f"/packages/{kept['package_id']}/files/a.bin", follow_redirects=False)
    assert got.status_code == 302, got.text
    assert d.api("GET", "/packages", params={"producer": "guide-board"}).status_code == 200
    assert d.api("GET", "/packages", params={"state": "sealed"}).status_code == 200

    # The linker: once, again (idempotent), and a package that is not sealed (fails). It
    # attests each: a release-evidence envelope (locked) and an ephemeral one (tagged).
    d.link(kept["package_id"])
    d.link(kept["package_id"])
    d.link(first["package_id"])
    assert d.api("GET", f"/packages/{kept['package_id']}/attestation").status_code == 200
    cold_signer()
    assert len(d.api("GET", "/signing-keys").json()["keys"]) == 1
    draft = d.create({"x.bin": unique(10)}, "ephemeral")
    with pytest.raises(Conflict):
        d.link(draft["package_id"])

    # Maintenance: a stale draft with an unverified upload, and a seal event not yet confirmed.
    stale_bytes = unique(50)
    stale = d.create({"s.bin": stale_bytes}, "ephemeral")
    d.upload(stale, stale_bytes)
    d.notifications(stale["package_id"])  # the verifier never saw it
    # ... and a draft whose list was being sent in parts: expiry deletes the parts.
    in_parts_key = str(uuid.uuid4())
    in_parts = d.api(
        "POST",
        "/packages",
        json={
            "producer": "guide-board",
            "idempotency_key": in_parts_key,
            "retention_class": "ephemeral",
            "schema": "guide-board.run.v1",
            "metadata": run_metadata(in_parts_key),
            "files": [{"path": "p.bin", "size": 3, "digest": digest_of(b"abc")}],
            "file_count": 2,
            "manifest_digest": digest_of(in_parts_key.encode()),
        },
    )
    assert in_parts.status_code == 201, in_parts.text
    packages = catalog_models(s3_cfg.svc.catalog).PackageModel
    packages(item_key("PKG", kept["package_id"]), PKG_SK).update(
        actions=[packages.gsi3pk.set(OUTBOX), packages.gsi3sk.set("0")]
    )
    result = d.maintain(timedelta(days=10))
    assert result["drafts_expired"] >= 1 and result["seal_events_published"] >= 1
    # Later still: the ephemeral packages expire and their blobs no package keeps are swept.
    result = d.maintain(timedelta(days=40))
    assert result["packages_expired"] >= 1 and result["blobs_deleted"] >= 1

    recorded = recorder.actions
    for function in CALLS:
        assert _sorted(recorded.get(function, set())) == _sorted(set(CALLS[function])), (
            function,
            recorder.operations.get(function),
        )


def _sorted(actions: set[Action]) -> list[Action]:
    return sorted(actions)
