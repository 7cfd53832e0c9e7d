"""A draft's items expire together, and a key whose package DynamoDB deleted is free (issue 16.5).

DynamoDB's TTL deletes the package item of an expired draft (a month after ``expires_at``);
moto never does, so the test deletes it as TTL would. The key claim, chunk, bucket and part
items carry the same ``ttl`` (the table's TTL attribute in template.yaml); sealing removes it
from the claim and the chunks (a sealed package is kept), and leaves it on the buckets, which
a sealed package never reads.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from artifactstore.adapters.dynamodb import shards
from artifactstore.adapters.dynamodb.binding import TableModels
from artifactstore.adapters.dynamodb.models import (
    BlobBucketModel,
    BundleModel,
    FileChunkModel,
    FilePartModel,
    KeyClaimModel,
    PackageModel,
)
from tests.integration.conftest import Configured
from tests.integration.dynamodb_calls import catalog_models
from tests.integration.flow import AUTH, Harness, digest_of, expected_manifest_digest, run_metadata
from tests.integration.test_file_parts import first_part

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _ttls(pk: str, prefix: str, model: Any) -> list[int | None]:
    return [
        item.attribute_values.get("ttl")
        for item in model.query(pk, model.sk.startswith(prefix), consistent_read=True)
    ]


def _claim_ttl(m: TableModels, key: str) -> int | None:
    claim = m.KeyClaimModel.get(f"KEY#guide-board#{key}", "KEY", consistent_read=True)
    value: int | None = claim.attribute_values.get("ttl")
    return value


def test_the_ttl_attribute_is_the_tables() -> None:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=Loader)
    spec = template["Resources"]["CatalogTable"]["Properties"]["TimeToLiveSpecification"]
    assert spec == {"AttributeName": "ttl", "Enabled": True}
    models = (PackageModel, KeyClaimModel, FileChunkModel, BlobBucketModel, FilePartModel)
    for model in (*models, BundleModel):
        assert model.ttl.attr_name == "ttl"


def test_a_drafts_items_carry_its_ttl_and_sealing_keeps_claim_and_files(
    cfg: Configured,
) -> None:
    h = Harness.start(cfg)
    m = catalog_models(cfg.svc.catalog)
    files = {f"f{i:03}": f"{uuid.uuid4()} {i}".encode() for i in range(70)}  # two buckets
    key = str(uuid.uuid4())
    created = h.create(key, files)
    assert created.status_code == 201, created.text
    package_id = created.json()["package_id"]
    pk = f"PKG#{package_id}"
    ttl = m.PackageModel.get(pk, "PKG", consistent_read=True).ttl
    assert ttl is not None

    assert _claim_ttl(m, key) == ttl
    assert _ttls(pk, "FILE#", m.FileChunkModel) == [ttl]
    assert _ttls(pk, "BLOB#", m.BlobBucketModel) == [ttl, ttl]

    by_digest = {digest_of(d): d for d in files.values()}
    for target in created.json()["upload_targets"]:
        h.upload(target, by_digest[target["digest"]])
    h.pump()
    sealed = h.client.post(f"/packages/{package_id}/finalize", headers=AUTH)
    assert sealed.json()["state"] == "sealed", sealed.text

    assert m.PackageModel.get(pk, "PKG", consistent_read=True).ttl is None
    assert _claim_ttl(m, key) is None
    assert _ttls(pk, "FILE#", m.FileChunkModel) == [None]
    assert _ttls(pk, "BLOB#", m.BlobBucketModel) == [ttl, ttl]  # never read once sealed


def test_a_sharded_drafts_items_carry_its_ttl_on_every_key_and_sealing_keeps_files(
    cfg: Configured, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shards, "FILES_PER_SHARD", 10)  # 70 files: seven partition keys
    h = Harness.start(cfg)
    m = catalog_models(cfg.svc.catalog)
    files = {f"s{i:03}": f"{uuid.uuid4()} {i}".encode() for i in range(70)}
    key = str(uuid.uuid4())
    created = h.create(key, files)
    assert created.status_code == 201, created.text
    package_id = created.json()["package_id"]
    item = m.PackageModel.get(f"PKG#{package_id}", "PKG", consistent_read=True)
    assert item.file_shards == 7 and item.ttl is not None
    ttl = item.ttl
    keys = shards.shard_keys(package_id, 7)
    chunks = [_ttls(pk, "FILE#", m.FileChunkModel) for pk in keys]
    buckets = [_ttls(pk, "BLOB#", m.BlobBucketModel) for pk in keys]
    assert all(chunks) and all(buckets)  # every key holds some
    assert {t for ts in chunks + buckets for t in ts} == {ttl}

    by_digest = {digest_of(d): d for d in files.values()}
    for target in created.json()["upload_targets"]:
        h.upload(target, by_digest[target["digest"]])
    h.pump()
    sealed = h.client.post(f"/packages/{package_id}/finalize", headers=AUTH)
    assert sealed.json()["state"] == "sealed", sealed.text

    assert {t for pk in keys for t in _ttls(pk, "FILE#", m.FileChunkModel)} == {None}
    assert {t for pk in keys for t in _ttls(pk, "BLOB#", m.BlobBucketModel)} == {ttl}
    assert len(h.client.get(f"/packages/{package_id}", headers=AUTH).json()["files"]) == 70


def test_parts_of_a_list_carry_the_drafts_ttl(cfg: Configured) -> None:
    h = Harness.start(cfg)
    m = catalog_models(cfg.svc.catalog)
    files = {f"p{i}": f"{uuid.uuid4()}".encode() for i in range(4)}
    key = str(uuid.uuid4())
    digest = expected_manifest_digest(key, run_metadata(key), files)
    part = dict(list(files.items())[:2])
    created = h.client.post("/packages", json=first_part(key, part, 4, digest), headers=AUTH)
    assert created.status_code == 201, created.text
    pk = f"PKG#{created.json()['package_id']}"
    ttl = m.PackageModel.get(pk, "PKG", consistent_read=True).ttl
    assert _claim_ttl(m, key) == ttl
    assert _ttls(pk, "PART#", m.FilePartModel) == [ttl, ttl]  # the marker and the part


def test_a_bundle_carries_its_drafts_ttl(cfg: Configured) -> None:
    h = Harness.start(cfg)
    m = catalog_models(cfg.svc.catalog)
    files = {f"b{i}": f"{uuid.uuid4()}".encode() for i in range(3)}
    key = str(uuid.uuid4())
    created = h.create(key, files, bundle_below=1024)
    assert created.status_code == 201, created.text
    package_id = created.json()["package_id"]
    asked = h.client.post(
        f"/packages/{package_id}/bundles",
        json={"blobs": [digest_of(d) for d in files.values()]},
        headers=AUTH,
    )
    assert asked.status_code == 201, asked.text
    pk = f"PKG#{package_id}"
    ttl = m.PackageModel.get(pk, "PKG", consistent_read=True).ttl
    assert ttl is not None
    assert _ttls(pk, "BUNDLE#", m.BundleModel) == [ttl]


@pytest.mark.parametrize("content", ["same", "different"])
def test_a_key_whose_package_ttl_deleted_gets_a_new_draft(cfg: Configured, content: str) -> None:
    h = Harness.start(cfg)
    m = catalog_models(cfg.svc.catalog)
    key = str(uuid.uuid4())
    files = {"a": f"{uuid.uuid4()}".encode()}
    first = h.create(key, files)
    assert first.status_code == 201, first.text
    old_id = first.json()["package_id"]
    # DynamoDB's TTL deletes the package item; nothing tells the claim.
    m.PackageModel.get(f"PKG#{old_id}", "PKG").delete()

    again_files = files if content == "same" else {"b": f"{uuid.uuid4()}".encode()}
    again = h.create(key, again_files)
    assert again.status_code == 201, again.text
    new_id = again.json()["package_id"]
    assert new_id != old_id
    assert m.KeyClaimModel.get(f"KEY#guide-board#{key}", "KEY").package_id == new_id
    assert h.client.get(f"/packages/{new_id}", headers=AUTH).json()["state"] == "draft"
    # And the key now names the new draft: the same request resumes it.
    assert h.create(key, again_files).json()["package_id"] == new_id
