"""``GET /packages/{id}/download-plan`` on both backends: pages, globs, URLs storage serves,
and the refusals (issue 17.2)."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import httpx
import pytest

from artifactstore.domain.digests import Digest
from tests.integration.conftest import Configured
from tests.integration.flow import AUTH, Harness, digest_of
from tests.integration.sealing import seal

pytestmark = pytest.mark.integration


def _read(h: Harness, url: str) -> bytes:
    if url.startswith(h.cfg.svc.public_api_url):  # the local backend's signed route
        parts = urlsplit(url)
        answer = h.client.get(f"{parts.path}?{parts.query}")
    else:
        answer = httpx.get(url)
    assert answer.status_code == 200, answer.text
    data: bytes = answer.content
    return data


def test_pages_cover_every_file_once_with_urls_storage_serves(configured: Configured) -> None:
    h = Harness.start(configured)
    files = {f"logs/{i:02d}.log": f"line {i} {uuid.uuid4()}".encode() for i in range(5)}
    files["same.txt"] = files["logs/00.log"]  # two paths, one blob
    package_id = seal(h, files)["package_id"]
    seen: dict[str, bytes] = {}
    cursor = None
    pages = 0
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        answer = h.client.get(f"/packages/{package_id}/download-plan", params=params, headers=AUTH)
        assert answer.status_code == 200, answer.text
        plan = answer.json()
        pages += 1
        assert plan["manifest_digest"].startswith("blake3:") and plan["expires_in"] > 0
        assert len(plan["files"]) <= 2
        for item in plan["files"]:
            assert item["path"] not in seen
            data = _read(h, item["url"])
            assert (
                Digest.of_bytes(data)
                == Digest.parse(item["digest"])
                == Digest.parse(digest_of(files[item["path"]]))
            )
            assert item["size"] == len(data)
            seen[item["path"]] = data
        cursor = plan["next_cursor"]
        if cursor is None:
            break
    assert seen == files
    assert pages == 3
    assert list(seen) == sorted(files)  # path order


def test_globs_select_and_the_refusals_are_exact(configured: Configured) -> None:
    h = Harness.start(configured)
    files = {"a/x.txt": b"x" + uuid.uuid4().bytes, "a/b/y.txt": b"y", "z.json": b"{}"}
    package_id = seal(h, files)["package_id"]
    url = f"/packages/{package_id}/download-plan"
    picked = h.client.get(url, params={"include": ["a/*", "nope"]}, headers=AUTH).json()
    assert [f["path"] for f in picked["files"]] == ["a/b/y.txt", "a/x.txt"]  # '*' crosses '/'

    def refused(status: int, code: str, **params: object) -> None:
        answer = h.client.get(url, params=params, headers=AUTH)
        assert (answer.status_code, answer.json()["error"]["code"]) == (status, code)

    refused(400, "invalid_cursor", cursor="not-a-cursor")
    refused(422, "too_many_globs", include=[f"g{i}" for i in range(33)])
    refused(422, "invalid_parameter", limit=1001)
    draft = h.create(str(uuid.uuid4()), {"d.txt": uuid.uuid4().bytes}).json()["package_id"]
    answer = h.client.get(f"/packages/{draft}/download-plan", headers=AUTH)
    assert (answer.status_code, answer.json()["error"]["code"]) == (409, "not_sealed")
    answer = h.client.get(f"/packages/{uuid.uuid4()}/download-plan", headers=AUTH)
    assert (answer.status_code, answer.json()["error"]["code"]) == (404, "package_not_found")
    assert h.client.get(url).status_code == 401
