"""The OpenAPI document names a model for every JSON answer, and real answers hold exactly the
model it names: every field, in the order answered, and no other (the app on the in-memory
fakes; ``tests/integration/test_api_responses.py`` does the same against moto)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from artifactstore.api import responses, responses_reports
from artifactstore.api.app import create_app
from artifactstore.domain.digests import Digest
from artifactstore.domain.keys import upload_key
from artifactstore.domain.manifest import FileEntry, Manifest
from artifactstore.domain.signing_keys import PublicKeyInfo
from artifactstore.ports.signing import Signature
from artifactstore.service import factory
from artifactstore.service.context import Services
from artifactstore.service.verification import verify_upload
from artifactstore.settings import service_settings
from tests.fakes import InMemoryStorage, fake_services
from tests.fakes.services import START

TOKEN = "unit-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SCHEMA = "unit.run.v1"
# What answers with something other than a JSON object built by a route, and why.
NOT_MODELLED = {
    ("get", "/packages/{package_id}/manifest"): "the manifest's exact canonical bytes",
    ("get", "/packages/{package_id}/files/{path}"): "302 to the blob, or a packed file's bytes",
    ("get", "/packages/{package_id}/attestation"): "the stored DSSE envelope's exact bytes",
    ("delete", "/tokens/{token_id}"): "204, no body",
    # Declared in api/app.py; its answer holds responses_reports.Health (tested below).
    ("get", "/health"): "not declared yet",
}
MODULES = (responses, responses_reports)


def model_named(schema: dict[str, Any]) -> type[BaseModel] | None:
    """The model a ``{"$ref": ...}`` schema names, from the two response modules."""
    if set(schema) != {"$ref"}:
        return None
    name = schema["$ref"].removeprefix("#/components/schemas/")
    found = [getattr(m, name) for m in MODULES if hasattr(m, name)]
    return found[0] if found else None


def holds(model: type[BaseModel], raw: bytes) -> None:
    """``raw`` is exactly ``model``: every field it has, in the model's order, and no other."""
    parsed = model.model_validate_json(raw, strict=True)
    again = parsed.model_dump_json(by_alias=True, exclude_unset=True)
    assert json.loads(again, object_pairs_hook=list) == json.loads(raw, object_pairs_hook=list)


def test_every_json_answer_names_its_model() -> None:
    spec = create_app().openapi()
    operations = {(m, p): op for p, ops in spec["paths"].items() for m, op in ops.items()}
    assert set(NOT_MODELLED) <= set(operations), "an exception names a route that is gone"
    unnamed = []
    for key, operation in operations.items():
        answers = {c: a for c, a in operation["responses"].items() if c.startswith("2")}
        assert answers, key
        if key in NOT_MODELLED:
            continue
        for code, answer in answers.items():
            schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
            model = model_named(schema)
            properties = spec["components"]["schemas"].get(model.__name__ if model else "", {})
            if model is None or not properties.get("properties"):
                unnamed.append((*key, code, schema))
    assert unnamed == []


def test_a_model_refuses_a_field_it_does_not_name_and_one_out_of_order() -> None:
    key = responses_reports.SigningKey
    view = {"keyid": "k", "algorithm": "a", "public_key_pem": "p", "not_before": None}
    holds(key, json.dumps({**view, "not_after": None}).encode())
    with pytest.raises(ValueError, match="extra"):
        holds(key, json.dumps({**view, "not_after": None, "x": 1}).encode())
    with pytest.raises(AssertionError):
        holds(key, json.dumps({"not_after": None, **view}).encode())


class ListedKeys:
    """A signer that only lists its public keys (``GET /signing-keys``)."""

    def sign(self, message: bytes) -> Signature:
        raise NotImplementedError

    def public_keys(self) -> list[PublicKeyInfo]:
        return [
            PublicKeyInfo("key-2", "PEM 2", START, None),
            PublicKeyInfo("key-1", "PEM 1", START - timedelta(days=30), START),
        ]


@dataclasses.dataclass
class Api:
    """The app on the fakes; each answer is checked against the model its route names."""

    client: TestClient
    svc: Services
    storage: InMemoryStorage
    spec: dict[str, Any]

    def answer(self, method: str, route: str, status: int, body: Any = None, **params: Any) -> Any:
        """Call ``route`` (path parameters filled from ``params``, the rest sent as query
        parameters); the answer must have ``status`` and hold the model named for it."""
        names = {k: params.pop(k) for k in list(params) if "{" + k + "}" in route}
        answer = self.client.request(
            method, route.format(**names), json=body, params=params, headers=AUTH
        )
        assert answer.status_code == status, answer.text
        operation = self.spec["paths"][route][method.lower()]
        content = operation["responses"][str(status)]["content"]["application/json"]
        model = model_named(content["schema"])
        assert model is not None, (method, route, status)
        holds(model, answer.content)
        return answer.json()

    def upload(self, package_id: str, *contents: bytes) -> None:
        """Put each blob's bytes to its upload key and verify them, as the verifier would."""
        for data in contents:
            key = upload_key(package_id, Digest.of_bytes(data))
            verify_upload(self.svc, "memory", key, self.storage.put_upload(key, data))


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    fakes = fake_services()
    storage = InMemoryStorage(clock=fakes.clock, multipart_threshold=2048, part_size=1024)
    svc = dataclasses.replace(fakes.svc, storages={"memory": storage}, signer=ListedKeys())
    monkeypatch.setenv("ARTIFACTSTORE_API_TOKEN", TOKEN)
    monkeypatch.delenv("ARTIFACTSTORE_API_TOKEN_PARAMETER", raising=False)
    monkeypatch.setattr(factory, "build_services", lambda settings: svc)
    _forget_services()
    try:
        app = create_app()
        yield Api(TestClient(app), svc, storage, app.openapi())
    finally:
        _forget_services()


def _forget_services() -> None:
    from artifactstore.api import auth

    service_settings.cache_clear()
    factory.services.cache_clear()
    auth._configured_token_hash.cache_clear()


def files(**contents: bytes) -> list[dict[str, Any]]:
    """File entries (``name=bytes``; ``__`` stands for ``/`` in a name)."""
    return [
        {"path": p.replace("__", "/"), "size": len(d), "digest": str(Digest.of_bytes(d))}
        for p, d in contents.items()
    ]


def package(key: str, metadata: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A ``POST /packages`` body."""
    return {
        "producer": "unit",
        "idempotency_key": key,
        "retention_class": "ephemeral",
        "schema": SCHEMA,
        "metadata": metadata,
        **extra,
    }


def registered(api: Api) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "number", "minimum": 1e-7}}}
    api.answer("POST", "/metadata-schemas", 201, {"slug": SCHEMA, "json_schema": schema})
    api.answer("POST", "/metadata-schemas", 200, {"slug": SCHEMA, "json_schema": schema})


def test_schema_answers_hold_their_models(api: Api) -> None:
    registered(api)
    api.answer("POST", "/metadata-schemas", 201, {"slug": "unit.other.v1", "json_schema": {}})
    page = api.answer("GET", "/metadata-schemas", 200, limit=1)
    assert page["next_cursor"] is not None
    api.answer("GET", "/metadata-schemas/{slug}", 200, slug=SCHEMA)


def test_a_package_from_draft_to_sealed_holds_its_models(api: Api) -> None:
    registered(api)
    small, big = b"small", b"b" * 300
    metadata = {"n": 1e-7, "run": "é ☃", "nested": {"x": None, "y": [1, 2.0, True]}}
    body = package(
        "a",
        metadata,
        files=files(logs__small=small, big=big),
        links={"state_hub": {"workstream_id": "w", "task_id": "t"}},
        bundle_below=100,
    )
    created = api.answer("POST", "/packages", 201, body)
    package_id = created["package_id"]
    assert api.answer("POST", "/packages", 200, body)["package_id"] == package_id
    api.answer("GET", "/packages/{package_id}/upload-targets", 200, package_id=package_id)
    targets = "/packages/{package_id}/upload-targets"
    api.answer("GET", targets, 200, package_id=package_id, bundle_below=100)
    bundles = "/packages/{package_id}/bundles"
    bundle = {"blobs": [str(Digest.of_bytes(small))]}
    api.answer("POST", bundles, 201, bundle, package_id=package_id)
    api.upload(package_id, small)
    api.answer("POST", bundles, 200, bundle, package_id=package_id)  # nothing left to send
    api.answer("POST", "/packages/{package_id}/finalize", 202, package_id=package_id)
    api.answer("GET", "/packages/{package_id}", 200, package_id=package_id)
    api.upload(package_id, big)
    api.answer("POST", "/packages/{package_id}/finalize", 200, package_id=package_id)
    api.answer("GET", "/packages/{package_id}", 200, package_id=package_id, files_limit=1)
    api.answer("GET", "/packages", 200)
    plan = "/packages/{package_id}/download-plan"
    assert len(api.answer("GET", plan, 200, package_id=package_id)["files"]) == 2
    api.answer("GET", plan, 200, package_id=package_id, include="logs/*", limit=1)


def test_a_list_in_parts_and_a_multipart_upload_hold_their_models(api: Api) -> None:
    registered(api)
    one, huge = b"1", b"h" * 5000
    entries = [FileEntry.from_json(f) for f in files(one=one, huge=huge)]
    digest = Manifest.build("unit", "c", SCHEMA, {}, entries).digest()
    body = package("c", {}, files=files(one=one), file_count=2, manifest_digest=str(digest))
    package_id = api.answer("POST", "/packages", 201, body)["package_id"]
    part = {"files": files(huge=huge), "complete": True}
    listed = api.answer("POST", "/packages/{package_id}/files", 200, part, package_id=package_id)
    (target,) = [t for t in listed["upload_targets"] if "upload_id" in t]
    assert target["part_count"] == 5
    parts = "/packages/{package_id}/upload-targets/{digest}/parts"
    page = api.answer(
        "GET", parts, 200, package_id=package_id, digest=target["digest"],
        upload_id=target["upload_id"],
    )  # fmt: skip
    etags = [
        {
            "part_number": p["part_number"],
            "etag": api.storage.upload_part(
                target["upload_id"], p["part_number"], huge[p["offset"] : p["offset"] + p["size"]]
            ),
        }
        for p in page["parts"]
    ]
    complete = {"digest": target["digest"], "upload_id": target["upload_id"], "parts": etags}
    done = api.answer(
        "POST", "/packages/{package_id}/multipart/complete", 200, complete, package_id=package_id
    )
    assert done == {"package_id": package_id, "digest": target["digest"], "status": "completed"}


def test_diff_usage_keys_tokens_and_health_hold_their_models(api: Api) -> None:
    registered(api)
    ids = []
    sides: list[tuple[str, dict[str, Any], dict[str, bytes]]] = [
        ("a", {"n": 1.5, "run": "a", "gone": [1]}, {"same": b"s", "changed": b"c1", "old": b"o"}),
        ("b", {"n": 1e-7, "run": None}, {"same": b"s", "changed": b"c22", "new": b"n"}),
    ]
    for key, metadata, contents in sides:
        body = package(key, metadata, files=files(**contents))
        if key == "b":
            body["files"][0]["executable"] = True
        package_id = api.answer("POST", "/packages", 201, body)["package_id"]
        api.upload(package_id, *contents.values())
        api.answer("POST", "/packages/{package_id}/finalize", 200, package_id=package_id)
        ids.append(package_id)
    diff = api.answer("GET", "/diff", 200, **{"from": ids[0], "to": ids[1]})
    assert [len(diff[k]) for k in ("added", "removed", "changed", "mode_changed")] == [1, 1, 1, 1]
    assert {c["change"] for c in diff["metadata"]} == {"removed", "changed"}
    assert api.answer("GET", "/diff", 200, **{"from": ids[0], "to": ids[0]})["same"] is True
    draft = package("d", {}, files=files(d=b"d"))
    api.answer("POST", "/packages", 201, draft)
    usage = api.answer("GET", "/usage", 200, horizon_days=3650)
    assert usage["expiring"]["sealed"]["earliest"] and usage["expiring"]["drafts"]["earliest"]
    keys = api.answer("GET", "/signing-keys", 200)["keys"]
    assert [k["keyid"] for k in keys] == ["key-2", "key-1"]
    api.answer("POST", "/tokens", 201, {"name": "reader", "scopes": ["read"], "producers": ["u"]})
    api.answer("POST", "/tokens", 201, {"name": "writer", "scopes": ["write"]})
    assert len(api.answer("GET", "/tokens", 200)["items"]) == 2
    holds(responses_reports.Health, api.client.get("/health").content)
