"""A list sent in parts holds at most the files it declared, and its parts never linger
(issue 14, item 7): each new part is counted against ``file_count`` in a conditional write
before it is stored; a part sent again counts once; a failed completion and an expired draft
drop the parts."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from localdev.stack import LocalStack

from artifactstore.service.lifecycle import run_maintenance
from tests.integration import api_support
from tests.integration.api_support import Api, assert_error
from tests.integration.flow import AUTH, digest_of, run_metadata
from tests.integration.test_api_bad_input import refused_without_storing
from tests.integration.test_catalog_chunks import partition

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def api(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    for configured in api_support.api_for(stack, tmp_path_factory.mktemp("file-list-cap")):
        configured.register_pilot_schema()
        yield configured


def files(n: int, start: int = 0) -> list[dict[str, Any]]:
    """``n`` entries of fresh bytes, paths numbered from ``start``."""
    nonce = uuid.uuid4().hex
    return [
        {"path": f"f/{i:06}", "size": 8, "digest": digest_of(f"{nonce}{i}".encode())}
        for i in range(start, start + n)
    ]


def draft_in_parts(api: Api, first: list[dict[str, Any]], count: int) -> str:
    key = str(uuid.uuid4())
    body = {
        "producer": "guide-board",
        "idempotency_key": key,
        "retention_class": "ephemeral",
        "schema": "guide-board.run.v1",
        "metadata": run_metadata(key),
        "files": first,
        "file_count": count,
        "manifest_digest": digest_of(key.encode()),  # never reached: completion fails
    }
    created = api.post("/packages", body)
    assert created.status_code == 201, created.text
    package_id: str = created.json()["package_id"]
    return package_id


def test_parts_beyond_the_declared_count_are_refused_and_not_stored(api: Api) -> None:
    package_id = draft_in_parts(api, files(1), 2)
    url = f"/packages/{package_id}/files"
    second = {"files": files(1, start=1)}
    assert api.post(url, second).status_code == 200
    assert api.post(url, second).status_code == 200  # the same part again counts once

    error = refused_without_storing(
        api, lambda: api.post(url, {"files": files(1, start=2)}), 422, "file_list_too_long"
    )
    assert error["details"] == {"declared": 2, "received": 3}
    # A part bigger than the whole declared list is refused unread.
    big = {"files": files(500, start=10)}
    error = refused_without_storing(api, lambda: api.post(url, big), 422, "file_list_too_long")
    assert error["details"] == {"declared": 2, "received": 500}
    parts = partition(api.cfg, package_id)
    assert parts == {"PKG": 1, "PART": 4}  # two parts: a marker and an item each


def test_a_failed_completion_drops_the_parts_and_the_whole_list_can_be_sent_again(
    api: Api,
) -> None:
    package_id = draft_in_parts(api, files(2), 4)
    url = f"/packages/{package_id}/files"
    refused = api.post(url, {"files": files(2, start=2), "complete": True})
    assert_error(refused, 422, "manifest_mismatch")
    assert partition(api.cfg, package_id) == {"PKG": 1}  # never re-read

    # The count starts again: the whole list fits once more (and fails the same way).
    assert api.post(url, {"files": files(3, start=10)}).status_code == 200
    refused = api.post(url, {"files": [], "complete": True})
    assert_error(refused, 422, "file_count_mismatch")
    assert partition(api.cfg, package_id) == {"PKG": 1}
    view = api.client.get(f"/packages/{package_id}", headers=AUTH).json()
    assert view["state"] == "draft" and view["blob_count"] == 0


def test_an_expired_draft_loses_its_parts(api: Api) -> None:
    package_id = draft_in_parts(api, files(3), 5)
    assert "PART" in partition(api.cfg, package_id)
    svc = api.cfg.svc
    now = svc.clock()
    later = dataclasses.replace(svc, clock=lambda: now + timedelta(hours=73))

    assert run_maintenance(later).drafts_expired >= 1

    assert api.client.get(f"/packages/{package_id}", headers=AUTH).json()["state"] == "expired"
    assert partition(api.cfg, package_id) == {"PKG": 1}
