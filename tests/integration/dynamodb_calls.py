"""Record (and optionally answer) the DynamoDB requests the catalog's own client sends.

A botocore ``before-call`` hook on the one client every catalog model shares: each request is
recorded as sent (operation and JSON body). A test may also give an ``answer`` function; when
it returns a ``(status, parsed)`` pair, botocore takes that as the response instead of sending
the request (the real client code path: parsing, errors and retries above it run as usual).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from artifactstore.adapters.dynamodb.binding import TableModels
from artifactstore.adapters.dynamodb.catalog import DynamoCatalog
from artifactstore.ports.catalog import Catalog

Answer = Callable[[str, dict[str, Any]], tuple[int, dict[str, Any]] | None]


@dataclass
class Call:
    """One request as sent."""

    operation: str
    body: dict[str, Any]


class DynamoCalls:
    """Every request the catalog client sends, in order, while installed."""

    def __init__(self, client: Any, answer: Answer | None = None) -> None:
        self.calls: list[Call] = []
        self.answer = answer
        self._lock = threading.Lock()
        self._events = client.meta.events
        self._events.register("before-call.dynamodb", self._before_call)

    def _before_call(self, model: Any, params: dict[str, Any], **_: Any) -> Any:
        raw = params.get("body") or b"{}"
        body = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        with self._lock:
            self.calls.append(Call(model.name, body))
        if self.answer is None:
            return None
        answered = self.answer(model.name, body)
        if answered is None:
            return None
        status, parsed = answered
        parsed.setdefault("ResponseMetadata", {"HTTPStatusCode": status, "HTTPHeaders": {}})
        return SimpleNamespace(status_code=status, headers={}, content=b""), parsed

    def close(self) -> None:
        self._events.unregister("before-call.dynamodb", self._before_call)


def throttled(code: str = "ProvisionedThroughputExceededException") -> tuple[int, dict[str, Any]]:
    """The answer DynamoDB gives a request over a partition's (or the table's) throughput."""
    return 400, {"Error": {"Code": code, "Message": "Throughput exceeds the current capacity"}}


def catalog_client(catalog: Catalog) -> Any:
    """The botocore DynamoDB client under the DynamoDB catalog adapter."""
    return catalog_models(catalog).connection.client


def catalog_models(catalog: Catalog) -> TableModels:
    """The item types the DynamoDB catalog adapter is bound to (its table), to look at or
    change its items directly."""
    assert isinstance(catalog, DynamoCatalog)
    return catalog.models
