"""Reading answers fit a Lambda's 6 MB too: a page of files or packages ends early, with its
cursor, once its JSON would pass ``targets.RESPONSE_BUDGET`` (issue 16, item 1)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from localdev.stack import LocalStack

from tests.integration import api_support
from tests.integration.api_support import Api
from tests.integration.flow import AUTH, digest_of, run_metadata

BUDGET = 4_000_000
JSON = {**AUTH, "Content-Type": "application/json"}
# A producer of this module's own, routed like "lab" (to the local backend): listing it pages
# through this module's packages, not through every "lab" package of this worker's stack.
LISTED = f"lab-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def api(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    routes = f"{api_support.ROUTES},{LISTED}:*=local"
    for configured in api_support.api_for(stack, tmp_path_factory.mktemp("read-budget"), routes):
        configured.register_pilot_schema()
        yield configured


def create(api: Api, producer: str, files: list[dict[str, Any]], **metadata: Any) -> str:
    key = str(uuid.uuid4())
    body = {
        "producer": producer,
        "idempotency_key": key,
        "retention_class": "ephemeral",
        "schema": "guide-board.run.v1",
        "metadata": {**run_metadata(key), **metadata},
        "files": files,
    }
    raw = json.dumps(body, ensure_ascii=False).encode()
    answer = api.client.post("/packages", content=raw, headers=JSON)
    assert answer.status_code == 201, answer.text
    package_id: str = answer.json()["package_id"]
    return package_id


def test_a_page_of_long_paths_ends_early_and_its_cursor_gives_the_rest(api: Api) -> None:
    # 2,400 paths of 1,004 bytes, each '"' escaped to two in JSON: ~5.2 MB at files_limit=2400.
    paths = [f"{i:04d}" + '"' * 1000 for i in range(2_400)]
    files = [{"path": p, "size": 1, "digest": digest_of(b"a")} for p in paths]
    package_id = create(api, "guide-board", files)

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"files_limit": 2_400}
        if cursor:
            params["files_cursor"] = cursor
        answer = api.client.get(f"/packages/{package_id}", params=params, headers=AUTH)
        assert answer.status_code == 200, answer.text
        assert len(answer.content) <= BUDGET
        body = answer.json()
        seen += [f["path"] for f in body["files"]]
        pages += 1
        cursor = body["next_files_cursor"]
        if cursor is None:
            break

    assert pages >= 2
    assert seen == sorted(paths, key=lambda p: p.encode())


def test_a_page_of_packages_with_big_metadata_ends_early(api: Api) -> None:
    producer = LISTED  # only these 20: not every "lab" package other modules made here
    notes = "n" * 240_000  # each package's metadata just under the 256 KiB limit
    made = {create(api, producer, [], notes=notes) for _ in range(20)}

    listed: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"producer": producer, "limit": 1000}
        if cursor:
            params["cursor"] = cursor
        answer = api.client.get("/packages", params=params, headers=AUTH)
        assert answer.status_code == 200, answer.text
        assert len(answer.content) <= BUDGET
        body = answer.json()
        listed += [item["package_id"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert pages >= 2
    assert made == set(listed)
    assert len(listed) == len(set(listed))
