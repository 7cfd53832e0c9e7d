"""Bearer tokens: 401 without a known token, 403 without the scope or producer, kept hashed."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from localdev.stack import LocalStack

from tests.integration import api_support
from tests.integration.api_support import Api, LogRecorder, assert_error, package_body
from tests.integration.flow import AUTH

ADMIN_SECRET = "test-admin-token"
WRITE_ROUTES = [
    ("POST", "/packages"),
    ("POST", "/metadata-schemas"),
    ("POST", "/packages/00000000-0000-4000-8000-000000000000/finalize"),
    ("POST", "/packages/00000000-0000-4000-8000-000000000000/multipart/complete"),
    ("GET", "/packages/00000000-0000-4000-8000-000000000000/upload-targets"),
    ("POST", "/tokens"),
]
READ_ROUTES = [
    ("GET", "/packages"),
    ("GET", "/packages/00000000-0000-4000-8000-000000000000"),
    ("GET", "/metadata-schemas"),
    ("GET", "/metadata-schemas/guide-board.run.v1"),
    ("GET", "/tokens"),
]


@pytest.fixture(scope="module")
def api(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    for configured in api_support.api_for(stack, tmp_path_factory.mktemp("auth")):
        configured.register_pilot_schema()
        yield configured


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def issue(api: Api, scopes: list[str], producers: list[str] | None = None) -> dict[str, Any]:
    answer = api.post("/tokens", {"name": "t", "scopes": scopes, "producers": producers})
    assert answer.status_code == 201, answer.text
    issued: dict[str, Any] = answer.json()
    return issued


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic dGVzdDp0ZXN0", "Bearer wrong-token", "bearer x"],
)
def test_missing_or_unknown_token_is_401_on_every_route(api: Api, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    for method, path in WRITE_ROUTES + READ_ROUTES:
        before = api.stored()
        answer = api.client.request(method, path, headers=headers, json={})
        assert_error(answer, 401, "unauthorized")
        assert answer.headers["www-authenticate"] == "Bearer"
        assert api.stored() == before


def test_read_token_cannot_write_and_write_token_cannot_administer(api: Api) -> None:
    read = issue(api, ["read"])["token"]
    write = issue(api, ["write"])["token"]
    for method, path in WRITE_ROUTES:
        before = api.stored()
        answer = api.client.request(method, path, headers=bearer(read), json=package_body())
        assert_error(answer, 403, "forbidden")
        assert api.stored() == before
    for method, path in [("POST", "/tokens"), ("GET", "/tokens"), ("DELETE", "/tokens/x")]:
        answer = api.client.request(method, path, headers=bearer(write), json={})
        assert_error(answer, 403, "forbidden")
    for method, path in READ_ROUTES[:-1]:
        answer = api.client.request(method, path, headers=bearer(read))
        assert answer.status_code in (200, 404), answer.text


def test_producer_bound_write_token(api: Api) -> None:
    lab = issue(api, ["write"], ["lab"])["token"]
    before = api.stored()
    refused = api.post("/packages", package_body("guide-board"), headers=bearer(lab))
    error = assert_error(refused, 403, "forbidden")
    assert "guide-board" in error["message"]
    assert api.stored() == before
    own = api.post("/packages", package_body("lab"), headers=bearer(lab))
    assert own.status_code == 201, own.text
    other = api.post("/packages", package_body("guide-board"))
    assert other.status_code == 201, other.text
    package_id = other.json()["package_id"]
    for path in (f"/packages/{package_id}/finalize", f"/packages/{package_id}/upload-targets"):
        method = "POST" if path.endswith("finalize") else "GET"
        answer = api.client.request(method, path, headers=bearer(lab))
        assert_error(answer, 403, "forbidden")
    shown = api.client.get(f"/packages/{package_id}", headers=bearer(lab))
    assert shown.status_code == 200  # reading is not bound to producers
    assert shown.json()["state"] == "draft"


def test_issue_list_revoke(api: Api) -> None:
    issued = issue(api, ["write"], ["guide-board"])
    secret = issued["token"]
    assert secret.startswith("as_") and len(secret) > 40
    assert issued["scopes"] == ["write"] and issued["producers"] == ["guide-board"]
    works = api.post("/packages", package_body(), headers=bearer(secret))
    assert works.status_code == 201, works.text

    listed = api.client.get("/tokens", headers=AUTH)
    assert listed.status_code == 200
    mine = [t for t in listed.json()["items"] if t["token_id"] == issued["token_id"]]
    assert mine == [
        {
            "token_id": issued["token_id"],
            "name": "t",
            "scopes": ["write"],
            "producers": ["guide-board"],
            "revoked": False,
        }
    ]
    assert secret not in listed.text

    revoked = api.client.delete(f"/tokens/{issued['token_id']}", headers=AUTH)
    assert revoked.status_code == 204
    refused = api.post("/packages", package_body(), headers=bearer(secret))
    assert_error(refused, 401, "unauthorized")
    listed = api.client.get("/tokens", headers=AUTH).json()["items"]
    assert [t["revoked"] for t in listed if t["token_id"] == issued["token_id"]] == [True]


def test_tokens_are_stored_hashed(api: Api) -> None:
    secret = issue(api, ["read"])["token"]
    items: list[dict[str, Any]] = []
    for page in (
        boto3.client("dynamodb").get_paginator("scan").paginate(TableName=api.cfg.stack.table)
    ):
        items.extend(page["Items"])
    dump = json.dumps(items)
    assert secret not in dump
    assert ADMIN_SECRET not in dump
    assert hashlib.sha256(secret.encode()).hexdigest() in dump


def test_no_token_is_logged(api: Api, capfd: pytest.CaptureFixture[str]) -> None:
    records = LogRecorder()
    root = logging.getLogger()
    saved = root.level
    root.addHandler(records)
    root.setLevel(logging.DEBUG)
    try:
        secret = issue(api, ["write"], ["lab"])["token"]
        api.post("/packages", package_body("lab"), headers=bearer(secret))
        api.post("/packages", package_body("guide-board"), headers=bearer(secret))  # 403
        api.post("/packages", package_body(), headers=bearer(secret + "x"))  # 401
        api.client.get("/packages", headers=AUTH)
    finally:
        root.removeHandler(records)
        root.setLevel(saved)
    out, err = capfd.readouterr()
    text = "\n".join([*records.lines, out, err])
    assert records.lines, "nothing was logged: the check would prove nothing"
    assert secret not in text
    assert ADMIN_SECRET not in text
