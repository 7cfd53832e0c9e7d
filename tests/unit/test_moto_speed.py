"""localdev/moto_speed.py: moto answers exactly as it does without the shortcuts.

Each answer below is serialized by moto's own code and again with the shortcuts installed, and
the two must be the same bytes: attribute values of every type (nested too), the snake_case
and aliased keys moto's backends hand the serializer, a structure given as an object, and
answers of each service the tests' moto server speaks JSON for. DynamoDB update expressions,
valid and not, update an item (or fail, with the same error) the same way. A moto upgrade that
changes what the shortcuts rely on fails here.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from localdev import moto_speed
from localdev.moto_dynamodb import keyed_backend
from moto import backends
from moto.core.serialize import XFormedAttributePicker, get_serializer_class
from moto.core.utils import get_service_model
from moto.dynamodb.parsing.validators import ActionCountValidator, OverlappingPathsValidator

ITEM: dict[str, Any] = {
    "pk": {"S": "PKG#1"},
    "size": {"N": "12"},
    "raw": {"B": "aGVsbG8="},
    "tags": {"SS": ["a", "b"]},
    "sizes": {"NS": ["1", "2"]},
    "raws": {"BS": ["aGk="]},
    "nested": {"M": {"list": {"L": [{"S": "x"}, {"NULL": True}, {"BOOL": False}]}}},
    "empty": {"L": []},
    "flag": {"BOOL": True},
}

ANSWERS: list[tuple[str, str, Any]] = [
    ("dynamodb", "GetItem", {"Item": ITEM, "ConsumedCapacity": {"TableName": "t"}}),
    (
        "dynamodb",
        "BatchGetItem",
        {
            "Responses": {"t": [ITEM, {"pk": {"S": "PKG#2"}}]},
            "UnprocessedKeys": {"t": {"Keys": [{"pk": {"S": "PKG#3"}}]}},
            "ConsumedCapacity": [{"CapacityUnits": 2, "TableName": "t"}],
        },
    ),
    ("dynamodb", "Query", {"Items": [ITEM], "Count": 1, "LastEvaluatedKey": {"pk": {"S": "x"}}}),
    (
        "dynamodb",
        "DescribeTable",
        {
            "Table": {
                "TableName": "t",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "CreationDateTime": datetime(2026, 1, 2, tzinfo=UTC),
                "item_count": 3,  # snake_case, as some of moto's backends hand them over
                "GlobalSecondaryIndexes": [
                    {"IndexName": "by-state", "Projection": {"ProjectionType": "ALL"}}
                ],
                "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
            }
        },
    ),
    (
        "dynamodb",
        "TransactWriteItems",
        {"ItemCollectionMetrics": {"t": [{"ItemCollectionKey": {"pk": {"S": "a"}}}]}},
    ),
    (
        "sqs",
        "ReceiveMessage",
        {
            "Messages": [
                {
                    "MessageId": "m1",
                    "ReceiptHandle": "r1",
                    "MD5OfBody": "d41d8cd98f00b204e9800998ecf8427e",
                    "Body": "{}",
                    "Attributes": {"ApproximateReceiveCount": "2"},
                    "MessageAttributes": {
                        "kind": {"StringValue": "x", "DataType": "String"},
                        "blob": {"BinaryValue": b"\x00\x01", "DataType": "Binary"},
                    },
                }
            ]
        },
    ),
    ("sqs", "GetQueueAttributes", {"Attributes": {"QueueArn": "arn:aws:sqs:us-east-1:1:q"}}),
    (
        "kms",
        "DescribeKey",
        {
            "KeyMetadata": {
                "KeyId": "k",
                "Arn": "arn:aws:kms:us-east-1:1:key/k",
                "CreationDate": datetime(2026, 1, 2, tzinfo=UTC),
                "key_usage": "SIGN_VERIFY",
                "SigningAlgorithms": ["ECDSA_SHA_256"],
            }
        },
    ),
    ("kms", "Sign", {"KeyId": "k", "Signature": b"\x30\x44", "SigningAlgorithm": "ECDSA_SHA_256"}),
    ("events", "PutEvents", {"FailedEntryCount": 0, "Entries": [{"EventId": "e1"}, {}]}),
    (
        "events",
        "DescribeRule",
        SimpleNamespace(name="r", arn="arn:aws:events:us-east-1:1:rule/r", state="ENABLED"),
    ),
]


@pytest.fixture
def installed() -> Iterator[None]:
    """The shortcuts installed (as the moto_server fixture leaves them) for the test."""
    moto_speed.install()
    yield


def _serialized(service: str, operation: str, answer: Any) -> Any:
    model = get_service_model(service)
    serializer = get_serializer_class(service, model.protocol)(
        operation_model=model.operation_model(operation),
        value_picker=XFormedAttributePicker(),
    )
    return serializer.serialize(answer)


@pytest.mark.parametrize(
    ("service", "operation", "answer"), ANSWERS, ids=[f"{s}-{o}" for s, o, _ in ANSWERS]
)
def test_an_answer_is_the_same_bytes_with_the_shortcuts(
    installed: None, service: str, operation: str, answer: Any
) -> None:
    with moto_speed.moto_as_released():
        expected = _serialized(service, operation, answer)
    assert _serialized(service, operation, answer) == expected
    assert expected["body"] not in ("", "{}")  # the answer did say something


def test_the_module_list_is_moto_own(installed: None) -> None:
    with moto_speed.moto_as_released():
        expected = list(backends.list_of_moto_modules())
    assert list(backends.list_of_moto_modules()) == expected
    assert "dynamodb" in expected


# (UpdateExpression, ExpressionAttributeNames), updating ITEM_BEFORE
UPDATES: list[tuple[str, dict[str, str]]] = [
    # accepted
    ("SET a = :s", {}),
    ("SET a = :s, b = :n, c.d = :s, nested.m.lst[1] = :s", {}),
    ("SET " + ", ".join(f"f{i} = :s" for i in range(40)), {}),  # a catalog write's breadth
    ("SET #a = :s, #b.#c = :n REMOVE gone, nested.m.lst[0]", {"#a": "x", "#b": "c", "#c": "e"}),
    ("SET nested.m.lst[2] = if_not_exists(nested.m.lst[2], :s) ADD cnt :n", {}),
    ("SET tot = tot + :n, diff = :n - tot REMOVE tags DELETE strs :ss", {}),
    ("REMOVE nested.m.lst[0], nested.m.lst[1], gone", {}),
    ("ADD cnt :n, strs :ss DELETE other_strs :ss", {}),
    ("DELETE strs :ss DELETE other_strs :ss", {}),  # two DELETE sections are not refused
    ("SET a = list_append(nested.m.lst, :l) REMOVE gone ADD cnt :n DELETE strs :ss", {}),
    ("SET #p = :s, #q = :s", {"#p": "x", "#q": "y"}),
    ("SET doc.b = :s, docb = :s, doc.bc = :s", {}),  # prefixes, but no path inside another
    # refused: overlapping or repeated paths
    ("SET a = :s, a = :n", {}),
    ("SET a = :s, a.b = :n", {}),
    ("SET a.b = :s REMOVE a", {}),
    ("SET nested.m.lst[1] = :s REMOVE nested.m.lst[1]", {}),
    ("SET #a = :s, #b = :s", {"#a": "x", "#b": "x"}),
    ("SET #a = :s REMOVE x", {"#a": "x"}),
    ("REMOVE gone, gone", {}),
    ("ADD cnt :n DELETE cnt :n", {}),
    # an inner node fails first (c, c) while the root would name (a, a.b)
    ("SET a = :s, a.b = :s, c = :s, c = :s", {}),
    ("SET " + ", ".join(f"f{i} = :s" for i in range(30)) + ", f3.x = :s", {}),
    # refused: a section twice
    ("SET a = :s SET b = :s", {}),
    ("REMOVE a REMOVE b", {}),
    ("ADD cnt :n ADD tot :n", {}),
    ("SET a = :s REMOVE b SET c = :s", {}),
    ("SET a = :s, a = :s SET b = :s", {}),  # both checks fail: the count comes first
    # refused elsewhere (a name missing, a key updated, a bad operand)
    ("SET #missing = :s", {}),
    ("SET pk = :s", {}),
    ("ADD a :s", {}),
]

ITEM_BEFORE: dict[str, Any] = {
    "pk": {"S": "k"},
    "gone": {"S": "x"},
    "c": {"M": {"e": {"N": "1"}}},
    "doc": {"M": {}},
    "tot": {"N": "5"},
    "tags": {"SS": ["a"]},
    "strs": {"SS": ["x", "y"]},
    "other_strs": {"SS": ["x", "z"]},
    "nested": {"M": {"m": {"M": {"lst": {"L": [{"S": "0"}, {"S": "1"}, {"S": "2"}]}}}}},
}


def _updated(expression: str, names: dict[str, str]) -> Any:
    """The item after the update, or the error it fails with (its class and the body sent)."""
    backend = keyed_backend("t", sort_key=False)  # unregistered: this test's own
    backend.put_item("t", copy.deepcopy(ITEM_BEFORE))  # moto keeps (and changes) what it is given
    values = {":s": {"S": "v"}, ":n": {"N": "2"}, ":ss": {"SS": ["x"]}, ":l": {"L": []}}
    try:
        item = backend.update_item("t", {"pk": {"S": "k"}}, expression, names, values)
    except Exception as error:
        get_body = getattr(error, "get_body", None)
        return type(error), str(error), get_body() if get_body else None
    return item.to_json()


@pytest.mark.parametrize(("expression", "names"), UPDATES, ids=[u for u, _ in UPDATES])
def test_an_update_expression_does_the_same_with_the_shortcuts(
    installed: None, expression: str, names: dict[str, str]
) -> None:
    with moto_speed.moto_as_released():
        expected = _updated(expression, names)
    assert _updated(expression, names) == expected


def test_the_update_expressions_cover_each_outcome(installed: None) -> None:
    outcomes = [_updated(expression, names) for expression, names in UPDATES]
    assert sum(type(outcome) is dict for outcome in outcomes) == 12  # accepted
    refused = " ".join(str(outcome[1]) for outcome in outcomes if type(outcome) is tuple)
    assert "Two document paths overlap with each other" in refused
    for section in ("SET", "REMOVE", "ADD"):
        assert f'The \\"{section}\\" section can only be used once' in refused


@pytest.mark.parametrize("check", ["verify_action_counts", "check_for_overlapping_paths"])
def test_a_valid_expression_is_checked_once(
    installed: None, monkeypatch: pytest.MonkeyPatch, check: str
) -> None:
    owner = ActionCountValidator if check == "verify_action_counts" else OverlappingPathsValidator
    calls: list[Any] = []
    moto_check = getattr(owner, check)

    def counted(self: Any, node: Any) -> Any:
        calls.append(node)
        return moto_check(self, node)

    monkeypatch.setattr(owner, check, counted)
    expression = "SET " + ", ".join(f"f{i} = :s" for i in range(10)) + " REMOVE gone"
    with moto_speed.moto_as_released():
        _updated(expression, {})
    by_moto = len(calls)
    calls.clear()
    _updated(expression, {})
    assert len(calls) == 1 < by_moto  # the root; moto: each of the tree's expression nodes


def test_the_shortcuts_are_in_place(installed: None) -> None:
    from moto.core.serialize import BaseJSONSerializer

    for owner, name in [
        (backends, "list_of_moto_modules"),
        (XFormedAttributePicker, "get_possible_keys"),
        (BaseJSONSerializer, "_serialize_type_structure"),
        (ActionCountValidator, "traverse"),
        (OverlappingPathsValidator, "traverse"),
    ]:
        assert getattr(owner, name) is not moto_speed._ORIGINALS[owner, name], name


# -- a base-table query reads only the items its sort-key condition keeps (moto_dynamodb) ----


def _catalog_like_table() -> Any:
    """A table of three partitions, each with items of several kinds and sizes."""
    table = keyed_backend("speed", "999999999998").tables["speed"]
    for pk in ("PKG#a", "PKG#b", "PKG#c"):
        table.put_item({"pk": {"S": pk}, "sk": {"S": "PKG"}, "n": {"N": "1"}})
        for i in range(40):
            # up to ~72 KB each, about 1.4 MB in all: moto cuts pages of them at 1 MB
            big = {"L": [{"S": "x" * 300} for _ in range(i % 5 * 60)]}
            table.put_item({"pk": {"S": pk}, "sk": {"S": f"FILE#{i:03}"}, "files": big})
            table.put_item({"pk": {"S": pk}, "sk": {"S": f"BLOB#{i:03}"}, "s": {"S": "p"}})
        table.put_item({"pk": {"S": pk}, "sk": {"S": "ZZZ"}, "huge": {"S": "y" * 390_000}})
    return table


def _answer(found: Any) -> Any:
    items, scanned, last = found
    return [item.to_json() for item in items], scanned, last


@pytest.mark.parametrize(
    ("comparison", "operands"),
    [
        ("BEGINS_WITH", ["BLOB#"]),
        ("BEGINS_WITH", ["FILE#"]),  # about 1.4 MB: moto cuts its pages at 1 MB
        ("BEGINS_WITH", ["FILE#01"]),
        ("BETWEEN", ["BLOB#010", "BLOB#020"]),
        ("EQ", ["PKG"]),
        ("GT", ["FILE#035"]),
        ("LT", ["BLOB#005"]),
        ("GE", ["ZZZ"]),
        ("LE", ["A"]),
        (None, []),
    ],
)
@pytest.mark.parametrize("forward", [True, False])
@pytest.mark.parametrize("limit", [None, 1, 7, 1000])
def test_a_query_answers_as_moto_whatever_its_sort_key_condition(
    comparison: str | None, operands: list[str], forward: bool, limit: int | None
) -> None:
    from localdev import moto_dynamodb
    from moto.dynamodb.models.dynamo_type import DynamoType

    moto_dynamodb.install()
    table = _catalog_like_table()
    objs = [DynamoType({"S": o}) for o in operands]
    pages_ours: list[Any] = []
    pages_moto: list[Any] = []
    for pages, query in ((pages_ours, table.query), (pages_moto, _moto_query(table))):
        start = None
        while True:
            answer = _answer(
                query(DynamoType({"S": "PKG#b"}), comparison, objs, limit, start, forward, None)
            )
            pages.append(answer)
            start = answer[2]
            if start is None:
                break
    assert pages_ours == pages_moto
    assert any(page[0] for page in pages_ours) or comparison in ("LE",)
    if operands == ["FILE#"] and limit in (None, 1000):
        assert len(pages_ours) > 1  # cut by size, not by count


def _moto_query(table: Any) -> Any:
    from localdev.moto_dynamodb import _MOTO_QUERY

    return lambda *args: _MOTO_QUERY(table, *args)
