"""Signed URLs of the local backend, ``/local-storage/{key}``, served by our own API, and
the key they are signed with.

A URL carries HMAC-SHA256 over method, key, size and expiry, so clients use one code path for
both backends. The key must be a real secret everywhere but local development
(``signing_key_for``): whoever holds it can read every blob and write uploads of any size. A URL
never lives longer than ``url_ttl``, whatever expiry it names.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from urllib.parse import quote, urlencode

from artifactstore.errors import AuthError, ConfigurationError

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


ROUTE_PREFIX = "/local-storage/"


class UrlSigner:
    """Signs and checks the URLs of one local backend, under its key and lifetime bound."""

    def __init__(
        self,
        signing_key: bytes,
        *,
        public_url: str,
        url_ttl: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.public_url = public_url.rstrip("/")
        self.url_ttl = url_ttl
        self._signing_key = signing_key
        self._clock = clock

    def signature(self, method: str, key: str, size: int, expires: int) -> str:
        """HMAC-SHA256 over method, key, size and expiry (hex)."""
        message = f"{method.upper()}\n{key}\n{size}\n{expires}".encode()
        return hmac.new(self._signing_key, message, hashlib.sha256).hexdigest()

    def signed_url(self, method: str, key: str, size: int, expires_in: int) -> str:
        """``{public_url}/local-storage/{key}?size=&expires=&sig=``, valid for ``expires_in``
        seconds but never longer than ``url_ttl`` (no longer-lived URL would be accepted)."""
        expires = int(self._clock()) + min(expires_in, self.url_ttl)
        query = urlencode(
            {"size": size, "expires": expires, "sig": self.signature(method, key, size, expires)}
        )
        return f"{self.public_url}{ROUTE_PREFIX}{quote(key)}?{query}"

    def verify_signature(self, method: str, key: str, size: int, expires: int, sig: str) -> None:
        """Raise ``invalid_signature`` or ``upload_url_expired``/``download_url_expired``.

        A URL whose expiry lies further ahead than ``url_ttl`` from now was not signed by us
        (we never sign one), so it is ``invalid_signature`` too, even when the HMAC matches:
        whoever signs cannot choose a URL that lives for ever.
        """
        expected = self.signature(method, key, size, expires)
        if not hmac.compare_digest(expected, sig):
            raise AuthError(
                "the URL's signature does not match", code="invalid_signature", details={"key": key}
            )
        if expires > self._clock() + self.url_ttl:
            raise AuthError(
                f"the URL's expiry is more than {self.url_ttl} s away; ask the API for a fresh one",
                code="invalid_signature",
                details={"key": key, "expires": expires},
            )
        if self._clock() > expires:
            kind = "upload" if method.upper() == "PUT" else "download"
            raise AuthError(
                f"the {kind} URL expired; ask the API for a fresh one",
                code=f"{kind}_url_expired",
                details={"key": key, "expires": expires},
            )
