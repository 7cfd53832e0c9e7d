"""What every catalog module shares: our errors at the port, error codes, opaque cursors."""

from __future__ import annotations

import base64
import json
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action

from artifactstore.adapters.dynamodb.models import PackageModel, bind_table, item_key
from artifactstore.errors import InvalidInput, NotFound
from artifactstore.ports.catalog import KeyTaken, StaleWrite

__all__ = ["KeyTaken", "StaleWrite"]

CONDITION_FAILED = "ConditionalCheckFailedException"
TRANSACTION_CANCELED = "TransactionCanceledException"
PKG_SK = "PKG"  # sort key of a package's own item


def encode_cursor(key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    return base64.urlsafe_b64encode(json.dumps(key, sort_keys=True).encode()).decode()


def decode_cursor(
    cursor: str | None, fixed: dict[str, str], free: tuple[str, ...] = ("pk", "sk")
) -> dict[str, Any] | None:
    """Opaque cursor back to a DynamoDB start key; a bad one is ``invalid_cursor`` (a 400).

    A start key must name exactly the attributes of the table or index queried, hold the
    partition queried (``fixed``), and only short strings: DynamoDB answers anything else
    with a ValidationException, which would otherwise surface as a 500.
    """
    if not cursor:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError) as exc:
        raise InvalidInput("invalid pagination cursor", code="invalid_cursor") from exc
    wanted = set(fixed) | set(free)
    if (
        not isinstance(key, dict)
        or set(key) != wanted
        or not all(_short_string(v) for v in key.values())
        or any(key[name]["S"] != value for name, value in fixed.items())
    ):
        raise InvalidInput("invalid pagination cursor", code="invalid_cursor")
    return key


def _short_string(value: object) -> bool:
    return (
        isinstance(value, dict)
        and set(value) == {"S"}
        and isinstance(value["S"], str)
        and 0 < len(value["S"].encode("utf-8", "surrogatepass")) <= 1024
    )


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
