"""``GET /diff``: two sealed packages compared through the API, on both backends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.api_support import assert_error
from tests.integration.conftest import Configured
from tests.integration.flow import AUTH, Harness, digest_of
from tests.integration.sealing import seal


@pytest.fixture
def h(configured: Configured) -> Iterator[Harness]:
    yield Harness.start(configured)


def test_diff_of_two_runs(h: Harness) -> None:
    old = seal(
        h,
        {"logs/run.log": b"ok\n", "gone.txt": b"bye", "same.bin": b"\x00"},
        result_status="failed",
        extra={"attempt": 1, "host": "a"},
    )
    new = seal(
        h,
        {"logs/run.log": b"ok\nmore\n", "added.txt": b"hello", "same.bin": b"\x00"},
        result_status="passed",
        extra={"attempt": 2, "host": "a"},
    )
    answer = h.client.get(
        "/diff", params={"from": old["package_id"], "to": new["package_id"]}, headers=AUTH
    )
    assert answer.status_code == 200, answer.text
    view = answer.json()
    assert view["from"]["package_id"] == old["package_id"]
    assert view["to"]["manifest_digest"] == new["manifest_digest"]
    assert view["added"] == [{"path": "added.txt", "size": 5, "digest": digest_of(b"hello")}]
    assert view["removed"] == [{"path": "gone.txt", "size": 3, "digest": digest_of(b"bye")}]
    assert view["changed"] == [
        {
            "path": "logs/run.log",
            "from": {"size": 3, "digest": digest_of(b"ok\n")},
            "to": {"size": 8, "digest": digest_of(b"ok\nmore\n")},
            "size_delta": 5,
        }
    ]
    pointers = {m["pointer"]: m for m in view["metadata"]}
    assert set(pointers) == {"/extra/attempt", "/result_status", "/run_id"}
    assert pointers["/result_status"] == {
        "pointer": "/result_status",
        "change": "changed",
        "from": "failed",
        "to": "passed",
    }
    assert view["size_delta"] == new["total_bytes"] - old["total_bytes"] == 7
    assert view["same"] is False
    same = h.client.get(
        "/diff", params={"from": old["package_id"], "to": old["package_id"]}, headers=AUTH
    )
    assert same.json()["same"] is True


def test_diff_errors(h: Harness) -> None:
    sealed = seal(h, {"a": b"a"})
    draft = h.create("draft-" + sealed["package_id"], {"b": b"b"}).json()
    ids = {"from": sealed["package_id"], "to": draft["package_id"]}
    assert_error(h.client.get("/diff", params=ids, headers=AUTH), 409, "not_sealed")
    missing = {"from": sealed["package_id"], "to": "00000000-0000-4000-8000-000000000000"}
    assert_error(h.client.get("/diff", params=missing, headers=AUTH), 404, "package_not_found")
    assert_error(h.client.get("/diff", params={"from": "x"}, headers=AUTH), 422, "missing_field")
    assert_error(h.client.get("/diff", params=ids), 401, "unauthorized")
