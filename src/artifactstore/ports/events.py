"""The events port: where domain events go."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class EventPublisher(Protocol):
    """Where domain events go (EventBridge in AWS and in the local stack)."""

    def publish(self, detail_type: str, detail: Mapping[str, Any]) -> None:
        """Put one event on the bus (source ``artifactstore``)."""
        ...
