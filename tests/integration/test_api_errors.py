"""One error body everywhere: framework errors, ours, storage URLs, failures; and the docs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from localdev.stack import LocalStack

from artifactstore.adapters.local.storage import LocalFilesStorage
from artifactstore.domain.digests import Digest
from artifactstore.domain.keys import upload_key
from artifactstore.service.factory import services
from artifactstore.settings import service_settings
from tests.integration import api_support
from tests.integration.api_support import Api, assert_error, package_body
from tests.integration.flow import AUTH, digest_of

ERROR_STATUSES = {"400", "401", "403", "404", "409", "413", "422", "500"}


@pytest.fixture(scope="module")
def api(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    for configured in api_support.api_for(stack, tmp_path_factory.mktemp("errors")):
        configured.register_pilot_schema()
        yield configured


def test_framework_errors_have_the_one_body(api: Api) -> None:
    assert_error(api.client.get("/no/such/route"), 404, "not_found")
    assert_error(api.client.get("/no/such/route", headers=AUTH), 404, "not_found")
    assert_error(api.client.delete("/health"), 405, "method_not_allowed")
    assert_error(api.client.put("/packages", headers=AUTH), 405, "method_not_allowed")
    error = assert_error(
        api.client.get("/packages", params={"limit": "many"}, headers=AUTH),
        422,
        "invalid_parameter",
    )
    assert error["details"][0]["loc"] == ["query", "limit"]
    body = package_body()
    body["files"][0]["size"] = "12"
    error = assert_error(api.post("/packages", body), 422, "invalid_type")
    assert error["details"][0]["pointer"] == "/files/0/size"
    del body["producer"]
    mixed = assert_error(api.post("/packages", body), 422, "validation_error")
    assert {d["code"] for d in mixed["details"]} == {"invalid_type", "missing_field"}


def test_our_errors_have_the_one_body(api: Api) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    assert_error(api.client.get(f"/packages/{missing}", headers=AUTH), 404, "package_not_found")
    assert_error(api.client.get("/packages/not-a-uuid", headers=AUTH), 404, "package_not_found")
    assert_error(
        api.client.get("/metadata-schemas/never.v1", headers=AUTH), 404, "schema_not_found"
    )
    assert_error(
        api.client.get("/metadata-schemas/" + "X" * 2000, headers=AUTH), 404, "schema_not_found"
    )
    created = api.post("/packages", package_body())
    package_id = created.json()["package_id"]
    assert_error(
        api.client.get(f"/packages/{package_id}/manifest", headers=AUTH), 409, "not_sealed"
    )
    assert_error(
        api.client.get(f"/packages/{package_id}/files/run.json", headers=AUTH), 409, "not_verified"
    )
    assert_error(
        api.client.get(f"/packages/{package_id}/files/nope.txt", headers=AUTH),
        404,
        "file_not_found",
    )


def test_signed_local_storage_urls(api: Api) -> None:
    storage = api.cfg.svc.storages["local"]
    assert isinstance(storage, LocalFilesStorage)
    data = b"signed bytes"
    digest = digest_of(data)
    key = upload_key("00000000-0000-4000-8000-000000000001", Digest.parse(digest))
    headers = {"Content-Type": "application/octet-stream"}

    def url(method: str, expires: int, sig: str | None = None) -> str:
        signature = sig or storage.signature(method, key, len(data), expires)
        return f"/local-storage/{key}?size={len(data)}&expires={expires}&sig={signature}"

    before = api.stored()
    tampered = api.client.put(url("PUT", 2**40, "0" * 64), content=data, headers=headers)
    assert_error(tampered, 403, "invalid_signature")
    expired = api.client.put(url("PUT", 1), content=data, headers=headers)
    assert_error(expired, 410, "upload_url_expired")
    assert_error(api.client.get(url("GET", 1)), 410, "download_url_expired")
    assert_error(api.client.get(url("GET", 2**40, "f" * 64)), 403, "invalid_signature")
    assert api.stored() == before


def test_an_unexpected_failure_is_a_500_with_the_one_body(
    stack: LocalStack, tmp_path: Path
) -> None:
    for broken in api_support.api_for(stack, tmp_path):
        os.environ["ARTIFACTSTORE_TABLE_NAME"] = "no-such-table"
        service_settings.cache_clear()
        services.cache_clear()
        answer = broken.client.get("/metadata-schemas/guide-board.run.v1", headers=AUTH)
        error = assert_error(answer, 500, "internal_error")
        assert error["details"] is None
        assert "no-such-table" not in answer.text  # no internals leak to the caller


def test_openapi_documents_the_error_shape(api: Api) -> None:
    answer = api.client.get("/openapi.json")
    assert answer.status_code == 200
    spec: dict[str, Any] = answer.json()
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert schemas["ErrorBody"]["required"] == ["error"]
    assert set(schemas["ErrorDetail"]["required"]) == {"code", "message"}
    ref = "#/components/schemas/ErrorBody"
    for path, operations in spec["paths"].items():
        if path == "/health":
            continue
        for method, operation in operations.items():
            documented = set(operation["responses"])
            assert documented >= ERROR_STATUSES, (method, path, documented)
            for status in ERROR_STATUSES:
                content = operation["responses"][status]["content"]["application/json"]
                assert content["schema"]["$ref"] == ref, (method, path, status)


def test_docs_need_no_token(api: Api) -> None:
    docs = api.client.get("/docs")
    assert docs.status_code == 200
    assert "text/html" in docs.headers["content-type"]
    assert "/openapi.json" in docs.text
    assert api.client.get("/health").status_code == 200
