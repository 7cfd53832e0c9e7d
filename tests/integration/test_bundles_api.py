"""Bundles over HTTP: small blobs listed for bundles, a bundle target asked for, bad requests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from localdev.stack import LocalStack

from artifactstore.domain.bundles import BUNDLE_MAX_MEMBERS, BUNDLE_MEMBER_MAX, bundle_id
from artifactstore.domain.digests import Digest
from tests.integration import api_support
from tests.integration.api_support import Api, assert_error, package_body
from tests.integration.flow import AUTH, digest_of
from tests.integration.test_api_bad_input import refused_without_storing


@pytest.fixture(scope="module")
def api(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One configured app (guide-board release evidence on S3) with the pilot schema."""
    for configured in api_support.api_for(stack, tmp_path_factory.mktemp("bundles")):
        configured.register_pilot_schema()
        yield configured


def draft(api: Api, sizes: list[int], **extra: Any) -> tuple[dict[str, Any], dict[str, int]]:
    """A new draft of files with fresh bytes of these sizes; its answer and digest → size."""
    nonce = uuid.uuid4().hex.encode()
    blobs = {
        f"f/{i:03}": (nonce + b"%d" % i).ljust(size, b".")[:size] for i, size in enumerate(sizes)
    }
    body = package_body(idempotency_key=str(uuid.uuid4()))
    body["files"] = [
        {"path": p, "size": len(b), "digest": digest_of(b)} for p, b in sorted(blobs.items())
    ]
    answer = api.post("/packages", {**body, **extra})
    assert answer.status_code == 201, answer.text
    return answer.json(), {digest_of(b): len(b) for b in blobs.values()}


def test_small_blobs_come_listed_for_bundles_and_only_big_ones_get_urls(api: Api) -> None:
    created, sizes = draft(api, [40, 40, 40, 100], bundle_below=50)
    small = sorted(d for d, n in sizes.items() if n < 50)
    assert created["bundle_blobs"] == [{"digest": d, "size": 40} for d in small]
    assert [t["digest"] for t in created["upload_targets"]] == [
        d for d, n in sizes.items() if n == 100
    ]
    assert created["missing_blobs"] == 4

    plain, _ = draft(api, [40, 100])
    assert "bundle_blobs" not in plain  # without the field, the answer is as it always was
    assert len(plain["upload_targets"]) == 2

    page = api.client.get(
        f"/packages/{created['package_id']}/upload-targets",
        params={"bundle_below": 50},
        headers=AUTH,
    ).json()
    assert page["bundle_blobs"] == created["bundle_blobs"]
    assert len(page["upload_targets"]) == 1


def test_a_bundle_names_its_blobs_in_order_and_asking_again_names_it_again(api: Api) -> None:
    created, sizes = draft(api, [30, 31, 32], bundle_below=100)
    package_id = created["package_id"]
    members = [b["digest"] for b in reversed(created["bundle_blobs"])]  # any order the client likes

    first = api.post(f"/packages/{package_id}/bundles", {"blobs": members})
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["blobs"] == members
    assert body["size"] == sum(sizes[d] for d in members)
    assert body["bundle_id"] == bundle_id([Digest.parse(d) for d in members])
    target = body["upload_target"]
    assert target["method"] == "PUT" and target["size"] == body["size"]
    assert f"uploads/{package_id}/bundles/{body['bundle_id']}" in target["url"]

    again = api.post(f"/packages/{package_id}/bundles", {"blobs": members}).json()
    assert again["bundle_id"] == body["bundle_id"]


def test_bad_bundle_requests_are_refused_and_store_nothing(api: Api) -> None:
    created, _ = draft(api, [10, BUNDLE_MEMBER_MAX + 1], bundle_below=20)
    package_id = created["package_id"]
    url = f"/packages/{package_id}/bundles"
    small = created["bundle_blobs"][0]["digest"]
    (big,) = [t["digest"] for t in created["upload_targets"]]
    unlisted = digest_of(b"not in this package")
    cases = [
        ({"blobs": [unlisted]}, 422, "blob_not_listed"),
        ({"blobs": [small, small]}, 422, "duplicate_blob"),
        ({"blobs": [big]}, 422, "blob_too_big_for_bundle"),
        ({"blobs": ["blake3:xyz"]}, 422, "invalid_digest"),
        ({"blobs": [small], "extra": 1}, 422, "unknown_field"),
    ]
    for body, status, code in cases:
        refused_without_storing(api, lambda b=body: api.post(url, b), status, code)  # type: ignore[misc]
    too_many = {"blobs": [small] * (BUNDLE_MAX_MEMBERS + 1)}
    refused_without_storing(api, lambda: api.post(url, too_many), 422, "too_many_blobs")
    refused_without_storing(api, lambda: api.post(url, {"blobs": []}), 422, "too_many_blobs")
    missing = api.post(f"/packages/{uuid.uuid4()}/bundles", {"blobs": [small]})
    assert_error(missing, 404, "package_not_found")


def test_blobs_verified_meanwhile_are_left_out(api: Api) -> None:
    created, _ = draft(api, [12, 13], bundle_below=100)
    package_id = created["package_id"]
    (first, first_size), (second, _) = ((b["digest"], b["size"]) for b in created["bundle_blobs"])
    # Another package of the same producer stores ``first`` meanwhile (its bytes verified on
    # this backend: the producer proved possession).
    svc = api.cfg.svc
    record = svc.catalog.get_package(package_id)
    svc.catalog.record_blob(
        record.backend,
        Digest.parse(first),
        first_size,  # held only at its own size
        "another",
        svc.clock(),
        producer=record.producer,
    )

    answer = api.post(f"/packages/{package_id}/bundles", {"blobs": [first, second]})
    assert answer.status_code == 201
    assert answer.json()["blobs"] == [second]
    nothing = api.post(f"/packages/{package_id}/bundles", {"blobs": [first]})
    assert nothing.status_code == 200
    assert nothing.json() == {"bundle_id": None, "blobs": [], "size": 0, "upload_target": None}
