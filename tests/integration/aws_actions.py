"""Record the IAM actions the code's AWS requests need, labelled by the function running them.

Every botocore client in the process (boto3's, PynamoDB's, Powertools') sends its requests
through ``BaseClient._make_api_call``; presigned URLs are made by
``botocore.signers.generate_presigned_url`` and are used with the signing role's rights. Both
are wrapped while a ``Recorder`` is installed. A request counts only while a function label is
set (``with recorder.as_function("VerifierFunction"): ...``), so a test's own set-up and
inspection requests are not charged to any function.

Each request maps to the IAM actions AWS's Service Authorization Reference lists for it (with
the request's own parameters: a ``VersionId`` needs the ``...Version...`` action, Object Lock
headers need ``s3:PutObjectRetention``, tags ``s3:PutObjectTagging``), and to the resource it
names, as the template's logical id (``ArtifactsBucket/*``, ``CatalogTable/index/*``, ...).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import botocore.client
import botocore.signers

Action = tuple[str, str]  # (IAM action, resource label)

OBJECTS = "ArtifactsBucket/*"
BUCKET = "ArtifactsBucket"


def _version(action: str, params: dict[str, Any], versioned: str) -> str:
    return versioned if params.get("VersionId") else action


def _source_read(source: Any) -> str:
    """Reading a copy's source: that version when the copy names one."""
    if isinstance(source, dict) and source.get("VersionId"):
        return "s3:GetObjectVersion"
    if isinstance(source, str) and "versionId=" in source:
        return "s3:GetObjectVersion"
    return "s3:GetObject"


def _protection(params: dict[str, Any]) -> set[str]:
    """What writing an object with a lock or tags takes besides s3:PutObject."""
    extra = set()
    if params.get("ObjectLockMode") or params.get("ObjectLockRetainUntilDate"):
        extra.add("s3:PutObjectRetention")
    if params.get("Tagging"):
        extra.add("s3:PutObjectTagging")
    return extra


# Requests whose actions do not depend on their parameters: (object actions, bucket actions).
S3_FIXED: dict[str, tuple[set[str], set[str]]] = {
    "UploadPart": ({"s3:PutObject"}, set()),
    "CompleteMultipartUpload": ({"s3:PutObject"}, set()),
    "AbortMultipartUpload": ({"s3:AbortMultipartUpload"}, set()),
    "ListParts": ({"s3:ListMultipartUploadParts"}, set()),
    "PutObjectRetention": ({"s3:PutObjectRetention"}, set()),
    "GetObjectRetention": ({"s3:GetObjectRetention"}, set()),
    "ListObjectsV2": (set(), {"s3:ListBucket"}),
    "ListObjects": (set(), {"s3:ListBucket"}),
    "ListObjectVersions": (set(), {"s3:ListBucketVersions"}),
}
TAGGING = {"GetObjectTagging", "PutObjectTagging", "DeleteObjectTagging"}


def _read(operation: str, params: dict[str, Any]) -> tuple[set[str], set[str]]:
    """HeadObject and GetObject."""
    found = {_version("s3:GetObject", params, "s3:GetObjectVersion")}
    if operation == "HeadObject" and not str(params.get("Key", "")).startswith("uploads/"):
        # A blob's or manifest's lock is read from HeadObject, which shows it only to a
        # caller with s3:GetObjectRetention (uploads carry no lock).
        found.add("s3:GetObjectRetention")
    # The code tells a missing object by its 404, which S3 answers (rather than 403) only to
    # a caller allowed s3:ListBucket.
    return found, {"s3:ListBucket"}


def _write(operation: str, params: dict[str, Any]) -> set[str]:
    """CopyObject, UploadPartCopy, PutObject and CreateMultipartUpload."""
    found = {"s3:PutObject"}
    if operation in {"CopyObject", "UploadPartCopy"}:
        found.add(_source_read(params.get("CopySource")))
    if operation != "UploadPartCopy":
        found |= _protection(params)
    if operation == "CopyObject" and params.get("TaggingDirective") == "COPY":
        found |= {"s3:GetObjectTagging", "s3:PutObjectTagging"}
    return found


def s3_actions(operation: str, params: dict[str, Any]) -> set[Action]:
    """IAM actions of one S3 request (on the bucket's objects unless said otherwise)."""
    bucket_level: set[str] = set()
    if operation in S3_FIXED:
        found, bucket_level = S3_FIXED[operation]
    elif operation in {"HeadObject", "GetObject"}:
        found, bucket_level = _read(operation, params)
    elif operation in {"CopyObject", "UploadPartCopy", "PutObject", "CreateMultipartUpload"}:
        found = _write(operation, params)
    elif operation == "DeleteObject":
        found = {_version("s3:DeleteObject", params, "s3:DeleteObjectVersion")}
    elif operation in TAGGING:
        verb = operation.removesuffix("ObjectTagging")
        found = {_version(f"s3:{verb}ObjectTagging", params, f"s3:{verb}ObjectVersionTagging")}
    else:
        raise AssertionError(f"no IAM mapping for S3 {operation}: add one to aws_actions.py")
    return {(a, OBJECTS) for a in found} | {(a, BUCKET) for a in bucket_level}


TRANSACT_ITEM_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}


class Recorder:
    """Collects ``{function: {(action, resource)}}`` while installed (see the module doc)."""

    def __init__(self, tables: dict[str, str]) -> None:
        self.tables = tables  # table name -> logical id
        self.actions: dict[str, set[Action]] = {}
        self.operations: dict[str, list[str]] = {}
        self._function: str | None = None
        self._lock = threading.Lock()
        self._originals: tuple[Any, Any] | None = None

    # -- labelling --------------------------------------------------------------------------

    @contextmanager
    def as_function(self, name: str) -> Iterator[None]:
        """Charge every request sent inside the block (from any thread) to ``name``."""
        previous, self._function = self._function, name
        try:
            yield
        finally:
            self._function = previous

    def _add(self, service: str, operation: str, actions: set[Action]) -> None:
        if self._function is None:
            return
        with self._lock:
            self.actions.setdefault(self._function, set()).update(actions)
            self.operations.setdefault(self._function, []).append(f"{service}:{operation}")

    # -- mapping ----------------------------------------------------------------------------

    def _table(self, name: str, index: str | None = None) -> str:
        logical = self.tables.get(name, f"?{name}")
        return f"{logical}/index/*" if index else logical

    def _dynamodb(self, operation: str, params: dict[str, Any]) -> set[Action]:
        if operation in {"BatchGetItem", "BatchWriteItem"}:
            return {(f"dynamodb:{operation}", self._table(t)) for t in params["RequestItems"]}
        if operation == "TransactWriteItems":
            found = set()
            for item in params["TransactItems"]:
                ((kind, body),) = item.items()
                found.add((TRANSACT_ITEM_ACTIONS[kind], self._table(body["TableName"])))
            return found
        if operation == "TransactGetItems":
            return {
                ("dynamodb:GetItem", self._table(i["Get"]["TableName"]))
                for i in params["TransactItems"]
            }
        return {
            (f"dynamodb:{operation}", self._table(params["TableName"], params.get("IndexName")))
        }

    def actions_of(self, service: str, operation: str, params: dict[str, Any]) -> set[Action]:
        """The IAM actions (and resources) one request needs."""
        if service == "s3":
            return s3_actions(operation, params)
        if service == "dynamodb":
            return self._dynamodb(operation, params)
        if service == "events":
            return {(f"events:{operation}", "EventBus")}
        if service == "ssm":
            return {(f"ssm:{operation}", "ApiTokenParameter")}
        if service == "sqs":
            return {(f"sqs:{operation}", "ObjectCreatedQueue")}
        if service == "kms":
            return {(f"kms:{operation}", "SigningKey")}
        return {(f"{service}:{operation}", "?")}

    # -- installing -------------------------------------------------------------------------

    def install(self) -> None:
        """Wrap botocore's request and presigning entry points."""
        make_api_call = getattr(botocore.client.BaseClient, "_make_api_call")  # noqa: B009
        presign = botocore.signers.generate_presigned_url
        self._originals = (make_api_call, presign)
        recorder = self

        def recording_call(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            service = client.meta.service_model.service_name
            recorder._add(
                service, operation_name, recorder.actions_of(service, operation_name, api_params)
            )
            return make_api_call(client, operation_name, api_params)

        def recording_presign(client: Any, ClientMethod: str, Params: Any = None, **kw: Any) -> Any:  # noqa: N803
            operation = client.meta.method_to_api_mapping.get(ClientMethod, ClientMethod)
            service = client.meta.service_model.service_name
            recorder._add(service, operation, recorder.actions_of(service, operation, Params or {}))
            return presign(client, ClientMethod, Params, **kw)

        setattr(botocore.client.BaseClient, "_make_api_call", recording_call)  # noqa: B010
        # Client classes look this name up when they are created (``creating-client-class``).
        setattr(botocore.signers, "generate_presigned_url", recording_presign)  # noqa: B010

    def uninstall(self) -> None:
        """Put botocore back as it was."""
        if self._originals is not None:
            make_api_call, presign = self._originals
            setattr(botocore.client.BaseClient, "_make_api_call", make_api_call)  # noqa: B010
            setattr(botocore.signers, "generate_presigned_url", presign)  # noqa: B010
            self._originals = None
