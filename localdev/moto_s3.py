"""S3 in moto, made to notify and to write conditionally as S3 does.

moto 5 differs from S3 in five ways the verifier depends on:

- its ObjectCreated notifications carry no ``versionId`` (S3 names the version it created
  whenever the bucket is versioned) and no ``sequencer``;
- ``CompleteMultipartUpload`` sends two notifications, an ``ObjectCreated:Put`` from the
  ``put_object`` it calls and then ``ObjectCreated:CompleteMultipartUpload`` (S3 sends the
  latter only), so every multipart object was verified twice, concurrently;
- ``CopyObject`` ignores ``If-None-Match: *`` (S3 refuses the copy with 412 when the
  destination key exists), so a write-once copy overwrote;
- ``CopyObject`` with Object Lock headers is refused without a body checksum header, a rule S3
  applies to uploads only (a copy has no body; boto3's managed copy relies on that);
- ``DeleteObjectTagging`` on a key whose current version is a delete marker (an expired blob)
  fails with a 500; S3 answers 405 MethodNotAllowed, which the service reads as "gone".

This patches the emulator (moto) in the local stack and the tests; nothing under ``src/``.
"""

from __future__ import annotations

import functools
import itertools
import threading
from typing import Any

from moto.s3 import notifications
from moto.s3.exceptions import MethodNotAllowed, PreconditionFailed
from moto.s3.models import FakeDeleteMarker, S3Backend
from moto.s3.responses import S3Response
from werkzeug.datastructures import Headers

_installed = False
_completing = threading.local()
_conditional_copies = threading.Lock()
_sequence = itertools.count(1)


def _s3_event(original: Any, event_name: str, bucket: Any, key: Any, config_id: str) -> Any:
    event = original(event_name, bucket, key, config_id)
    obj = event["Records"][0]["s3"]["object"]
    version = getattr(key, "version_id", None)
    if getattr(bucket, "is_versioned", False) and version not in (None, "null"):
        obj["versionId"] = str(version)
    obj["sequencer"] = f"{next(_sequence):018X}"
    return event


def _complete_multipart_upload(original: Any, self: Any, *args: Any, **kwargs: Any) -> Any:
    _completing.active = True
    try:
        return original(self, *args, **kwargs)
    finally:
        _completing.active = False


def _put_object(original: Any, self: Any, *args: Any, **kwargs: Any) -> Any:
    if getattr(_completing, "active", False):
        kwargs["disable_notification"] = True  # CompleteMultipartUpload sends its own
    return original(self, *args, **kwargs)


def _copy_object(original: Any, self: Any) -> Any:
    if self.headers.get("If-None-Match") != "*":
        return original(self)
    # One conditional copy at a time, so check and write are atomic as on S3.
    with _conditional_copies:
        if self.backend.get_object(self.bucket_name, self.parse_key_name()) is not None:
            raise PreconditionFailed("If-None-Match")
        return original(self)


def _key_response_put(original: Any, self: Any, query: Any, key_name: str) -> Any:
    headers = self.headers
    if (
        "x-amz-copy-source" in headers
        and "x-amz-object-lock-mode" in headers
        and not headers.get("Content-MD5")
        and not headers.get("x-amz-sdk-checksum-algorithm")
    ):
        self.headers = Headers(headers)
        self.headers["x-amz-sdk-checksum-algorithm"] = "none (a copy has no body)"
    return original(self, query, key_name)


def _delete_object_tagging(
    original: Any, self: Any, bucket_name: str, key_name: str, version_id: str | None = None
) -> Any:
    current = self.get_object(bucket_name, key_name, version_id, return_delete_marker=True)
    if isinstance(current, FakeDeleteMarker):
        raise MethodNotAllowed()
    return original(self, bucket_name, key_name, version_id)


def _wrap(owner: Any, name: str, replacement: Any) -> None:
    original = getattr(owner, name)
    setattr(owner, name, functools.wraps(original)(functools.partial(replacement, original)))


def _wrap_method(owner: type, name: str, replacement: Any) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return replacement(original, self, *args, **kwargs)

    setattr(owner, name, method)


def install() -> None:
    """Patch moto's S3 once per process (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    _wrap(notifications, "_get_s3_event", _s3_event)
    _wrap_method(S3Backend, "complete_multipart_upload", _complete_multipart_upload)
    _wrap_method(S3Backend, "put_object", _put_object)
    _wrap_method(S3Response, "copy_object", _copy_object)
    _wrap_method(S3Response, "_key_response_put", _key_response_put)
    _wrap_method(S3Backend, "delete_object_tagging", _delete_object_tagging)
