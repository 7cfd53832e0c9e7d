"""Drafts past their TTL (or abandoned half-written) expire; shared blobs are never touched."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta

from artifactstore.domain.digests import Digest
from artifactstore.domain.keys import upload_key
from artifactstore.service.lifecycle import run_maintenance
from tests.integration.conftest import Configured
from tests.integration.dynamodb_calls import catalog_models
from tests.integration.flow import AUTH, Harness, digest_of


def test_expired_draft_loses_its_uploads_but_never_a_shared_blob(configured: Configured) -> None:
    h = Harness.start(configured)
    shared, private = f"shared {uuid.uuid4()}".encode(), f"private {uuid.uuid4()}".encode()
    sealed = h.create(str(uuid.uuid4()), {"a": shared}).json()
    h.upload(sealed["upload_targets"][0], shared)
    h.pump()
    assert (
        h.client.post(f"/packages/{sealed['package_id']}/finalize", headers=AUTH).status_code == 200
    )

    key = str(uuid.uuid4())
    draft = h.create(key, {"a": shared, "b": private}).json()
    assert [t["digest"] for t in draft["upload_targets"]] == [digest_of(private)]
    storage = configured.svc.storage(draft["backend"])
    # The bytes land but the client never finalizes; no verifier runs before expiry.
    h.upload(draft["upload_targets"][0], private)
    h.notifications()  # drop the notification: the upload stays pending
    pending = upload_key(draft["package_id"], Digest.parse(digest_of(private)))
    assert storage.upload_size(pending) == len(private)

    now = configured.svc.clock()
    assert run_maintenance(configured.svc).drafts_expired == 0  # not yet
    later = dataclasses.replace(configured.svc, clock=lambda: now + timedelta(hours=73))
    assert run_maintenance(later).drafts_expired >= 1

    view = h.client.get(f"/packages/{draft['package_id']}", headers=AUTH).json()
    assert view["state"] == "expired"
    assert storage.upload_size(pending) is None
    assert storage.has_blob(Digest.parse(digest_of(shared)))
    assert (
        h.client.get(f"/packages/{sealed['package_id']}", headers=AUTH).json()["state"] == "sealed"
    )

    # The producer's next attempt gets a fresh draft under the same key.
    again = h.create(key, {"a": shared, "b": private})
    assert again.status_code == 201
    assert again.json()["package_id"] != draft["package_id"]


def test_a_draft_abandoned_mid_creation_expires_after_a_grace_period(
    configured: Configured,
) -> None:
    h = Harness.start(configured)
    key = str(uuid.uuid4())
    draft = h.create(key, {"a": f"{uuid.uuid4()}".encode()}).json()
    # Simulate a creator that died before writing its file list.
    packages = catalog_models(configured.svc.catalog).PackageModel
    item = packages.get(f"PKG#{draft['package_id']}", "PKG")
    item.update(actions=[packages.files_complete.set(False)])

    now = configured.svc.clock()
    soon = dataclasses.replace(configured.svc, clock=lambda: now + timedelta(minutes=5))
    run_maintenance(soon)
    assert configured.svc.catalog.get_package(draft["package_id"]).state.value == "draft"
    later = dataclasses.replace(configured.svc, clock=lambda: now + timedelta(minutes=16))
    run_maintenance(later)
    assert configured.svc.catalog.get_package(draft["package_id"]).state.value == "expired"
    assert h.create(key, {"a": b"x"}).status_code == 201
