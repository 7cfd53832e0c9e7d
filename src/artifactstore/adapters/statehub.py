"""State Hub client: POST progress events with retries on 5xx and timeouts."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import httpx

from artifactstore.errors import DependencyUnavailable


class StateHubUnavailable(DependencyUnavailable):
    """State Hub did not accept the event after retries (5xx or no answer)."""

    code = "state_hub_unavailable"


class HttpStateHub:
    """``POST {url}/progress/`` with exponential backoff on 5xx and transport errors."""

    def __init__(self, url: str, *, timeout: float = 10.0, attempts: int = 4) -> None:
        self.url = url.rstrip("/") + "/progress/"
        self.timeout = timeout
        self.attempts = attempts

    def post_progress(self, event: Mapping[str, Any]) -> tuple[int, Any]:
        """Post one event; returns (status, body) for 2xx and 4xx; raises after 5xx retries."""
        last = "no attempt"
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(min(0.2 * 2**attempt, 5.0))
            try:
                response = httpx.post(self.url, json=dict(event), timeout=self.timeout)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code < 500:
                try:
                    body: Any = response.json()
                except ValueError:
                    body = response.text[:2000]
                return response.status_code, body
            last = f"HTTP {response.status_code}"
        raise StateHubUnavailable(f"State Hub at {self.url} did not accept the event: {last}")
