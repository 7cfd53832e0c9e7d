"""Building the API client for a command from ``ClientSettings`` (imported only when used)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from artifactstore.client.api import ApiClient

TIMEOUT_SETTING = "ARTIFACTSTORE_CLIENT_TIMEOUT"


def make_client(concurrency: int = 16) -> ApiClient:
    """An ``ApiClient`` for ``ARTIFACTSTORE_API_URL`` / ``ARTIFACTSTORE_API_TOKEN``."""
    from artifactstore.client.api import ApiClient
    from artifactstore.settings import ClientSettings

    settings = ClientSettings()
    token = settings.api_token.get_secret_value() if settings.api_token else None
    # One pooled connection per worker, plus a few for page fetches and polling.
    return ApiClient(
        settings.api_url,
        token,
        settings.client_timeout,
        max_connections=concurrency + 4,
        retries=settings.client_retries,
        files_per_request=settings.files_per_request,
        bundle_below=settings.bundle_below,
        timeout_setting=TIMEOUT_SETTING,
    )
