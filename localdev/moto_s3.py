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
Before patching, :func:`install` probes unpatched moto for each of the five (``PROBES``: raw S3
requests to moto's own S3 app in a throwaway account, no network) and warns when one is fixed.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto.s3 import notifications
from moto.s3.exceptions import MethodNotAllowed, PreconditionFailed
from moto.s3.models import FakeDeleteMarker, S3Backend, s3_backends
from moto.s3.responses import S3Response
from werkzeug.datastructures import Headers

from localdev.motoserver import Probe, check_patches

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


# -- probes: is each bug still in (unpatched) moto? --------------------------------------------

PROBE_ACCOUNT = "999999999999"  # the probes' own moto account, forgotten after each probe
_REGION = "us-east-1"
_AUTH = (  # moto treats unsigned requests as anonymous (403 on GET); any signature will do
    "AWS4-HMAC-SHA256 Credential=testing/20250101/us-east-1/s3/aws4_request, "
    "SignedHeaders=host, Signature=0"
)


class _S3Probe:
    """Raw S3 requests to moto's own S3 app in :data:`PROBE_ACCOUNT` (in process, no network)."""

    def __init__(self) -> None:
        from moto.moto_server.werkzeug_app import create_backend_app
        from werkzeug.test import Client

        app = create_backend_app("s3")
        app.testing = True  # an internal error is raised here rather than logged as a 500
        self._client = Client(app)
        self.buckets: list[str] = []
        self.queues: list[str] = []

    def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Any:
        return self._client.open(
            path,
            method=method,
            data=body,
            base_url="http://s3.amazonaws.com",
            headers={"x-moto-account-id": PROBE_ACCOUNT, "Authorization": _AUTH, **(headers or {})},
        )

    def bucket(self, *, versioned: bool = False, lock: bool = False, notify: bool = False) -> str:
        name = f"localdev-probe-{uuid.uuid4().hex}"
        self.buckets.append(name)
        lock_header = {"x-amz-bucket-object-lock-enabled": "true"} if lock else {}
        self._ok(self.request("PUT", f"/{name}", headers=lock_header))
        if versioned:
            config = b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>"
            self._ok(self.request("PUT", f"/{name}?versioning", config))
        if notify:
            from moto.sqs.models import sqs_backends

            sqs_backends[PROBE_ACCOUNT][_REGION].create_queue(name)
            self.queues.append(name)
            arn = f"arn:aws:sqs:{_REGION}:{PROBE_ACCOUNT}:{name}"
            config = (
                "<NotificationConfiguration><QueueConfiguration><Id>probe</Id>"
                f"<Queue>{arn}</Queue><Event>s3:ObjectCreated:*</Event>"
                "</QueueConfiguration></NotificationConfiguration>"
            ).encode()
            self._ok(self.request("PUT", f"/{name}?notification", config))
        return name

    def notifications(self, queue: str) -> list[dict[str, Any]]:
        """The S3 event records sent to ``queue`` (without S3's ``s3:TestEvent``)."""
        from moto.sqs.models import sqs_backends

        messages = sqs_backends[PROBE_ACCOUNT][_REGION].receive_message(queue, 10, 0, 30)
        bodies = [json.loads(m.body) for m in messages]
        return [r for b in bodies for r in b.get("Records", [])]

    def close(self) -> None:
        """Forget the probe account, so nothing of it is served or saved in a snapshot."""
        from moto.sqs.models import sqs_backends

        for name in self.buckets:
            s3_backends.bucket_accounts.pop(name, None)
        for backends in (s3_backends, sqs_backends):
            if PROBE_ACCOUNT in backends:
                del backends[PROBE_ACCOUNT]

    @staticmethod
    def _ok(answer: Any) -> Any:
        if answer.status_code >= 300:
            raise RuntimeError(f"probe request failed: {answer.status_code} {answer.data[:200]!r}")
        return answer


@contextmanager
def _probing() -> Iterator[_S3Probe]:
    if _installed:
        raise RuntimeError("probes need unpatched moto: run them before install()")
    probe = _S3Probe()
    try:
        yield probe
    finally:
        probe.close()


def notification_lacks_version_and_sequencer() -> bool:
    """ObjectCreated notifications from a versioned bucket carry no versionId or sequencer."""
    with _probing() as s3:
        bucket = s3.bucket(versioned=True, notify=True)
        s3._ok(s3.request("PUT", f"/{bucket}/uploads/a", b"a"))
        (record,) = s3.notifications(bucket)
        obj = record["s3"]["object"]
        return "versionId" not in obj or "sequencer" not in obj


def multipart_notifies_twice() -> bool:
    """CompleteMultipartUpload also sends the ObjectCreated:Put of the put_object it calls."""
    with _probing() as s3:
        bucket = s3.bucket(notify=True)
        started = s3._ok(s3.request("POST", f"/{bucket}/big?uploads"))
        upload_id = _xml_value(started.data, "UploadId")
        part = s3._ok(s3.request("PUT", f"/{bucket}/big?partNumber=1&uploadId={upload_id}", b"x"))
        parts = (
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>"
            f"<ETag>{part.headers['ETag']}</ETag></Part></CompleteMultipartUpload>"
        ).encode()
        s3._ok(s3.request("POST", f"/{bucket}/big?uploadId={upload_id}", parts))
        names = [r["eventName"] for r in s3.notifications(bucket)]
        return names != ["ObjectCreated:CompleteMultipartUpload"]


def copy_ignores_if_none_match() -> bool:
    """CopyObject with ``If-None-Match: *`` overwrites an existing key (S3: 412)."""
    with _probing() as s3:
        bucket = s3.bucket()
        s3._ok(s3.request("PUT", f"/{bucket}/src", b"new"))
        s3._ok(s3.request("PUT", f"/{bucket}/dst", b"old"))
        copy = {"x-amz-copy-source": f"{bucket}/src", "If-None-Match": "*"}
        answer = s3.request("PUT", f"/{bucket}/dst", headers=copy)
        return bool(answer.status_code != 412)


def copy_with_lock_wants_checksum() -> bool:
    """CopyObject with Object Lock headers is refused without a body checksum header."""
    with _probing() as s3:
        bucket = s3.bucket(versioned=True, lock=True)
        s3._ok(s3.request("PUT", f"/{bucket}/src", b"a", {"Content-MD5": _md5(b"a")}))
        copy = {
            "x-amz-copy-source": f"{bucket}/src",
            "x-amz-object-lock-mode": "GOVERNANCE",
            "x-amz-object-lock-retain-until-date": "2099-01-01T00:00:00Z",
        }
        answer = s3.request("PUT", f"/{bucket}/dst", headers=copy)
        return b"MissingUploadObjectWithObjectLockHeaders" in answer.data


def delete_tagging_on_delete_marker_fails() -> bool:
    """DeleteObjectTagging on a key whose current version is a delete marker is not a 405."""
    with _probing() as s3:
        bucket = s3.bucket(versioned=True)
        s3._ok(s3.request("PUT", f"/{bucket}/gone", b"a"))
        s3._ok(s3.request("DELETE", f"/{bucket}/gone"))
        try:
            answer = s3.request("DELETE", f"/{bucket}/gone?tagging")
        except Exception:  # moto fails internally: a 500 over HTTP
            return True
        return bool(answer.status_code != 405)


def _xml_value(document: bytes, tag: str) -> str:
    found = re.search(rf"<{tag}>([^<]+)</{tag}>".encode(), document)
    if found is None:
        raise RuntimeError(f"no <{tag}> in {document[:200]!r}")
    return found.group(1).decode()


def _md5(data: bytes) -> str:
    import base64
    import hashlib

    return base64.b64encode(hashlib.md5(data).digest()).decode()  # noqa: S324 - S3's Content-MD5


PROBES: dict[str, Probe] = {
    "notification_versions": notification_lacks_version_and_sequencer,
    "multipart_single_notification": multipart_notifies_twice,
    "copy_if_none_match": copy_ignores_if_none_match,
    "copy_lock_without_checksum": copy_with_lock_wants_checksum,
    "delete_marker_tagging": delete_tagging_on_delete_marker_fails,
}


def install() -> None:
    """Probe unpatched moto (warning about fixed bugs), then patch its S3 once per process."""
    global _installed
    if _installed:
        return
    check_patches("moto_s3", PROBES)
    _installed = True
    _wrap(notifications, "_get_s3_event", _s3_event)
    _wrap_method(S3Backend, "complete_multipart_upload", _complete_multipart_upload)
    _wrap_method(S3Backend, "put_object", _put_object)
    _wrap_method(S3Response, "copy_object", _copy_object)
    _wrap_method(S3Response, "_key_response_put", _key_response_put)
    _wrap_method(S3Backend, "delete_object_tagging", _delete_object_tagging)
