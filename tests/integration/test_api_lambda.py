"""The API Lambda (functions/api/app.py) driven by real-shaped API Gateway HTTP API v2 events."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from localdev.stack import LocalStack

from tests.integration import api_support
from tests.integration.api_support import Api, LogRecorder
from tests.lambda_runtime import FakeContext, load_event, load_handler

SECRET = "test-admin-token"


@pytest.fixture(scope="module")
def api(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    for configured in api_support.api_for(stack, tmp_path_factory.mktemp("lambda")):
        configured.register_pilot_schema()
        yield configured


@pytest.fixture(scope="module")
def handler(api: Api) -> ModuleType:
    """The function's module, imported as Lambda does."""
    return load_handler("api")


def invoke(handler: ModuleType, event: dict[str, Any]) -> dict[str, Any]:
    """One invocation; the answer must be a valid HTTP API v2 response."""
    answer: dict[str, Any] = handler.lambda_handler(event, FakeContext())
    assert isinstance(answer["statusCode"], int)
    assert answer["isBase64Encoded"] is False
    assert isinstance(answer["body"], str)
    return answer


def json_of(answer: dict[str, Any]) -> Any:
    assert answer["headers"]["content-type"] == "application/json"
    return json.loads(answer["body"])


def test_health(handler: ModuleType) -> None:
    answer = invoke(handler, load_event("apigw_v2_get_health.json"))
    assert answer["statusCode"] == 200
    body = json_of(answer)
    assert body["status"] == "ok"
    assert set(body["stack"]) == {"boto3", "pynamodb"}


def test_schema_registration(handler: ModuleType, api: Api) -> None:
    event = load_event("apigw_v2_post_schema.json")
    first = invoke(handler, event)
    assert first["statusCode"] in (200, 201), first
    again = invoke(handler, event)
    assert again["statusCode"] == 200
    body = json_of(again)
    assert body["slug"] == "lambda-test.v1" and body["created"] is False
    assert body["digest"] == json_of(first)["digest"]
    shown = api.client.get(
        "/metadata-schemas/lambda-test.v1", headers={"Authorization": "Bearer " + SECRET}
    )
    assert shown.json()["digest"] == body["digest"]


def test_post_package_creates_then_resumes(handler: ModuleType, api: Api) -> None:
    event = load_event("apigw_v2_post_package.json")
    first = invoke(handler, event)
    assert first["statusCode"] in (200, 201), first
    created = json_of(first)
    assert created["state"] == "draft" and created["backend"] == "s3"
    assert created["file_count"] == 2
    again = invoke(handler, event)
    assert again["statusCode"] == 200
    resumed = json_of(again)
    assert resumed["package_id"] == created["package_id"]
    assert resumed["missing_blobs"] == len(resumed["upload_targets"])
    for target in resumed["upload_targets"]:
        assert target["method"] == "PUT" and target["url"].startswith("http")


def test_bad_input_event_answers_the_error_body_and_stores_nothing(
    handler: ModuleType, api: Api
) -> None:
    before = api.stored()
    answer = invoke(handler, load_event("apigw_v2_post_package_bad_path.json"))
    assert answer["statusCode"] == 422
    assert json_of(answer) == {
        "error": {
            "code": "invalid_path",
            "message": "invalid path '../etc/passwd': has an empty, '.' or '..' segment ('..')",
            "details": {"path": "../etc/passwd"},
        }
    }
    assert api.stored() == before


def test_missing_token_and_unknown_route(handler: ModuleType) -> None:
    event = load_event("apigw_v2_post_schema.json")
    del event["headers"]["authorization"]
    refused = invoke(handler, event)
    assert refused["statusCode"] == 401
    assert refused["headers"]["www-authenticate"] == "Bearer"
    assert json_of(refused)["error"]["code"] == "unauthorized"
    lost = load_event("apigw_v2_get_health.json")
    lost["rawPath"] = lost["requestContext"]["http"]["path"] = "/nowhere"
    missing = invoke(handler, lost)
    assert missing["statusCode"] == 404
    assert json_of(missing)["error"]["code"] == "not_found"
    lost["requestContext"]["http"]["method"] = "DELETE"
    lost["rawPath"] = lost["requestContext"]["http"]["path"] = "/health"
    wrong = invoke(handler, lost)
    assert wrong["statusCode"] == 405
    assert json_of(wrong)["error"]["code"] == "method_not_allowed"


def test_the_function_logs_no_token(api: Api, capfd: pytest.CaptureFixture[str]) -> None:
    records = LogRecorder()
    root = logging.getLogger()
    saved = root.level
    root.addHandler(records)
    root.setLevel(logging.DEBUG)
    os.environ["POWERTOOLS_LOG_LEVEL"] = "DEBUG"
    os.environ["POWERTOOLS_LOGGER_LOG_EVENT"] = "true"  # an operator turning event logging on
    try:
        fresh = load_handler("api")  # its Powertools logger writes to this test's stdout
        invoke(fresh, load_event("apigw_v2_post_schema.json"))
        invoke(fresh, load_event("apigw_v2_post_package.json"))
        invoke(fresh, load_event("apigw_v2_post_package_bad_path.json"))
    finally:
        os.environ.pop("POWERTOOLS_LOG_LEVEL", None)
        os.environ.pop("POWERTOOLS_LOGGER_LOG_EVENT", None)
        root.removeHandler(records)
        root.setLevel(saved)
    out, err = capfd.readouterr()
    assert records.lines, "nothing was logged: the check would prove nothing"
    assert SECRET not in "\n".join([*records.lines, out, err])
