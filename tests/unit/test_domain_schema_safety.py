"""Metadata schemas cannot make validation fetch URLs, backtrack, or run unbounded (issue 14)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema._keywords
import jsonschema._utils
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from referencing.exceptions import Unresolvable

from artifactstore.domain import schemas as domain
from artifactstore.domain.schemas import MetadataSchema, equality_key
from artifactstore.errors import InvalidInput
from tests.fetch_trap import Counter, fetch_trap


@pytest.fixture
def server() -> Iterator[tuple[str, type[Counter]]]:
    """A real HTTP server on loopback: (its URL, the handler class counting requests)."""
    with fetch_trap() as trap:
        yield trap


def refused(code: str, slug: str, json_schema: object) -> Any:
    with pytest.raises(InvalidInput) as caught:
        MetadataSchema.create(slug, json_schema)
    assert caught.value.code == code, caught.value.message
    return caught.value.details


# -- item 2: nothing is ever fetched --------------------------------------------------------------


@pytest.mark.parametrize(
    ("json_schema", "pointer"),
    [
        ({"$ref": "{url}"}, "/$ref"),
        ({"$ref": "{url}#/const"}, "/$ref"),
        ({"properties": {"a": {"$ref": "{url}"}}}, "/properties/a/$ref"),
        ({"$defs": {"d": {"$dynamicRef": "{url}#meta"}}}, "/$defs/d/$dynamicRef"),
        ({"$ref": "other.json"}, "/$ref"),  # relative: resolved against the $id, outside it
        ({"$ref": "artifactstore:schemas:guide-board.run.v1"}, "/$ref"),  # another schema
        ({"examples": [{"$ref": "{url}"}]}, "/examples/0/$ref"),  # "#/examples/0" may be $ref'd
    ],
)
def test_references_outside_the_schema_are_refused_at_registration(
    server: tuple[str, type[Counter]], json_schema: dict[str, Any], pointer: str
) -> None:
    url, handler = server
    filled = _fill(json_schema, url)
    details = refused("schema_external_ref", "lab.ref.v1", filled)
    assert details["pointer"] == pointer
    assert details["ref"].replace(url, "{url}") == _ref_at(json_schema, pointer)
    assert handler.hits == 0


@pytest.mark.parametrize(
    "json_schema",
    [
        {"$ref": "#/$defs/x", "$defs": {"x": {"type": "string"}}},
        {"$ref": "#x", "$defs": {"x": {"$anchor": "x", "type": "string"}}},
        {"$id": "artifactstore:schemas:lab.ref.v1", "$ref": "#/$defs/x", "$defs": {"x": {}}},
        {"$ref": "artifactstore:schemas:lab.ref.v1#/$defs/x", "$defs": {"x": {"type": "string"}}},
        {"$dynamicAnchor": "meta", "items": {"$dynamicRef": "#meta"}},
        {"properties": {"$ref": {"type": "string"}}},  # a property named "$ref" is no reference
    ],
)
def test_references_inside_the_schema_are_accepted_and_resolve(json_schema: dict[str, Any]) -> None:
    schema = MetadataSchema.create("lab.ref.v1", json_schema)
    schema.validate("text" if "$ref" in json_schema else {"$ref": "x"})


def test_a_stored_schema_with_an_external_ref_is_refused_not_fetched(
    server: tuple[str, type[Counter]],
) -> None:
    url, handler = server
    stored = MetadataSchema("lab.old.v1", {"$ref": url})  # as the catalog hands it back
    with pytest.raises(InvalidInput) as caught:
        stored.validate({"a": 1})
    assert caught.value.code == "schema_external_ref"
    assert "SECRET" not in caught.value.message
    assert handler.hits == 0


def test_the_validator_registry_retrieves_nothing(server: tuple[str, type[Counter]]) -> None:
    # Below the registration check: even a validator handed an external $ref fetches nothing.
    url, handler = server
    validator = domain._validator({"$ref": url}, "artifactstore:schemas:lab.old.v1")
    with pytest.raises(Unresolvable):
        validator.is_valid({})
    assert handler.hits == 0


def test_subschemas_declaring_another_dialect_are_refused() -> None:
    details = refused(
        "invalid_json_schema",
        "lab.dialect.v1",
        {"$defs": {"x": {"$schema": "http://json-schema.org/draft-04/schema#"}}},
    )
    assert details["pointer"] == "/$defs/x/$schema"


# -- item 3: bounded validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("json_schema", "pointer"),
    [
        ({"pattern": "^(a)\\1$"}, "/pattern"),  # backreference
        ({"pattern": "^(?=a)"}, "/pattern"),  # lookahead
        ({"properties": {"p": {"pattern": "(?<!a)b"}}}, "/properties/p/pattern"),  # lookbehind
        ({"patternProperties": {"^(?!x)": {}}}, "/patternProperties/^(?!x)"),
        ({"propertyNames": {"pattern": "(a)\\1"}}, "/propertyNames/pattern"),
        ({"pattern": "(?:(?:a{1000}){1000}){1000}"}, "/pattern"),  # a program too large
    ],
)
def test_patterns_re2_cannot_run_are_refused(json_schema: dict[str, Any], pointer: str) -> None:
    details = refused("schema_unsupported_pattern", "lab.pattern.v1", json_schema)
    assert details["pointer"] == pointer
    assert details["reason"]


@pytest.fixture
def no_backtracking_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """jsonschema's own pattern keywords call ``re.search``: make that impossible."""

    class NoRe:
        def search(self, *args: Any) -> None:
            raise AssertionError("a schema pattern ran on Python's backtracking re")

    monkeypatch.setattr(jsonschema._keywords, "re", NoRe())


CATASTROPHIC = "^(a+)+$"


@pytest.mark.usefixtures("no_backtracking_engine")
def test_patterns_run_on_the_linear_engine() -> None:
    schema = MetadataSchema.create(
        "lab.bomb.v1",
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "a": {"pattern": CATASTROPHIC},
                "nested": {"$ref": "#"},  # back to a root that names $schema: same engine
            },
            "patternProperties": {"^(b+)+$": {"type": "integer"}},
            "propertyNames": {"pattern": "^(a|nested|b+)+$"},
        },
    )
    schema.validate({"a": "aaaa", "bbb": 1, "nested": {"a": "a", "bb": 2}})
    bomb = "a" * 29 + "!"
    with pytest.raises(InvalidInput) as caught:
        schema.validate({"nested": {"a": bomb, "bb": "x", "b" * 29 + "!": 1}})
    assert caught.value.code == "metadata_invalid"
    assert sorted(d["pointer"] for d in caught.value.details) == [
        "/nested",
        "/nested/a",
        "/nested/bb",
    ]


def test_patterns_keep_json_schema_search_semantics() -> None:
    schema = MetadataSchema.create("lab.p.v1", {"pattern": "b", "minLength": 1})
    schema.validate("abc")  # unanchored, like ECMA-262 and re.search
    with pytest.raises(InvalidInput):
        schema.validate("xyz")
    anchored = MetadataSchema.create("lab.q.v1", {"pattern": "^a$"})
    with pytest.raises(InvalidInput):
        anchored.validate("a\n")  # ECMA-262: "$" is the end of the text (Python's re: a match)


@pytest.fixture
def no_quadratic_unique(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: Any) -> bool:
        raise AssertionError("jsonschema's pairwise uniqueItems ran")

    monkeypatch.setattr(jsonschema._keywords, "uniq", forbidden)


UNIQUE_CASES = [
    ([1, 1.0], False),
    ([1, True], True),
    ([0, False], True),
    ([None, None], False),
    (["1", 1], True),
    ([[1], [1.0]], False),
    ([[1], [True]], True),
    ([[1], [True], [1]], False),  # jsonschema's sort-then-compare-neighbours misses this one
    ([{"a": 1, "b": [2]}, {"b": [2.0], "a": 1}], False),
    ([{"a": True}, {"a": 1}], True),
    ([{"a": 1}, {"a": 1, "b": 1}], True),
    ([{}, []], True),
    ([2**60, float(2**60)], False),
    ([2**60 + 1, float(2**60)], True),
]


@pytest.mark.usefixtures("no_quadratic_unique")
@pytest.mark.parametrize(("items", "unique"), UNIQUE_CASES)
def test_unique_items_is_linear_with_json_schema_equality(items: list[Any], unique: bool) -> None:
    schema = MetadataSchema.create("lab.unique.v1", {"uniqueItems": True})
    if unique:
        schema.validate(items)
    else:
        with pytest.raises(InvalidInput) as caught:
            schema.validate(items)
        assert caught.value.code == "metadata_invalid"


@pytest.mark.usefixtures("no_quadratic_unique")
def test_unique_items_over_thousands_of_objects() -> None:
    schema = MetadataSchema.create("lab.unique.v1", {"uniqueItems": True})
    items: list[Any] = [{"k": i, "v": [i, str(i)]} for i in range(20_000)]
    schema.validate(items)
    with pytest.raises(InvalidInput) as caught:
        schema.validate([*items, {"v": [7.0, "7"], "k": 7}])
    assert "item 20000" in caught.value.details[0]["message"]


_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.sampled_from([0.0, 1.0, 2.5])
    | st.text("ab", max_size=2)
)
json_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text("ab", max_size=1), inner, max_size=2)
    ),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(json_values, max_size=5))
def test_equality_keys_agree_with_json_schema_equal(items: list[Any]) -> None:
    pairwise = all(
        not jsonschema._utils.equal(a, b) for i, a in enumerate(items) for b in items[i + 1 :]
    )
    assert (len({equality_key(v) for v in items}) == len(items)) == pairwise


def test_a_ref_loop_is_stopped_by_the_budget() -> None:
    schema = MetadataSchema.create("lab.loop.v1", {"$ref": "#"})
    with pytest.raises(InvalidInput) as caught:
        schema.validate({})
    assert caught.value.code == "validation_budget_exceeded"


def test_an_exponential_schema_is_stopped_by_the_budget() -> None:
    # Each level evaluates the next one twice: 2**40 evaluations, unless the budget stops them.
    levels: dict[str, Any] = {
        f"l{i}": {"allOf": [{"$ref": f"#/$defs/l{i + 1}"}] * 2} for i in range(40)
    }
    levels["l40"] = {"type": "object"}
    schema = MetadataSchema.create("lab.exp.v1", {"$ref": "#/$defs/l0", "$defs": levels})
    with pytest.raises(InvalidInput) as caught:
        schema.validate({}, budget_seconds=0.05)
    assert caught.value.code == "validation_budget_exceeded"
    assert caught.value.details == {"budget_seconds": 0.05}


def test_failures_are_listed_up_to_a_cap_with_short_messages() -> None:
    schema = MetadataSchema.create("lab.many.v1", {"items": {"type": "string"}})
    with pytest.raises(InvalidInput) as caught:
        schema.validate([["x" * 10_000]] * 1000)
    details = caught.value.details
    assert len(details) == domain.MAX_ERROR_DETAILS
    assert all(len(d["message"]) <= domain.MAX_MESSAGE_CHARS for d in details)
    assert f"first {domain.MAX_ERROR_DETAILS} failures" in caught.value.message


def _fill(value: Any, url: str) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, url) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, url) for v in value]
    return value.replace("{url}", url) if isinstance(value, str) else value


def _ref_at(document: Any, pointer: str) -> Any:
    for part in pointer.split("/")[1:]:
        document = document[int(part) if isinstance(document, list) else part]
    return document
