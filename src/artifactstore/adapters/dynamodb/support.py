"""What every catalog module shares: our errors at the port, error codes, opaque cursors."""

from __future__ import annotations

from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action

from artifactstore.adapters.dynamodb.binding import TableModels, bind_models
from artifactstore.adapters.dynamodb.models import item_key
from artifactstore.domain import cursors
from artifactstore.errors import NotFound
from artifactstore.ports.catalog import KeyTaken, StaleWrite

__all__ = ["KeyTaken", "StaleWrite"]

CONDITION_FAILED = "ConditionalCheckFailedException"
TRANSACTION_CANCELED = "TransactionCanceledException"
PKG_SK = "PKG"  # sort key of a package's own item


def start_key(
    cursor: str | None, partition: dict[str, str], sort: tuple[str, ...] = ("pk", "sk")
) -> dict[str, Any] | None:
    """A listing cursor (``domain/cursors.py``) back to a DynamoDB start key; a bad one is
    ``invalid_cursor`` (a 400).

    A start key must name exactly the attributes of the table or index queried, hold the
    partition queried, and only short strings: DynamoDB answers anything else with a
    ValidationException, which would otherwise surface as a 500.
    """
    fields = cursors.decode_position(cursor, partition, sort)
    return None if fields is None else {name: {"S": value} for name, value in fields.items()}


def cursor_of(key: dict[str, Any] | None) -> str | None:
    """The listing cursor of a query's ``LastEvaluatedKey`` (string attributes only)."""
    return cursors.encode_position({name: value["S"] for name, value in (key or {}).items()})


def error_code(error: Exception) -> str | None:
    code = getattr(error, "cause_response_code", None)
    return code if isinstance(code, str) else None


class CatalogTable:
    """The one table every catalog part shares: the item types bound to it (``binding``), all
    over one connection (transactions and batch writes too)."""

    models: TableModels

    def __init__(self, table_name: str, region: str | None = None) -> None:
        self.models = bind_models(table_name, region)

    def _connection(self) -> Connection:
        """The connection every model uses (a botocore client is thread-safe)."""
        return self.models.connection

    def _update_package(self, package_id: str, actions: list[Action]) -> None:
        """Update an existing package item (never create a partial one), or NotFound."""
        package = self.models.PackageModel
        try:
            package(item_key("PKG", package_id), PKG_SK).update(
                actions=actions, condition=package.pk.exists()
            )
        except UpdateError as exc:
            if error_code(exc) == CONDITION_FAILED:
                raise NotFound(f"no package {package_id}", code="package_not_found") from exc
            raise
