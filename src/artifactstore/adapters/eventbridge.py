"""EventBridge publisher: one ``PutEvents`` entry per domain event."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from artifactstore.errors import DependencyUnavailable

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

SOURCE = "artifactstore"


class EventBridgePublisher:
    """Puts events on one bus; the boto3 client is built on first use unless injected."""

    def __init__(self, bus_name: str, client: EventBridgeClient | None = None) -> None:
        self.bus_name = bus_name
        self._client = client

    @property
    def client(self) -> EventBridgeClient:
        """The events client (lazily created)."""
        if self._client is None:
            import boto3

            self._client = boto3.client("events")
        return self._client

    def publish(self, detail_type: str, detail: Mapping[str, Any]) -> None:
        """Put one event; a failed entry is an error the caller may retry."""
        answer = self.client.put_events(
            Entries=[
                {
                    "Source": SOURCE,
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail, sort_keys=True),
                    "EventBusName": self.bus_name,
                }
            ]
        )
        if answer.get("FailedEntryCount"):
            raise DependencyUnavailable(
                f"EventBridge refused the event: {answer['Entries']}", code="event_bus_unavailable"
            )
