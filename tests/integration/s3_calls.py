"""A recorder of the S3 operations the adapter's own client sends (a botocore event hook)."""

from __future__ import annotations

from typing import Any

from artifactstore.adapters.s3.storage import S3Storage


class S3Calls:
    """Every S3 operation the adapter's own client sends, by name, in order."""

    def __init__(self, storage: S3Storage) -> None:
        self.names: list[str] = []
        self._events = storage.client.meta.events
        self._events.register("before-call.s3", self._record)

    def _record(self, model: Any, **_: Any) -> None:
        self.names.append(model.name)

    def take(self) -> list[str]:
        """The operations since the last ``take``."""
        names, self.names = self.names, []
        return names

    def close(self) -> None:
        self._events.unregister("before-call.s3", self._record)
