"""Bad input on every write route: its own 4xx code, the one error body, and nothing stored."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from localdev.stack import LocalStack

from artifactstore.api.app import MAX_BODY_BYTES
from artifactstore.domain.manifest import FileEntry
from artifactstore.domain.tokens import ADMIN
from artifactstore.errors import InvalidInput
from artifactstore.service import packages
from artifactstore.service.factory import services
from tests.integration import api_support
from tests.integration.api_support import Api, assert_error, package_body
from tests.integration.flow import AUTH, digest_of

TIB = 1024**4
JSON = {**AUTH, "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def api(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One configured app for the module, with the pilot schema registered."""
    for configured in api_support.api_for(stack, tmp_path_factory.mktemp("bad-input")):
        configured.register_pilot_schema()
        yield configured


def refused_without_storing(api: Api, send: Callable[[], Any], status: int, code: str) -> Any:
    """Send, assert the error, and assert the catalog and storage hold exactly what they held."""
    before = api.stored()
    error = assert_error(send(), status, code)
    assert api.stored() == before
    return error


def with_file(**entry: Any) -> dict[str, Any]:
    """A package body whose second file is replaced by ``entry`` (filled with valid defaults)."""
    body = package_body()
    body["files"][1] = {"path": "logs/a.log", "size": 1, "digest": digest_of(b"a"), **entry}
    return body


def raw(text: str) -> Callable[[Api], Any]:
    return lambda api: api.client.post("/packages", content=text.encode(), headers=JSON)


def sent(body: dict[str, Any]) -> Callable[[Api], Any]:
    return lambda api: api.post("/packages", body)


def swap(**changes: Any) -> Callable[[Api], Any]:
    return lambda api: api.post("/packages", package_body(**changes))


def drop(field: str) -> Callable[[Api], Any]:
    body = package_body()
    del body[field]
    return sent(body)


def deep(levels: int) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for _ in range(levels):
        nested = {"n": nested}
    return nested


PACKAGE_CASES: dict[str, tuple[Callable[[Api], Any], int, str]] = {
    "broken json": (raw('{"producer": "guide-board",'), 400, "invalid_json"),
    "NaN is not json": (
        raw(json.dumps(package_body(metadata={"x": float("nan")}))),
        400,
        "invalid_json",
    ),
    "lone surrogate": (
        raw(json.dumps(with_file(path="a")).replace('"a"', '"\\ud800"')),
        400,
        "invalid_json",
    ),
    "nesting beyond the parser": (raw("[" * 100_000 + "]" * 100_000), 400, "invalid_json"),
    "nesting over 64": (
        sent(package_body(metadata={"run_id": "x", **deep(70)})),
        400,
        "invalid_json",
    ),
    "body is an array": (raw("[]"), 422, "invalid_type"),
    "no body": (lambda api: api.client.post("/packages", headers=AUTH), 422, "missing_body"),
    "size is a string": (sent(with_file(size="1")), 422, "invalid_type"),
    "size is a float": (sent(with_file(size=1.0)), 422, "invalid_type"),
    "producer is a number": (swap(producer=5), 422, "invalid_type"),
    "files is an object": (swap(files={}), 422, "invalid_type"),
    "metadata is an array": (swap(metadata=[]), 422, "invalid_type"),
    "executable is a string": (sent(with_file(executable="yes")), 422, "invalid_type"),
    "unknown field": (swap(owner="me"), 422, "unknown_field"),
    "unknown file field": (sent(with_file(mode=0o755)), 422, "unknown_field"),
    "missing files": (drop("files"), 422, "missing_field"),
    "missing producer": (drop("producer"), 422, "missing_field"),
    "traversal": (sent(with_file(path="../x")), 422, "invalid_path"),
    "nested traversal": (sent(with_file(path="a/../../x")), 422, "invalid_path"),
    "dot segment": (sent(with_file(path="a/./b")), 422, "invalid_path"),
    "absolute": (sent(with_file(path="/abs")), 422, "invalid_path"),
    "empty segment": (sent(with_file(path="a//b")), 422, "invalid_path"),
    "trailing slash": (sent(with_file(path="a/")), 422, "invalid_path"),
    "empty path": (sent(with_file(path="")), 422, "invalid_path"),
    "backslash": (sent(with_file(path="a\\b")), 422, "invalid_path"),
    "NUL": (sent(with_file(path="a\x00b")), 422, "invalid_path"),
    "control character": (sent(with_file(path="a\x1bb")), 422, "invalid_path"),
    "DEL": (sent(with_file(path="a\x7fb")), 422, "invalid_path"),
    "not NFC": (sent(with_file(path="e\u0301.txt")), 422, "invalid_path"),
    "over 1024 bytes": (sent(with_file(path="\u00e9" * 513)), 422, "invalid_path"),
    "over what the catalog keys": (sent(with_file(path="a" * 1020)), 422, "invalid_path"),
    "digest uppercase": (sent(with_file(digest="blake3:" + "A" * 64)), 422, "invalid_digest"),
    "digest short": (sent(with_file(digest="blake3:" + "a" * 63)), 422, "invalid_digest"),
    "digest other algorithm": (sent(with_file(digest="sha256:" + "a" * 64)), 422, "invalid_digest"),
    "digest bare hex": (sent(with_file(digest="a" * 64)), 422, "invalid_digest"),
    "negative size": (sent(with_file(size=-1)), 422, "invalid_size"),
    "over 5 TiB": (sent(with_file(size=5 * TIB + 1)), 422, "invalid_size"),
    "absurd size": (sent(with_file(size=10**30)), 422, "invalid_size"),
    "duplicate path": (sent(with_file(path="run.json")), 422, "duplicate_path"),
    "file is also a folder": (sent(with_file(path="run.json/inner")), 422, "path_prefix_conflict"),
    "unknown schema": (swap(schema="never-registered.v1"), 422, "unknown_schema"),
    "schema slug that cannot exist": (swap(schema="Not A Slug" * 200), 422, "unknown_schema"),
    "unknown retention class": (swap(retention_class="forever"), 422, "unknown_retention_class"),
    "no storage route": (
        lambda api: api.post("/packages", package_body(producer="nobody")),
        422,
        "no_storage_route",
    ),
    "bad producer": (swap(producer="Guide Board"), 422, "invalid_producer"),
    "empty producer": (swap(producer=""), 422, "invalid_producer"),
    "long producer": (swap(producer="p" * 65), 422, "invalid_producer"),
    "empty key": (swap(idempotency_key=""), 422, "invalid_idempotency_key"),
    "key with newline": (swap(idempotency_key="a\nb"), 422, "invalid_idempotency_key"),
    "key over 512 characters": (swap(idempotency_key="k" * 513), 422, "invalid_idempotency_key"),
    "key over 1024 bytes": (
        swap(idempotency_key="\U0001f600" * 300),
        422,
        "invalid_idempotency_key",
    ),
    "metadata over 256 KiB": (
        swap(
            metadata={
                "run_id": "r",
                "target_profile_ref": "t",
                "assessment_profile_ref": "a",
                "result_status": "passed",
                "blob": "x" * 300_000,
            }
        ),
        422,
        "metadata_too_large",
    ),
    # The size is checked first: an oversize object never reaches schema validation.
    "metadata over 256 KiB failing its schema": (
        swap(metadata={"blob": "x" * 300_000}),
        422,
        "metadata_too_large",
    ),
}


@pytest.mark.parametrize("case", list(PACKAGE_CASES))
def test_post_packages_refuses(api: Api, case: str) -> None:
    send, status, code = PACKAGE_CASES[case]
    refused_without_storing(api, lambda: send(api), status, code)


def test_the_longest_storable_path_is_accepted(api: Api) -> None:
    answer = api.post("/packages", with_file(path="p/" + "a" * 1017))
    assert answer.status_code == 201, answer.text


def test_metadata_failing_the_schema_lists_every_pointer(api: Api) -> None:
    metadata = {"run_id": 5, "target_profile_ref": "", "result_status": "nope", "extra": {"a": 1}}
    error = refused_without_storing(
        api, lambda: api.post("/packages", package_body(metadata=metadata)), 422, "metadata_invalid"
    )
    pointers = sorted(d["pointer"] for d in error["details"])
    assert pointers == ["", "/result_status", "/run_id", "/target_profile_ref"]
    assert all(d["message"] for d in error["details"])


def test_bodies_over_the_limit_are_refused_declared_or_chunked(api: Api) -> None:
    # 5.5 MB: a synchronous Lambda invocation takes at most 6 MB, its event included.
    assert MAX_BODY_BYTES == 5_500_000
    body = json.dumps(package_body(metadata={"blob": "x" * MAX_BODY_BYTES})).encode()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 1 << 20):
            yield body[start : start + (1 << 20)]

    declared = refused_without_storing(
        api, lambda: api.client.post("/packages", content=body, headers=JSON), 413, "body_too_large"
    )
    assert declared["details"] == {"limit": MAX_BODY_BYTES}
    refused_without_storing(
        api,
        lambda: api.client.post("/packages", content=chunks(), headers=JSON),
        413,
        "body_too_large",
    )


def test_more_than_100000_files_are_refused(api: Api) -> None:
    files = [{"path": f"{i:x}", "size": 0, "digest": digest_of(b"")} for i in range(100_001)]
    body = json.dumps(package_body(files=files), separators=(",", ":")).encode()
    # No request can carry that many under the 5.5 MB limit: the edge refuses it first ...
    refused_without_storing(
        api, lambda: api.client.post("/packages", content=body, headers=JSON), 413, "body_too_large"
    )
    # ... and the service refuses it for any other way in, before anything is written.
    entries = [FileEntry.from_json(f) for f in files]
    request = packages.NewPackage(
        "guide-board", "too-many", "ephemeral", "guide-board.run.v1", {}, entries
    )
    before = api.stored()
    with pytest.raises(InvalidInput) as caught:
        packages.create_or_resume(services(), ADMIN, request)
    assert caught.value.code == "too_many_files"
    assert api.stored() == before


SCHEMA_CASES: dict[str, tuple[dict[str, Any] | str, int, str]] = {
    "broken json": ('{"slug": ', 400, "invalid_json"),
    "unknown field": ({"slug": "x.v1", "json_schema": {}, "extra": 1}, 422, "unknown_field"),
    "slug is a number": ({"slug": 1, "json_schema": {}}, 422, "invalid_type"),
    "schema is an array": ({"slug": "x.v1", "json_schema": []}, 422, "invalid_type"),
    "missing schema": ({"slug": "x.v1"}, 422, "missing_field"),
    "slug with capitals": ({"slug": "Bad.v1", "json_schema": {}}, 422, "invalid_schema_slug"),
    "slug with a space": ({"slug": "bad slug", "json_schema": {}}, 422, "invalid_schema_slug"),
    "slug starting with a dot": ({"slug": ".x", "json_schema": {}}, 422, "invalid_schema_slug"),
    "slug of 128 characters": ({"slug": "a" * 128, "json_schema": {}}, 422, "invalid_schema_slug"),
    "wrong $id": (
        {"slug": "x.v1", "json_schema": {"$id": "artifactstore:schemas:y.v1"}},
        422,
        "schema_id_mismatch",
    ),
    "not a 2020-12 schema": (
        {"slug": "x.v1", "json_schema": {"type": 5}},
        422,
        "invalid_json_schema",
    ),
    "bad required": (
        {"slug": "x.v1", "json_schema": {"required": "run_id"}},
        422,
        "invalid_json_schema",
    ),
    "another draft": (
        {"slug": "x.v1", "json_schema": {"$schema": "http://json-schema.org/draft-07/schema#"}},
        422,
        "invalid_json_schema",
    ),
    "over 256 KiB": (
        {"slug": "x.v1", "json_schema": {"description": "x" * 300_000}},
        422,
        "schema_too_large",
    ),
}


@pytest.mark.parametrize("case", list(SCHEMA_CASES))
def test_post_metadata_schemas_refuses(api: Api, case: str) -> None:
    body, status, code = SCHEMA_CASES[case]

    def send() -> Any:
        if isinstance(body, str):
            return api.client.post("/metadata-schemas", content=body.encode(), headers=JSON)
        return api.post("/metadata-schemas", body)

    refused_without_storing(api, send, status, code)


def test_schema_registration_201_200_409(api: Api) -> None:
    slug = f"probe-{uuid.uuid4().hex[:12]}.v1"
    schema = {"type": "object", "required": ["a", "b"], "properties": {"a": {"type": "string"}}}
    first = api.post("/metadata-schemas", {"slug": slug, "json_schema": schema})
    assert first.status_code == 201, first.text
    assert first.json()["created"] is True
    before = api.stored()
    reordered = {"properties": {"a": {"type": "string"}}, "required": ["a", "b"], "type": "object"}
    again = api.client.post(
        "/metadata-schemas",
        content=json.dumps({"json_schema": reordered, "slug": slug}, indent=3).encode(),
        headers=JSON,
    )
    assert again.status_code == 200, again.text
    assert again.json()["created"] is False
    assert again.json()["digest"] == first.json()["digest"]
    assert api.stored() == before
    other = {**schema, "required": ["b", "a"]}  # array order is content
    error = refused_without_storing(
        api,
        lambda: api.post("/metadata-schemas", {"slug": slug, "json_schema": other}),
        409,
        "schema_conflict",
    )
    assert error["details"]["registered_digest"] == first.json()["digest"]
    shown = api.client.get(f"/metadata-schemas/{slug}", headers=AUTH)
    assert shown.status_code == 200 and shown.json()["json_schema"] == schema


def _package(api: Api) -> str:
    answer = api.post("/packages", package_body())
    assert answer.status_code == 201, answer.text
    package_id: str = answer.json()["package_id"]
    return package_id


def test_multipart_complete_refuses(api: Api) -> None:
    package_id = _package(api)
    url = f"/packages/{package_id}/multipart/complete"
    good = {"digest": digest_of(b"a"), "upload_id": "u", "parts": [{"part_number": 1, "etag": "e"}]}
    cases: list[tuple[Callable[[], Any], int, str]] = [
        (lambda: api.client.post(url, content=b"{", headers=JSON), 400, "invalid_json"),
        (lambda: api.post(url, {**good, "digest": "md5:x"}), 422, "invalid_digest"),
        (lambda: api.post(url, {**good, "parts": []}), 422, "invalid_value"),
        (
            lambda: api.post(url, {**good, "parts": [{"part_number": 0, "etag": "e"}]}),
            422,
            "invalid_value",
        ),
        (
            lambda: api.post(url, {**good, "parts": [{"part_number": "1", "etag": "e"}]}),
            422,
            "invalid_type",
        ),
        (lambda: api.post(url, {**good, "size": 1}), 422, "unknown_field"),
        (
            lambda: api.post(url, {**good, "digest": digest_of(b"not listed")}),
            422,
            "blob_not_listed",
        ),
        (
            lambda: api.post(
                "/packages/00000000-0000-4000-8000-000000000000/multipart/complete", good
            ),
            404,
            "package_not_found",
        ),
    ]
    for send, status, code in cases:
        refused_without_storing(api, send, status, code)


def test_finalize_of_unknown_packages_is_404(api: Api) -> None:
    for package_id in ("00000000-0000-4000-8000-000000000000", "nope", "x" * 3000):
        refused_without_storing(
            api,
            lambda pid=package_id: api.client.post(f"/packages/{pid}/finalize", headers=AUTH),  # type: ignore[misc]
            404,
            "package_not_found",
        )


def _cursor(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


def test_invalid_cursors_are_400(api: Api) -> None:
    package_id = _package(api)
    other_partition = _cursor({"pk": {"S": "PKG#other"}, "sk": {"S": "FILE#a"}})
    wrong_names = _cursor({"a": {"S": "1"}})
    wrong_types = _cursor(
        {"gsi2pk": {"N": "1"}, "gsi2sk": {"S": "x"}, "pk": {"S": "x"}, "sk": {"S": "x"}}
    )
    cases = [
        ("/packages", {"cursor": "not base64 json!"}),
        ("/packages", {"cursor": wrong_names}),
        ("/packages", {"cursor": wrong_types}),
        (
            "/packages",
            {
                "cursor": _cursor(
                    {
                        "gsi2pk": {"S": "STATE#draft"},
                        "gsi2sk": {"S": "x"},
                        "pk": {"S": "x"},
                        "sk": {"S": "x"},
                    }
                )
            },
        ),
        ("/packages", {"producer": "guide-board", "cursor": wrong_names}),
        ("/metadata-schemas", {"cursor": "%%%"}),
        ("/metadata-schemas", {"cursor": wrong_names}),
        (f"/packages/{package_id}", {"files_cursor": other_partition}),
        (f"/packages/{package_id}/upload-targets", {"cursor": "zz"}),
    ]
    for path, params in cases:
        refused_without_storing(
            api,
            lambda path=path, params=params: api.client.get(path, params=params, headers=AUTH),  # type: ignore[misc]
            400,
            "invalid_cursor",
        )


def test_query_parameters_are_checked(api: Api) -> None:
    for params in (
        {"producer": "Not A Producer"},
        {"limit": "0"},
        {"limit": "x"},
        {"state": "gone"},
        {"producer": "p" * 3000},
    ):
        refused_without_storing(
            api,
            lambda params=params: api.client.get("/packages", params=params, headers=AUTH),  # type: ignore[misc]
            422,
            "invalid_parameter",
        )


def test_tokens_refuse_bad_input(api: Api) -> None:
    cases: list[tuple[Callable[[], Any], int, str]] = [
        (lambda: api.client.post("/tokens", content=b"{", headers=JSON), 400, "invalid_json"),
        (lambda: api.post("/tokens", {"name": "t", "scopes": ["root"]}), 422, "invalid_scope"),
        (lambda: api.post("/tokens", {"name": "t", "scopes": []}), 422, "invalid_value"),
        (lambda: api.post("/tokens", {"name": "", "scopes": ["read"]}), 422, "invalid_value"),
        (lambda: api.post("/tokens", {"name": "t", "scopes": "read"}), 422, "invalid_type"),
        (
            lambda: api.post("/tokens", {"name": "t", "scopes": ["read"], "x": 1}),
            422,
            "unknown_field",
        ),
        (
            lambda: api.post("/tokens", {"name": "t", "scopes": ["write"], "producers": ["A B"]}),
            422,
            "invalid_producer",
        ),
        (lambda: api.client.delete("/tokens/no-such-token", headers=AUTH), 404, "token_not_found"),
    ]
    for send, status, code in cases:
        refused_without_storing(api, send, status, code)
