"""Our own exceptions: every one carries a stable snake_case code, a message and details.

One module (``artifactstore.api.errors``) maps them to HTTP statuses; the CLI maps them to exit
codes. Nothing matches on message text.
"""

from __future__ import annotations

from typing import Any


class ArtifactStoreError(Exception):
    """Base of every error we raise on purpose."""

    code = "artifactstore_error"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details


class InvalidInput(ArtifactStoreError):
    """The caller sent something we refuse (a 422 at the HTTP edge)."""

    code = "invalid_input"


class RunDirectoryError(InvalidInput):
    """A run directory that cannot become a package."""

    code = "invalid_run_directory"


class NotFound(ArtifactStoreError):
    """The thing asked for does not exist."""

    code = "not_found"


class Conflict(ArtifactStoreError):
    """The request contradicts what is already recorded."""

    code = "conflict"


class Gone(ArtifactStoreError):
    """The thing asked for existed and has ended (a 410): an expired package's files."""

    code = "gone"


class ConfigurationError(ArtifactStoreError):
    """Settings that cannot work; raised at start, never mid-request."""

    code = "configuration_error"


class StorageError(ArtifactStoreError):
    """A storage backend failed in a way the caller may retry."""

    code = "storage_error"


class DependencyUnavailable(ArtifactStoreError):
    """A service we depend on besides storage (the event bus, State Hub) failed; retry."""

    code = "dependency_unavailable"


class AuthError(ArtifactStoreError):
    """The token is missing or unknown (``unauthorized``) or lacks the right (``forbidden``)."""

    code = "unauthorized"


class ServerError(ArtifactStoreError):
    """The service failed or could not be reached; the caller may retry later."""

    code = "server_error"


class IntegrityError(ArtifactStoreError):
    """Bytes on hand do not match the digest they were declared or recorded with."""

    code = "digest_mismatch"
