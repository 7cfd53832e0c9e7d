"""What every catalog module shares: our errors at the port, error codes, opaque cursors."""

from __future__ import annotations

from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action

from artifactstore.adapters.dynamodb.models import PackageModel, bind_table, item_key
from artifactstore.domain import cursors
from artifactstore.errors import NotFound
from artifactstore.ports.catalog import KeyTaken, StaleWrite

__all__ = ["KeyTaken", "StaleWrite"]

CONDITION_FAILED = "ConditionalCheckFailedException"
TRANSACTION_CANCELED = "TransactionCanceledException"
PKG_SK = "PKG"  # sort key of a package's own item


def encode_cursor(key: dict[str, Any] | None) -> str | None:
    """The listing cursor of a query's ``LastEvaluatedKey`` (string attributes only)."""
    if not key:
        return None
    return cursors.encode_cursor({name: value["S"] for name, value in key.items()})


def decode_cursor(
    cursor: str | None, fixed: dict[str, str], free: tuple[str, ...] = ("pk", "sk")
) -> dict[str, Any] | None:
    """A listing cursor back to a DynamoDB start key; a bad one is ``invalid_cursor`` (a 400).

    A start key must name exactly the attributes of the table or index queried, hold the
    partition queried (``fixed``), and only short strings: DynamoDB answers anything else
    with a ValidationException, which would otherwise surface as a 500.
    """
    if not cursor:
        return None
    fields = cursors.decode_cursor(cursor, set(fixed) | set(free))
    if any(fields[name] != value for name, value in fixed.items()):
        raise cursors.invalid_cursor()
    return {name: {"S": value} for name, value in fields.items()}


def error_code(error: Exception) -> str | None:
    code = getattr(error, "cause_response_code", None)
    return code if isinstance(code, str) else None


class CatalogTable:
    """The one table every catalog part shares, through one connection (transactions too)."""

    def __init__(self, table_name: str, region: str | None = None) -> None:
        self._conn = bind_table(table_name, region)

    def _connection(self) -> Connection:
        """The connection every model uses (a botocore client is thread-safe)."""
        return self._conn


def update_package(package_id: str, actions: list[Action]) -> None:
    """Update an existing package item (never create a partial one), or NotFound."""
    try:
        PackageModel(item_key("PKG", package_id), PKG_SK).update(
            actions=actions, condition=PackageModel.pk.exists()
        )
    except UpdateError as exc:
        if error_code(exc) == CONDITION_FAILED:
            raise NotFound(f"no package {package_id}", code="package_not_found") from exc
        raise
