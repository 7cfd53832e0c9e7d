"""``ApiClient``: the artifact-store HTTP API over one pooled httpx client, with retries.

Requests to the API carry the bearer token; requests to storage (presigned URLs) go through a
second pool without it, as S3 refuses a request that carries two kinds of authentication.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from artifactstore.errors import (
    ArtifactStoreError,
    AuthError,
    Conflict,
    IntegrityError,
    InvalidInput,
    NotFound,
    ServerError,
)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_TRANSIENT = (httpx.TransportError,)  # connect/read/write errors and timeouts
DEFAULT_TIMEOUT = 60.0  # seconds to connect, and between two reads or writes
# The most bytes a request body may take inside a Lambda invocation event (the body is a JSON
# string there, escaped again): under the API's 5.5 MB body limit and Lambda's 6 MB.
REQUEST_BYTES = 5_000_000


def _error_body(response: httpx.Response) -> tuple[str | None, str, Any]:
    """``(code, message, details)`` from our error body, or the raw text when it is not one."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        return error.get("code"), str(error.get("message") or ""), error.get("details")
    text = response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
    return None, text or response.reason_phrase, None


def error_for(response: httpx.Response) -> ArtifactStoreError:
    """Map an error answer to our exception with the server's stable code."""
    code, message, details = _error_body(response)
    status = response.status_code
    if not message:
        message = f"HTTP {status}"
    if status in (401, 403):
        fallback = "unauthorized" if status == 401 else "forbidden"
        hint = " (check ARTIFACTSTORE_API_TOKEN)" if status == 401 else ""
        return AuthError(message + hint, code=code or fallback, details=details)
    if status == 404:
        return NotFound(message, code=code or "not_found", details=details)
    if status == 409:
        return Conflict(message, code=code or "conflict", details=details)
    if status in (400, 413, 422):
        return InvalidInput(message, code=code or "invalid_input", details=details)
    return ServerError(
        f"{message} (HTTP {status} from {response.request.url.host})",
        code=code or "server_error",
        details=details,
    )


def unreachable(base_url: str, exc: Exception) -> ServerError:
    """The one-line advice for an API that does not answer."""
    return ServerError(
        f"cannot reach artifact-store at {base_url}: start it with `make dev` or set "
        f"ARTIFACTSTORE_API_URL ({type(exc).__name__}: {exc})",
        code="api_unreachable",
    )


def too_slow(
    where: str,
    exc: httpx.TimeoutException,
    timeout: float,
    attempts: int,
    setting: str | None,
    *,
    code: str,
) -> ServerError:
    """A server that was reached but went quiet: not the same advice as one that is down."""
    request = f"{exc.request.method} {exc.request.url.path}" if _has_request(exc) else "a request"
    what = "answer" if isinstance(exc, httpx.ReadTimeout) else "take the body of"
    tries = f"{attempts} attempts, " if attempts > 1 else ""
    cure = f"set {setting} to wait longer" if setting else "try again later"
    return ServerError(
        f"{where} did not {what} {request} within {timeout:g} s ({tries}{type(exc).__name__}): "
        f"it is reachable but slow or stuck; {cure}",
        code=code,
        details={"timeout_seconds": timeout, "attempts": attempts},
    )


class ApiClient:
    """The artifact-store API: JSON calls with retries, plus raw storage transfers."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        max_connections: int = 32,
        retries: int = 5,
        backoff: float = 0.25,
        transport: httpx.BaseTransport | None = None,
        files_per_request: int = 20_000,
        request_bytes: int = REQUEST_BYTES,
        timeout_setting: str | None = None,
        bundle_below: int = 0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.timeout = timeout
        # The setting a user changes ``timeout`` with, named in the read-timeout message.
        self.timeout_setting = timeout_setting
        # File entries per request, and bytes per request body as a Lambda event carries it
        # (ingest.event_size): the API takes 5.5 MB bodies, a Lambda event 6 MB.
        self.files_per_request = files_per_request
        self.request_bytes = request_bytes
        # Blobs smaller than this are asked to travel in bundles (0: each in its own PUT).
        self.bundle_below = bundle_below
        self.backoff = backoff
        limits = httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=30.0,
        )
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._api = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=timeout,
            limits=limits,
            transport=transport,
        )
        self._storage = httpx.Client(timeout=timeout, limits=limits, transport=transport)

    def close(self) -> None:
        """Release both connection pools."""
        self._api.close()
        self._storage.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _sleep(self, attempt: int) -> None:
        # Exponential backoff with full jitter, so parallel clients do not retry in lockstep.
        time.sleep(random.uniform(0, self.backoff * (2**attempt)))

    def _send(
        self,
        client: httpx.Client,
        build: Callable[[], httpx.Request],
        *,
        retry: bool,
        stream: bool = False,
    ) -> httpx.Response:
        """Send with retries on transient failures; the answer may still be an error status."""
        attempts = self.retries + 1 if retry else 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = client.send(build(), stream=stream)
            except _TRANSIENT as exc:
                if last:
                    raise self._failure(client, exc, attempts) from exc
                self._sleep(attempt)
                continue
            if response.status_code in RETRY_STATUSES and not last:
                response.close()
                self._sleep(attempt)
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover - the loop always returns

    def _failure(
        self, client: httpx.Client, exc: httpx.TransportError, attempts: int
    ) -> ServerError:
        """The error for a request that never got an answer, after its last attempt."""
        api = client is self._api
        host = urlsplit(str(exc.request.url)).netloc if _has_request(exc) else "?"
        # A read or write timeout means the server was reached; a connect timeout, that it was not.
        if isinstance(exc, httpx.ReadTimeout | httpx.WriteTimeout):
            slow = (exc, self.timeout, attempts, self.timeout_setting)
            if api:
                return too_slow(f"artifact-store at {self.base_url}", *slow, code="api_timeout")
            return too_slow(f"storage at {host}", *slow, code="storage_timeout")
        if api:
            return unreachable(self.base_url, exc)
        return ServerError(
            f"cannot reach storage at {host}: {type(exc).__name__}: {exc}",
            code="storage_unreachable",
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        retry: bool = True,
    ) -> httpx.Response:
        """Call the API; an error status raises our exception, anything else is returned."""
        clean = {k: v for k, v in (params or {}).items() if v is not None}

        def build() -> httpx.Request:
            return self._api.build_request(method, path, json=json, params=clean)

        response = self._send(self._api, build, retry=retry)
        if response.status_code >= 400:
            raise error_for(response)
        return response

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET a JSON answer."""
        return self.request("GET", path, params=params).json()

    def post_json(self, path: str, body: Any) -> tuple[int, Any]:
        """POST JSON (our POSTs are idempotent by design, so they are retried); status and body."""
        response = self.request("POST", path, json=body)
        return response.status_code, response.json()

    def usage(self, horizon_days: int = 30) -> dict[str, Any]:
        """``GET /usage`` (admin): what the store keeps, and what expires within the horizon."""
        answer: dict[str, Any] = self.get_json("/usage", {"horizon_days": horizon_days})
        return answer

    def download_plan(
        self, package_id: str, include: Sequence[str] = (), cursor: str | None = None
    ) -> dict[str, Any]:
        """``GET /packages/{id}/download-plan``: a page of files with where to read each."""
        params: dict[str, Any] = {"include": list(include)} if include else {}
        if cursor:
            params["cursor"] = cursor
        answer: dict[str, Any] = self.get_json(
            f"/packages/{quote(package_id, safe='')}/download-plan", params
        )
        return answer

    @contextmanager
    def open_url(self, url: str, span: tuple[int, int] | None = None) -> Iterator[httpx.Response]:
        """Stream an object from a presigned storage URL (a plan's), or only its bytes
        ``[start, end)`` of ``span``; never sends our token."""
        headers = {} if span is None else {"Range": f"bytes={span[0]}-{span[1] - 1}"}

        def storage_request() -> httpx.Request:
            return self._storage.build_request("GET", url, headers=headers)

        response = self._send(self._storage, storage_request, retry=True, stream=True)
        try:
            if span is not None and response.status_code == 200:
                # Storage that ignores Range sends the whole object: never take it for the span.
                raise IntegrityError(
                    f"storage answered the whole object, not bytes {span[0]}..{span[1]}",
                    details={"span": list(span)},
                )
            if response.status_code >= 400:
                response.read()
                raise error_for(response)
            yield response
        finally:
            response.close()

    def get_bytes(self, path: str) -> httpx.Response:
        """GET raw bytes (a manifest) with the headers."""
        return self.request("GET", path)

    @contextmanager
    def open_file(self, package_id: str, path: str) -> Iterator[httpx.Response]:
        """Stream one package file: the API answers 302 to storage, which we follow ourselves."""

        def api_request() -> httpx.Request:
            url = f"/packages/{quote(package_id, safe='')}/files/{quote(path, safe='/')}"
            return self._api.build_request("GET", url)

        response = self._send(self._api, api_request, retry=True, stream=True)
        try:
            if response.is_redirect:
                location = response.headers["location"]
                response.close()
                target = str(response.url.join(location))
                response = self._send(
                    self._storage,
                    lambda: self._storage.build_request("GET", target),
                    retry=True,
                    stream=True,
                )
            if response.status_code >= 400:
                response.read()
                raise error_for(response)
            yield response
        finally:
            response.close()

    def put_upload(
        self,
        url: str,
        headers: Mapping[str, str],
        size: int,
        body: Callable[[], Iterable[bytes]],
    ) -> httpx.Response:
        """PUT one blob or part to storage; ``body`` makes a fresh stream for each attempt."""

        def build() -> httpx.Request:
            merged = {**headers, "Content-Length": str(size)}
            merged.setdefault("Content-Type", "application/octet-stream")
            return self._storage.build_request("PUT", url, headers=merged, content=body())

        response = self._send(self._storage, build, retry=True)
        if response.status_code == 403:
            # An expired or refused presigned URL: a fresh target (from the API) is the cure.
            code, message, _details = _error_body(response)
            raise ServerError(
                f"storage refused an upload ({code or 'HTTP 403'}: {message})",
                code="upload_refused",
            )
        if response.status_code >= 400:
            raise error_for(response)
        return response


def _has_request(exc: httpx.TransportError) -> bool:
    try:
        exc.request  # noqa: B018 - raises RuntimeError when the error carries no request
    except RuntimeError:
        return False
    return True
