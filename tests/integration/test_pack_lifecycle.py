"""Packs through their life (issue 17): a pack carries the strongest protection of the packages
that use its blobs, keeps its kept blobs when the others are swept, and goes with its last
blob. Both backends; maintenance rounds on a moved clock, as in ``test_lifecycle.py``."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from artifactstore.domain.digests import Digest
from artifactstore.domain.keys import pack_key
from artifactstore.domain.lifecycle import sweep_grace
from artifactstore.service.lifecycle import run_maintenance
from tests.integration.conftest import Configured
from tests.integration.flow import AUTH, Harness, digest_of, run_metadata
from tests.integration.test_bundle_verification import bundle, unique

pytestmark = pytest.mark.integration
EPHEMERAL_DAYS = 14


def _sealed_in_one_bundle(h: Harness, files: dict[str, bytes], retention: str) -> str:
    """A package of ``files`` whose missing blobs travel in one bundle; sealed; its id."""
    key = str(uuid.uuid4())
    created = h.create(key, files, retention_class=retention, metadata=run_metadata(key))
    assert created.status_code == 201, created.text
    package_id: str = created.json()["package_id"]
    by_digest = {digest_of(d): d for d in files.values()}
    missing = [by_digest[t["digest"]] for t in created.json()["upload_targets"]]
    if missing:
        h.upload(bundle(h.cfg, package_id, missing), b"".join(missing))
        assert h.pump() == 1
    sealed = h.client.post(f"/packages/{package_id}/finalize", headers=AUTH)
    assert sealed.status_code == 200, sealed.text
    return package_id


def _place(cfg: Configured, backend: str, data: bytes) -> Any:
    digest = Digest.parse(digest_of(data))
    held = cfg.svc.catalog.held_records(backend, [digest]).get(digest.hex)
    return None if held is None else held.place


def _pack_exists(cfg: Configured, backend: str, pack: Digest) -> bool:
    if backend == "local":
        return (cfg.storage_dir / pack_key(pack)).is_file()
    import boto3

    answer = boto3.client("s3").list_object_versions(
        Bucket=cfg.env["ARTIFACTSTORE_BUCKET"], Prefix=pack_key(pack)
    )
    return bool(answer.get("Versions") or answer.get("DeleteMarkers"))


def test_a_pack_shared_by_two_classes_is_kept_as_the_stronger_and_outlives_the_weaker(
    configured: Configured,
) -> None:
    h = Harness.start(configured)
    svc = configured.svc
    shared, own, kept = unique(700), unique(800), unique(900)
    start = svc.clock()
    ephemeral = _sealed_in_one_bundle(h, {"shared.bin": shared, "own.bin": own}, "ephemeral")
    backend = svc.catalog.get_package(ephemeral).backend
    pack = _place(configured, backend, shared).pack
    assert _place(configured, backend, own).pack == pack  # one pack for the bundle
    release = _sealed_in_one_bundle(h, {"shared.bin": shared, "kept.bin": kept}, "release-evidence")
    assert _place(configured, backend, kept).pack != pack  # only the new blob travelled
    if backend == "s3":
        import boto3

        s3 = boto3.client("s3")
        bucket = configured.env["ARTIFACTSTORE_BUCKET"]
        # Relying on the shared blob raised its pack: no expiry tag, and release-evidence's lock.
        assert s3.get_object_tagging(Bucket=bucket, Key=pack_key(pack))["TagSet"] == []
        head = s3.head_object(Bucket=bucket, Key=pack_key(pack))
        assert head["ObjectLockMode"] in ("GOVERNANCE", "COMPLIANCE")
        assert head["ObjectLockRetainUntilDate"] > start + timedelta(days=365)

    later = start + timedelta(days=EPHEMERAL_DAYS) + sweep_grace(svc.draft_ttl) + timedelta(hours=1)
    svc.clock = lambda: later
    figures = run_maintenance(svc)
    assert figures.finished
    assert h.client.get(f"/packages/{ephemeral}", headers=AUTH).json()["state"] == "expired"
    # The ephemeral package's own blob left the pack; the pack stays for the shared one.
    assert _place(configured, backend, own) is None
    assert _place(configured, backend, shared).pack == pack
    assert _pack_exists(configured, backend, pack)
    for path, data in (("shared.bin", shared), ("kept.bin", kept)):
        answer = h.client.get(f"/packages/{release}/files/{path}", headers=AUTH)
        assert (answer.status_code, answer.content) == (200, data)


def test_a_pack_goes_with_its_last_blob(configured: Configured) -> None:
    h = Harness.start(configured)
    svc = configured.svc
    files = {f"f{i}.bin": unique(300 + i) for i in range(3)}
    start = svc.clock()
    package_id = _sealed_in_one_bundle(h, files, "ephemeral")
    backend = svc.catalog.get_package(package_id).backend
    (pack,) = {_place(configured, backend, d).pack for d in files.values()}
    assert _pack_exists(configured, backend, pack)
    plan = h.client.get(f"/packages/{package_id}/download-plan", headers=AUTH).json()
    spans = sorted((f["offset"], f["size"]) for f in plan["files"])
    assert [o for o, _ in spans] == [0, spans[0][1], spans[0][1] + spans[1][1]]  # end to end

    # Before its blobs are past their grace, nothing of the pack goes.
    svc.clock = lambda: start + timedelta(days=EPHEMERAL_DAYS, hours=1)
    run_maintenance(svc)
    assert _pack_exists(configured, backend, pack)

    later = start + timedelta(days=EPHEMERAL_DAYS) + sweep_grace(svc.draft_ttl) + timedelta(hours=1)
    svc.clock = lambda: later
    figures = run_maintenance(svc)
    assert figures.blobs_deleted >= 3
    assert all(_place(configured, backend, d) is None for d in files.values())
    assert not _pack_exists(configured, backend, pack)
    # The same bytes sent again by another package make a pack of another name: a pack the
    # sweep deletes is never written anew under its name while it does.
    svc.clock = lambda: later + timedelta(minutes=1)
    again = _sealed_in_one_bundle(h, files, "ephemeral")
    (fresh,) = {_place(configured, backend, d).pack for d in files.values()}
    assert fresh != pack
    assert _pack_exists(configured, backend, fresh) and not _pack_exists(configured, backend, pack)
    answer = h.client.get(f"/packages/{again}/files/f1.bin", headers=AUTH)
    assert (answer.status_code, answer.content) == (200, files["f1.bin"])
