"""Admin token rotation through SSM and the rules for issuing producer-bound tokens."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from fastapi.testclient import TestClient
from localdev.stack import LocalStack

from artifactstore.api.app import create_app
from artifactstore.service.factory import services
from artifactstore.settings import service_settings
from tests.integration import api_support
from tests.integration.api_support import Api, assert_error
from tests.integration.conftest import configure

CACHE_SECONDS = 1


@pytest.fixture
def api(stack: LocalStack, tmp_path: Path) -> Iterator[Api]:
    yield from api_support.api_for(stack, tmp_path)


@pytest.fixture
def ssm_api(stack: LocalStack, tmp_path: Path) -> Iterator[tuple[Api, str]]:
    """The app reading its admin token from an SSM SecureString, kept for one second."""
    name = f"/artifactstore/test/admin-token-{uuid.uuid4()}"
    boto3.client("ssm").put_parameter(Name=name, Value="first-secret", Type="SecureString")
    saved = dict(os.environ)
    try:
        cfg = configure(
            stack,
            tmp_path / "storage",
            api_support.ROUTES,
            ARTIFACTSTORE_API_TOKEN_PARAMETER=name,
            ARTIFACTSTORE_API_TOKEN_CACHE_SECONDS=str(CACHE_SECONDS),
        )
        yield Api(cfg, TestClient(create_app(), raise_server_exceptions=False)), name
    finally:
        os.environ.clear()
        os.environ.update(saved)
        service_settings.cache_clear()
        services.cache_clear()


def tokens_as(api: Api, secret: str) -> int:
    answer = api.client.get("/tokens", headers={"Authorization": f"Bearer {secret}"})
    return int(answer.status_code)


def test_a_rotated_admin_token_stops_working_once_the_cache_expires(
    ssm_api: tuple[Api, str],
) -> None:
    api, name = ssm_api
    assert tokens_as(api, "first-secret") == 200
    assert tokens_as(api, "test-admin-token") == 401  # the parameter wins over the variable

    boto3.client("ssm").put_parameter(
        Name=name, Value="second-secret", Type="SecureString", Overwrite=True
    )
    time.sleep(CACHE_SECONDS + 0.2)

    assert tokens_as(api, "first-secret") == 401
    assert tokens_as(api, "second-secret") == 200


def test_an_empty_producer_list_is_refused_not_read_as_every_producer(api: Api) -> None:
    before = api.stored()

    answer = api.post("/tokens", {"name": "lab", "scopes": ["write"], "producers": []})

    error = assert_error(answer, 422, "empty_producer_list")
    assert "omit" in error["message"]
    assert api.stored() == before
    listed = api.client.get("/tokens", headers={"Authorization": "Bearer test-admin-token"})
    assert all(token["name"] != "lab" for token in listed.json()["items"])
