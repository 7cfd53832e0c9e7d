"""The local stack's DynamoDB transactions are atomic and isolated, as DynamoDB's are."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import boto3
import pytest

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


@pytest.fixture
def table(moto_server: str) -> Iterator[str]:
    """A fresh table on the shared moto server."""
    name = f"txn-{uuid.uuid4().hex[:8]}"
    db = boto3.client("dynamodb")
    db.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    yield name
    db.delete_table(TableName=name)


def verify_once(table: str) -> list[TransactWriteItemTypeDef]:
    """The verifier's transaction: flip one blob pending → verified and count it."""
    return [
        {
            "Update": {
                "TableName": table,
                "Key": {"pk": {"S": "blob"}},
                "UpdateExpression": "SET st = :v",
                "ConditionExpression": "st = :p",
                "ExpressionAttributeValues": {":v": {"S": "verified"}, ":p": {"S": "pending"}},
            }
        },
        {
            "Update": {
                "TableName": table,
                "Key": {"pk": {"S": "package"}},
                "UpdateExpression": "ADD n :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            }
        },
    ]


def race(table: str, barrier: threading.Barrier) -> None:
    """One contender: wait for the others, then try the transaction."""
    client = boto3.client("dynamodb")
    barrier.wait()
    with contextlib.suppress(client.exceptions.TransactionCanceledException):
        client.transact_write_items(TransactItems=verify_once(table))


def test_six_racing_transactions_count_once(table: str) -> None:
    db = boto3.client("dynamodb")
    for _ in range(15):
        db.put_item(TableName=table, Item={"pk": {"S": "blob"}, "st": {"S": "pending"}})
        db.put_item(TableName=table, Item={"pk": {"S": "package"}, "n": {"N": "0"}})
        barrier = threading.Barrier(6)
        threads = [threading.Thread(target=race, args=(table, barrier)) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        count = db.get_item(TableName=table, Key={"pk": {"S": "package"}})["Item"]["n"]["N"]
        assert count == "1"


def test_a_cancelled_transaction_undoes_only_its_own_changes(table: str) -> None:
    db = boto3.client("dynamodb")
    db.put_item(TableName=table, Item={"pk": {"S": "blob"}, "st": {"S": "verified"}})
    db.put_item(TableName=table, Item={"pk": {"S": "package"}, "n": {"N": "5"}})
    db.put_item(TableName=table, Item={"pk": {"S": "other"}, "v": {"S": "kept"}})
    with pytest.raises(db.exceptions.TransactionCanceledException):
        # the counter update comes first and must be undone when the condition fails
        db.transact_write_items(TransactItems=list(reversed(verify_once(table))))
    assert db.get_item(TableName=table, Key={"pk": {"S": "package"}})["Item"]["n"]["N"] == "5"
    assert db.get_item(TableName=table, Key={"pk": {"S": "other"}})["Item"]["v"]["S"] == "kept"
