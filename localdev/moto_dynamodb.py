"""DynamoDB transactions in moto, made atomic and cheap enough for the local stack.

moto 5's ``transact_write_items`` deep-copies every table a transaction touches before it
starts (so each verification slows down as the catalog grows: 5.8 GB and minutes for a
10,000-file package), and on failure puts that whole-table copy back, silently undoing writes
other threads made meanwhile. DynamoDB does neither: a transaction is atomic and isolated from
other writes. Here a transaction backs up only the items it changes, restores only those, and
runs under one lock that every DynamoDB write takes, so no write interleaves with it.

Its queries on a table's own key read (and sort) every item of the table to find one
partition's, so each query slows down as the catalog grows: 20,000 items made a page of upload
targets take 45 s. Here a query on the table's key reads only its partition; queries on an
index are left as moto does them.

This patches the emulator (moto) in the local stack and the tests; nothing under ``src/``.
Before patching, :func:`install` probes unpatched moto for the bug (``PROBES``) and warns when
it is fixed.
"""

from __future__ import annotations

import copy
import functools
import inspect
import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table

from localdev.motoserver import Probe, check_patches

_WRITES = threading.RLock()
_MOTO_TRANSACT_WRITE_ITEMS = DynamoDBBackend.transact_write_items  # moto's own, for the probe
_MOTO_QUERY = Table.query
_MOTO_ALL_ITEMS = Table.all_items
_QUERY_SIGNATURE = inspect.signature(Table.query)
_PARTITION = threading.local()  # the (table, hash key) a base-table query on this thread reads
_OPERATIONS = {"ConditionCheck", "Put", "Delete", "Update"}
F = TypeVar("F", bound=Callable[..., Any])
Backup = tuple[str, Any, Any, Any]  # table name, hash value, range value, item (None: absent)


def _serialized(method: F) -> F:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _WRITES:
            return method(*args, **kwargs)

    return cast(F, wrapper)


def _key_of(backend: DynamoDBBackend, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        return cast(dict[str, Any], op["Key"])
    table = backend.get_table(op["TableName"])
    attrs = op["Item"]
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


def _restore(backend: DynamoDBBackend, backups: list[Backup]) -> None:
    """Put back exactly the items the transaction changed, newest change first."""
    for table_name, hash_value, range_value, item in reversed(backups):
        table = backend.get_table(table_name)
        if item is None:
            table.delete_item(hash_value, range_value)
        elif range_value is not None:
            table.items[hash_value][range_value] = item
        else:
            table.items[hash_value] = item


def _apply(backend: DynamoDBBackend, op_type: str, op: dict[str, Any], key: dict[str, Any]) -> None:
    names = op.get("ExpressionAttributeNames")
    values = op.get("ExpressionAttributeValues")
    condition = op.get("ConditionExpression")
    if op_type == "Put":
        backend.put_item(
            op["TableName"],
            op["Item"],
            condition_expression=condition,
            expression_attribute_names=names,
            expression_attribute_values=values,
        )
    elif op_type == "Delete":
        backend.delete_item(
            op["TableName"],
            key,
            condition_expression=condition,
            expression_attribute_names=names,
            expression_attribute_values=values,
        )
    elif op_type == "Update":
        backend.update_item(
            op["TableName"],
            key,
            update_expression=op["UpdateExpression"],
            condition_expression=condition,
            expression_attribute_names=names or {},
            expression_attribute_values=values or {},
        )


def _one(
    backend: DynamoDBBackend,
    item: dict[str, Any],
    seen: set[tuple[str, str]],
    backups: list[Backup],
) -> tuple[str, str, Any] | tuple[None, None, None]:
    """Check and apply one operation; its error tuple (or Nones) as moto reports them."""
    if len(item) > 1:
        raise TransactWriteSingleOpException
    op_type, op = next(iter(item.items()))
    original: Any = None
    try:
        if op_type not in _OPERATIONS:
            raise ValueError("Unsupported transaction operation")
        key = _key_of(backend, op_type, op)
        marker = (str(op["TableName"]), str(dict(sorted(key.items()))))
        if marker in seen:
            raise MultipleTransactionsException()
        seen.add(marker)
        current = backend.get_item(op["TableName"], key)
        condition = op.get("ConditionExpression")
        if condition is not None and not get_filter_expression(
            condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
        ).expr(current):
            if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                original = current.to_json()["Attributes"]
            raise ConditionalCheckFailed(item=original)
        if op_type != "ConditionCheck":
            table = backend.get_table(op["TableName"])
            hash_value, range_value = backend.get_keys_value(table, key)
            backups.append((op["TableName"], hash_value, range_value, copy.deepcopy(current)))
            _apply(backend, op_type, op, key)
        return (None, None, None)
    except (MultipleTransactionsException, MockValidationException):
        raise
    except ConditionalCheckFailed as exc:
        return ("ConditionalCheckFailed", str(exc.message), original)
    except Exception as exc:  # moto reports any other failure per item, then cancels
        return (type(exc).__name__, str(exc), original)


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    """All or nothing, isolated from other writes, backing up only the items it changes."""
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    with _WRITES:
        backups: list[Backup] = []
        seen: set[tuple[str, str]] = set()
        try:
            errors = [_one(self, item, seen, backups) for item in transact_items]
        except (MultipleTransactionsException, MockValidationException):
            _restore(self, backups)
            raise
        if any(code is not None for code, _, _ in errors):
            _restore(self, backups)
            raise TransactionCanceledException(errors)


def cancelled_transaction_undoes_other_writes() -> bool:
    """A cancelled transaction puts back a whole-table copy, losing writes made meanwhile."""
    backend = keyed_backend("probe", sort_key=False)
    read = backend.get_item

    def read_while_another_client_writes(table_name: str, item_key: dict[str, Any]) -> Any:
        # another request's write lands while the transaction runs (moto serves in threads)
        backend.tables["probe"].put_item({"pk": {"S": "written-meanwhile"}})
        return read(table_name, item_key)

    backend.get_item = read_while_another_client_writes  # type: ignore[method-assign,assignment]
    fails = {
        "ConditionCheck": {
            "TableName": "probe",
            "Key": {"pk": {"S": "absent"}},
            "ConditionExpression": "attribute_exists(pk)",
        }
    }
    try:
        _MOTO_TRANSACT_WRITE_ITEMS(backend, [fails])
    except TransactionCanceledException:
        return read("probe", {"pk": {"S": "written-meanwhile"}}) is None
    raise RuntimeError("a transaction whose condition failed was not cancelled")


def _in_key_range(items: list[Any], comparison: str, objs: list[Any], forward: bool) -> list[Any]:
    """The items whose sort key meets the condition, and the one item moto's loop meets next
    (in the query's direction): it is where moto sees the page's ``Limit`` reached and answers
    a ``LastEvaluatedKey``, so pages end where they did."""
    ordered = sorted(items, key=lambda item: item.range_key)
    kept = [n for n, item in enumerate(ordered) if item.range_key.compare(comparison, objs)]
    if not kept:
        return []
    first, last = kept[0], kept[-1]
    if forward:
        return [ordered[n] for n in kept] + ordered[last + 1 : last + 2]
    return ordered[max(first - 1, 0) : first] + [ordered[n] for n in kept]


def _all_items(self: Table) -> Any:
    """The table's items, or only one partition's while a base-table query reads it."""
    reading = getattr(_PARTITION, "query", None)
    if reading is not None and reading[0] is self:
        partition = self.items.get(reading[1])
        items = list(partition.values()) if partition else []
        return items if reading[2] is None else _in_key_range(items, *reading[2])
    return _MOTO_ALL_ITEMS(self)


def _query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
    """moto's query, reading one partition when it queries the table's own key, and of that
    partition only the items its sort-key condition keeps.

    moto walks the partition and sizes every item it passes (its 1 MB page limit) before it
    applies the sort-key condition: a query for one kind of item in a package's partition
    sized every file chunk and blob bucket of the package, the biggest share of a 10,000-file
    ingest's time in moto. The condition moto applies next keeps the same items, and the one
    item after them that moto's loop meets next stays too (where a page's ``Limit`` shows), so
    the answers are the same (``tests/unit/test_moto_speed.py`` compares pages of them). One
    difference remains: moto also ends a page when an item further beyond the key range would
    pass its 1 MB size limit; DynamoDB, which reads only the key range, does not, nor does this."""
    call = _QUERY_SIGNATURE.bind(self, hash_key, *args, **kwargs).arguments
    if call.get("index_name") or not self.range_key_attr or hash_key is None:
        return _MOTO_QUERY(self, hash_key, *args, **kwargs)
    comparison = None
    if call.get("range_comparison") and not call.get("range_key_conditions"):
        forward = call.get("scan_index_forward", True) is not False
        comparison = (call["range_comparison"], call.get("range_objs") or [], forward)
    _PARTITION.query = (self, hash_key, comparison)
    try:
        return _MOTO_QUERY(self, hash_key, *args, **kwargs)
    finally:
        _PARTITION.query = None


def keyed_backend(
    name: str, account: str = "999999999999", *, sort_key: bool = True
) -> DynamoDBBackend:
    """A throwaway in-memory backend (never registered) holding one table ``name`` keyed
    ``pk`` (and ``sk`` unless ``sort_key`` is false): for probes and their tests."""
    keys = [("pk", "HASH"), ("sk", "RANGE")] if sort_key else [("pk", "HASH")]
    backend = DynamoDBBackend("us-east-1", account)
    backend.create_table(
        name=name,
        schema=[{"AttributeName": a, "KeyType": k} for a, k in keys],
        throughput=None,
        attr=[{"AttributeName": a, "AttributeType": "S"} for a, _ in keys],
        global_indexes=None,
        indexes=None,
        streams=None,
        billing_mode="PAY_PER_REQUEST",
        sse_specification=None,
        tags=[],
        deletion_protection_enabled=False,
        warm_throughput=None,
    )
    return backend


def a_query_reads_the_whole_table() -> bool:
    """A query on the table's key walks every item of the table, not its partition's."""
    backend = keyed_backend("probe")
    table = backend.tables["probe"]
    for pk in ("wanted", "other"):
        table.put_item({"pk": {"S": pk}, "sk": {"S": "1"}})
    walked: list[int] = []

    def counting(self: Table) -> Any:
        found = _MOTO_ALL_ITEMS(self)
        walked.append(len(found))
        return found

    Table.all_items = counting  # type: ignore[method-assign]
    try:
        backend.query(
            "probe",
            {"pk": {"S": "wanted"}},
            range_comparison=None,
            range_value_dicts=[],
            limit=None,  # type: ignore[arg-type]
            exclusive_start_key=None,  # type: ignore[arg-type]
            scan_index_forward=True,
            projection_expressions=None,
        )
    finally:
        Table.all_items = _MOTO_ALL_ITEMS  # type: ignore[method-assign]
    return 2 in walked


PROBES: dict[str, Probe] = {
    "transact_write_items": cancelled_transaction_undoes_other_writes,
    "query_partition": a_query_reads_the_whole_table,
}


def install() -> None:
    """Probe unpatched moto (warning if the bug is fixed), then patch its DynamoDB backend once."""
    if getattr(DynamoDBBackend, "_artifactstore_patched", False):
        return
    check_patches("moto_dynamodb", PROBES)
    for name in ("put_item", "update_item", "delete_item"):
        setattr(DynamoDBBackend, name, _serialized(getattr(DynamoDBBackend, name)))
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    Table.query = _query  # type: ignore[method-assign]
    Table.all_items = _all_items  # type: ignore[method-assign]
    DynamoDBBackend._artifactstore_patched = True  # type: ignore[attr-defined]
