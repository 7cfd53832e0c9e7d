"""S3 errors as ours: not-found and gone codes, one mapping to the store's errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError

from artifactstore.errors import ArtifactStoreError, NotFound, StorageError

# HeadObject answers a bare status code, GetObject and friends a named one.
NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchUpload", "NoSuchVersion"})
# A key whose current version is a delete marker (an expired blob) answers 405 to tagging and
# retention requests: the blob is gone as far as a package is concerned.
GONE_CODES = NOT_FOUND_CODES | {"405", "MethodNotAllowed"}


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def translate(exc: ClientError, key: str, what: str) -> ArtifactStoreError:
    """Our error for a refused S3 call, chosen by its error code (never by its message)."""
    code = error_code(exc)
    details = {"key": key, "s3_error_code": code}
    if code in NOT_FOUND_CODES:
        return NotFound(f"no such {what}: {key}", code=f"{what}_not_found", details=details)
    return StorageError(f"S3 refused {what} {key}: {code}", details=details)


@contextmanager
def mapped(key: str, what: str = "object") -> Iterator[None]:
    """Turn boto errors raised inside the block into ours."""
    try:
        yield
    except ClientError as exc:
        raise translate(exc, key, what) from exc
    except BotoCoreError as exc:
        raise StorageError(f"S3 unreachable for {what} {key}: {exc}", details={"key": key}) from exc
