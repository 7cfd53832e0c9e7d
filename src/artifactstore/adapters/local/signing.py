"""The local backend's URL signing key: a real secret everywhere but local development."""

from __future__ import annotations

from artifactstore.errors import ConfigurationError

# The example key of ``.env.example`` and the key local development uses when none is set.
DEV_SIGNING_KEY = "local-dev-signing-key"
MIN_SIGNING_KEY_BYTES = 32
SIGNING_KEY_VARIABLE = "ARTIFACTSTORE_LOCAL_SIGNING_KEY"
LOCAL_DEV_VARIABLE = "ARTIFACTSTORE_LOCAL_DEV"


def signing_key_for(configured: str | None, *, local_dev: bool) -> bytes:
    """The key to sign local-storage URLs with; ``ConfigurationError`` for a weak one.

    Outside local development (``make dev``, ``make demo``, the tests: they set
    ``ARTIFACTSTORE_LOCAL_DEV=1``) the key must be set, must not be the published example and
    must hold at least 32 bytes. Local development takes any key, and the example when none.
    """
    if local_dev:
        return (configured or DEV_SIGNING_KEY).encode()
    fix = (
        f"set {SIGNING_KEY_VARIABLE} to a secret of at least {MIN_SIGNING_KEY_BYTES} bytes "
        "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`), or "
        f"{LOCAL_DEV_VARIABLE}=1 for local development only"
    )
    if not configured:
        problem = f"{SIGNING_KEY_VARIABLE} is not set"
    elif configured == DEV_SIGNING_KEY:
        problem = f"{SIGNING_KEY_VARIABLE} is the published example key"
    elif len(configured.encode()) < MIN_SIGNING_KEY_BYTES:
        problem = f"{SIGNING_KEY_VARIABLE} is shorter than {MIN_SIGNING_KEY_BYTES} bytes"
    else:
        return configured.encode()
    raise ConfigurationError(
        f"{problem}: anyone could forge the local backend's storage URLs; {fix}"
    )
