"""Issue 14 over HTTP: schemas that fetch, schemas as CPU bombs, and slug squatting.

Every refusal answers its exact code and leaves the catalog and both storage backends as they
were; the SSRF cases count the requests a real loopback HTTP server receives (none).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from localdev.stack import LocalStack

from artifactstore.domain.schemas import MetadataSchema
from artifactstore.service.factory import services
from tests.fetch_trap import Counter, fetch_trap
from tests.integration import api_support
from tests.integration.api_support import Api, assert_error, package_body
from tests.integration.flow import AUTH


@pytest.fixture(scope="module")
def api(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    for configured in api_support.api_for(stack, tmp_path_factory.mktemp("schema-safety")):
        configured.register_pilot_schema()
        yield configured


@pytest.fixture
def server() -> Iterator[tuple[str, type[Counter]]]:
    """A real HTTP server on loopback: (its URL, the handler class counting requests)."""
    with fetch_trap() as trap:
        yield trap


def refused(api: Api, send: Callable[[], httpx.Response], status: int, code: str) -> dict[str, Any]:
    before = api.stored()
    error = assert_error(send(), status, code)
    assert api.stored() == before
    return error


def register(api: Api, slug: str, json_schema: Any, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return api.post("/metadata-schemas", {"slug": slug, "json_schema": json_schema}, headers)


# -- item 2 ---------------------------------------------------------------------------------------


def test_registering_a_schema_with_an_external_ref_fetches_nothing(
    api: Api, server: tuple[str, type[Counter]]
) -> None:
    url, handler = server
    schema = {"type": "object", "properties": {"run": {"$ref": url}}}
    error = refused(api, lambda: register(api, "lab.ssrf.v1", schema), 422, "schema_external_ref")
    assert error["details"] == {"pointer": "/properties/run/$ref", "ref": url}
    assert handler.hits == 0
    assert api.client.get("/metadata-schemas/lab.ssrf.v1", headers=AUTH).status_code == 404


def test_a_schema_stored_before_the_check_is_not_fetched_when_used(
    api: Api, server: tuple[str, type[Counter]]
) -> None:
    url, handler = server
    # Written through the catalog directly, as a schema registered before issue 14 was.
    services().catalog.put_schema(
        MetadataSchema("lab.legacy-ssrf.v1", {"$ref": url}), datetime.now(UTC)
    )
    body = package_body(producer="lab", schema="lab.legacy-ssrf.v1", metadata={"run": 1})
    error = refused(api, lambda: api.post("/packages", body), 422, "schema_external_ref")
    assert "SECRET" not in str(error)
    assert handler.hits == 0


# -- item 3 ---------------------------------------------------------------------------------------


def test_a_pattern_re2_cannot_run_is_refused_at_registration(api: Api) -> None:
    schema = {"properties": {"id": {"type": "string", "pattern": "^(\\w+)-\\1$"}}}
    error = refused(
        api, lambda: register(api, "lab.backref.v1", schema), 422, "schema_unsupported_pattern"
    )
    assert error["details"]["pointer"] == "/properties/id/pattern"


def test_catastrophic_patterns_and_big_unique_arrays_validate(api: Api) -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "pattern": "^(a+)+$"},
            "items": {"type": "array", "uniqueItems": True},
        },
    }
    assert register(api, "lab.bombs.v1", schema).status_code == 201
    items = [{"k": i} for i in range(5_000)]
    bomb = {"name": "a" * 29 + "!", "items": items}
    error = refused(
        api,
        lambda: api.post("/packages", package_body("lab", schema="lab.bombs.v1", metadata=bomb)),
        422,
        "metadata_invalid",
    )
    assert [d["pointer"] for d in error["details"]] == ["/name"]
    repeated = {"name": "aaa", "items": [*items, {"k": 4999.0}]}
    error = refused(
        api,
        lambda: api.post(
            "/packages", package_body("lab", schema="lab.bombs.v1", metadata=repeated)
        ),
        422,
        "metadata_invalid",
    )
    assert [d["pointer"] for d in error["details"]] == ["/items"]
    fine = {"name": "aaa", "items": items}
    answer = api.post("/packages", package_body("lab", schema="lab.bombs.v1", metadata=fine))
    assert answer.status_code == 201, answer.text


def test_a_ref_loop_answers_the_budget_code(api: Api) -> None:
    assert register(api, "lab.loop.v1", {"$ref": "#"}).status_code == 201
    body = package_body("lab", schema="lab.loop.v1", metadata={})
    refused(api, lambda: api.post("/packages", body), 422, "validation_budget_exceeded")


# -- item 11 --------------------------------------------------------------------------------------


def issue(api: Api, scopes: list[str], producers: list[str] | None) -> str:
    answer = api.post("/tokens", {"name": "lab-writer", "scopes": scopes, "producers": producers})
    assert answer.status_code == 201, answer.text
    token: str = answer.json()["token"]
    return token


def test_a_token_bound_to_a_producer_registers_only_its_own_slugs(api: Api) -> None:
    lab = issue(api, ["write"], ["lab"])
    error = refused(
        api, lambda: register(api, "guide-board.x.v1", {"type": "object"}, lab), 403, "forbidden"
    )
    assert "'guide-board'" in error["message"]
    assert api.client.get("/metadata-schemas/guide-board.x.v1", headers=AUTH).status_code == 404
    # "lab-other" is another producer, not a "lab" schema: the producer ends at the first '.'.
    refused(api, lambda: register(api, "lab-other.x.v1", {}, lab), 403, "forbidden")
    answer = register(api, "lab.x.v1", {"type": "object"}, lab)
    assert answer.status_code == 201, answer.text


def test_admin_and_unbound_write_tokens_register_any_slug(api: Api) -> None:
    unbound = issue(api, ["write"], None)
    assert register(api, "guide-board.unbound.v1", {}, unbound).status_code == 201
    admin_bound = issue(api, ["admin"], ["lab"])
    assert register(api, "guide-board.admin.v1", {}, admin_bound).status_code == 201
    assert register(api, "guide-board.dev.v1", {}).status_code == 201  # the admin token
