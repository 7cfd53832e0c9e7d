"""Sealing small packages through the API (create, upload, verify, finalize) for read tests."""

from __future__ import annotations

import uuid
from typing import Any

from tests.integration.flow import AUTH, Harness, digest_of, run_metadata


def seal(
    h: Harness, files: dict[str, bytes], key: str | None = None, **metadata: Any
) -> dict[str, Any]:
    """A sealed package of ``files`` (metadata: a run.json object plus ``metadata``)."""
    key = key or str(uuid.uuid4())
    created = h.create(key, files, metadata=run_metadata(key, **metadata))
    assert created.status_code in (200, 201), created.text
    by_digest = {digest_of(data): data for data in files.values()}
    for target in created.json()["upload_targets"]:
        h.upload(target, by_digest[target["digest"]])
    h.pump()
    sealed = h.client.post(f"/packages/{created.json()['package_id']}/finalize", headers=AUTH)
    assert sealed.status_code == 200, sealed.text
    body: dict[str, Any] = sealed.json()
    assert body["state"] == "sealed"
    return body
