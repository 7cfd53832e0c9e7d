"""The State Hub port: its progress endpoint."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class StateHubClient(Protocol):
    """State Hub's progress endpoint."""

    def post_progress(self, event: Mapping[str, Any]) -> tuple[int, Any]:
        """POST one progress event; returns the HTTP status and State Hub's answer."""
        ...
