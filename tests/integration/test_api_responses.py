"""The API's answers and their models (``api/responses.py``) agree: every JSON answer the
OpenAPI document describes names its model, and real answers hold exactly the model's fields."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pydantic import BaseModel

from artifactstore.api import responses as r
from artifactstore.api.app import create_app
from tests.integration.conftest import Configured
from tests.integration.flow import AUTH, Harness, digest_of, run_metadata

pytestmark = pytest.mark.integration

# Answers that are not JSON objects built by a route: exact stored bytes, redirects, nothing.
NOT_MODELLED = {
    ("get", "/packages/{package_id}/manifest"),  # the manifest's canonical bytes
    ("get", "/packages/{package_id}/files/{path}"),  # 302, or a packed file's bytes
    ("get", "/packages/{package_id}/attestation"),  # the stored DSSE envelope's bytes
    ("delete", "/tokens/{token_id}"),  # 204
    ("get", "/health"),  # not declared yet (``responses_reports.Health``)
}


def holds(model: type[BaseModel], answer: Any) -> None:
    """``answer`` is exactly ``model``: no field missing, none it does not name."""
    model.model_validate(answer)


def test_every_other_answer_names_its_model_in_the_openapi_document() -> None:
    spec = create_app().openapi()
    unnamed = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if (method, path) in NOT_MODELLED or path.startswith("/ui"):
                continue
            for code, answer in operation["responses"].items():
                if not code.startswith("2"):
                    continue
                schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
                if set(schema) != {"$ref"}:
                    unnamed.append((method, path, code, schema))
    assert unnamed == []


def test_real_answers_hold_exactly_their_models(cfg: Configured) -> None:
    h = Harness.start(cfg)
    schemas = h.client.get("/metadata-schemas", params={"limit": 2}, headers=AUTH)
    holds(r.SchemaPage, schemas.json())
    holds(r.SchemaView, h.client.get("/metadata-schemas/guide-board.run.v1", headers=AUTH).json())

    small, big = uuid.uuid4().bytes * 8, uuid.uuid4().bytes * 20
    files = {"small.log": small, "big.bin": big}
    key = str(uuid.uuid4())
    created = h.create(key, files, bundle_below=len(small) + 1)
    assert created.status_code == 201, created.text
    holds(r.PackageCreated, created.json())
    package_id = created.json()["package_id"]
    holds(r.UploadTargetsPage, h.client.get(
        f"/packages/{package_id}/upload-targets", params={"bundle_below": 1}, headers=AUTH
    ).json())  # fmt: skip
    asked = h.client.post(
        f"/packages/{package_id}/bundles", json={"blobs": [digest_of(small)]}, headers=AUTH
    )
    holds(r.BundleAnswer, asked.json())
    h.upload(asked.json()["upload_target"], small)
    waiting = h.client.post(f"/packages/{package_id}/finalize", headers=AUTH)
    assert waiting.status_code == 202, waiting.text
    holds(r.WaitingPackage, waiting.json())
    by_digest = {digest_of(big): big}
    for target in created.json()["upload_targets"]:
        holds(r.UploadTargetView, target)
        h.upload(target, by_digest[target["digest"]])
    h.pump()
    sealed = h.client.post(f"/packages/{package_id}/finalize", headers=AUTH)
    assert sealed.status_code == 200, sealed.text
    holds(r.PackageView, sealed.json())
    holds(r.PackageWithFiles, h.client.get(f"/packages/{package_id}", headers=AUTH).json())
    listed = h.client.get("/packages", params={"limit": 3}, headers=AUTH)
    holds(r.PackagePage, listed.json())
    plan = h.client.get(f"/packages/{package_id}/download-plan", headers=AUTH).json()
    holds(r.DownloadPlan, plan)
    assert {f["path"]: f["offset"] is not None for f in plan["files"]} == {
        "big.bin": False,
        "small.log": True,
    }

    # A multipart target and a page of its parts.
    key = str(uuid.uuid4())
    body = {
        "producer": "guide-board",
        "idempotency_key": key,
        "retention_class": "ephemeral",
        "schema": "guide-board.run.v1",
        "metadata": run_metadata(key),
        "files": [
            {"path": "huge.bin", "size": 1 << 40, "digest": f"blake3:{uuid.uuid4().hex * 2}"}
        ],
    }
    huge = h.client.post("/packages", json=body, headers=AUTH).json()
    (target,) = huge["upload_targets"]
    holds(r.UploadTargetView, target)
    parts = h.client.get(
        f"/packages/{huge['package_id']}/upload-targets/{target['digest']}/parts",
        params={"upload_id": target["upload_id"], "cursor": target["next_parts_cursor"]},
        headers=AUTH,
    )
    assert parts.status_code == 200, parts.text
    holds(r.PartsPage, parts.json())

    issued = h.client.post("/tokens", json={"name": "models", "scopes": ["read"]}, headers=AUTH)
    assert issued.status_code == 201, issued.text
    holds(r.TokenIssued, issued.json())
    holds(r.TokenList, h.client.get("/tokens", headers=AUTH).json())


def test_a_model_refuses_a_field_it_does_not_name() -> None:
    view = {"slug": "s", "json_schema": {}, "digest": "d", "created_at": "t"}
    holds(r.SchemaView, view)
    with pytest.raises(ValueError, match="extra"):
        holds(r.SchemaView, {**view, "more": 1})
