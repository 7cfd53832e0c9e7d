"""What each function's role must allow: the IAM actions its code sends, and nothing more.

``CALLS`` is what ``tests/integration/test_iam_actions.py`` records each function's real code
paths sending against moto (every request mapped to its IAM actions by
``tests/integration/aws_actions.py``); that test requires the recording to equal ``CALLS``.
``NOT_RECORDED`` is what a role needs that the recording cannot see, each with its reason:
requests made only on failure paths or races, and what the Lambda service itself does with
the role. ``tests/unit/test_template.py`` requires each role's Allow statements in
``template.yaml`` to be exactly ``CALLS | NOT_RECORDED`` (AWS-managed policies aside: logging
and X-Ray writes, which SAM attaches).

Resources are the template's logical ids: ``ArtifactsBucket/*`` its objects,
``CatalogTable/index/*`` the catalog's indexes, ``ApiTokenParameter`` the SSM parameter named by
``ApiTokenParameterName``, ``SigningKey`` the KMS key that signs seal attestations.
"""

from __future__ import annotations

Action = tuple[str, str]  # (IAM action, resource)

OBJECTS = "ArtifactsBucket/*"
BUCKET = "ArtifactsBucket"
CATALOG = "CatalogTable"
INDEXES = "CatalogTable/index/*"
IDEMPOTENCY = "IdempotencyTable"
SIGNING_KEY = "SigningKey"


def _s3(*actions: str) -> set[Action]:
    return {(f"s3:{a}", OBJECTS) for a in actions}


def _catalog(*actions: str, table: str = CATALOG) -> set[Action]:
    return {(f"dynamodb:{a}", table) for a in actions}


CALLS: dict[str, set[Action]] = {
    # The HTTP API: creates drafts (presigned PUTs and multipart parts), completes multipart
    # uploads, protects and renews re-used blobs, seals on finalize (manifest written locked
    # or tagged), serves manifests and presigned GETs, reads its admin token from SSM.
    "ApiFunction": _s3(
        "GetObject",
        "GetObjectRetention",
        "GetObjectTagging",
        "GetObjectVersionTagging",
        "PutObject",
        "PutObjectRetention",
        "PutObjectTagging",
        "PutObjectVersionTagging",
        "DeleteObjectTagging",
    )
    | {("s3:ListBucket", BUCKET)}
    | _catalog("GetItem", "PutItem", "UpdateItem", "Query", "BatchGetItem", "BatchWriteItem")
    | _catalog("Query", table=INDEXES)
    | {("events:PutEvents", "EventBus"), ("ssm:GetParameter", "ApiTokenParameter")}
    # GET /signing-keys: each key's public key and creation date; the API never signs.
    | {("kms:GetPublicKey", SIGNING_KEY), ("kms:DescribeKey", SIGNING_KEY)},
    # The verifier: reads the notified upload version, copies it to its blob (a large blob's
    # upload pack is kept where it lies), deletes that upload version, raises held blobs
    # (untags an upload pack it keeps), writes bundles' packs and manifests, seals, publishes.
    "VerifierFunction": _s3(
        "GetObjectVersion",
        "PutObject",
        "PutObjectRetention",
        "PutObjectTagging",
        "DeleteObjectTagging",
        "DeleteObjectVersion",
    )
    | {("s3:ListBucket", BUCKET)}
    | _catalog("GetItem", "PutItem", "UpdateItem", "Query", "BatchGetItem")
    | {("events:PutEvents", "EventBus")},
    # The linker: reads the package, records the link; Powertools' idempotency records. Then
    # the attestation: reads it (404 needs ListBucket) and the manifest, signs with the one
    # key only it may use (its keyid from the public key), writes the envelope once, locked
    # (release-evidence) like the manifest, never tagged to expire (evidence stays).
    "LinkerFunction": _catalog("GetItem", "UpdateItem")
    | _catalog("PutItem", "UpdateItem", "DeleteItem", table=IDEMPOTENCY)
    | _s3("GetObject", "PutObject", "PutObjectRetention")
    | {("s3:ListBucket", BUCKET)}
    | {("kms:Sign", SIGNING_KEY), ("kms:GetPublicKey", SIGNING_KEY)},
    # Maintenance: expires drafts (HeadObject then DeleteObject of each version of their
    # pending uploads; the parts of a list that never completed deleted in batches) and
    # sealed packages past their class's time, sweeps blobs nothing may rely on (tombstone,
    # HeadObject and DeleteObject of each version, the record deleted), and publishes seal
    # events still in the outbox.
    "MaintenanceFunction": _s3("GetObject", "GetObjectRetention", "DeleteObjectVersion")
    | {("s3:ListBucket", BUCKET)}
    | _catalog("Query", "UpdateItem", "BatchWriteItem", "DeleteItem")
    | _catalog("Query", table=INDEXES)
    | {("events:PutEvents", "EventBus")},
}

_RENEW = (
    "renewing an expiring blob (protection._renew), recorded for the API; the verifier "
    "reaches the same code through protect_held"
)
_ABORT = "s3transfer aborts a managed multipart copy (over 5 GiB) that failed"
_ABORT_API = (
    _ABORT + "; and a second upload completed for one upload pack is aborted "
    "(adapters/s3/upload_packs.complete_once, tests/integration/test_upload_packs.py)"
)

NOT_RECORDED: dict[str, dict[Action, str]] = {
    "ApiFunction": {
        ("s3:GetObjectVersion", OBJECTS): (
            "a renewal that raced a kept class's protection reads the copied version's lock "
            "(protection._kept_meanwhile: HeadObject with VersionId)"
        ),
        ("s3:AbortMultipartUpload", OBJECTS): _ABORT_API,
    },
    "VerifierFunction": {
        ("s3:GetObjectTagging", OBJECTS): _RENEW + " (CopyObject with TaggingDirective COPY)",
        ("s3:GetObjectVersionTagging", OBJECTS): _RENEW + " (the copied version's tags)",
        # The verifier reads every upload by the version its notification names; a HeadObject
        # (and the lock it shows) only before a renewing copy, or for a blob whose protection
        # was never recorded (protection._unknowns_read).
        ("s3:GetObject", OBJECTS): _RENEW + " (HeadObject first)",
        ("s3:GetObjectRetention", OBJECTS): _RENEW + " (the lock HeadObject shows)",
        ("s3:PutObjectVersionTagging", OBJECTS): (
            _RENEW + " (s3transfer tags a managed copy, over 5 GiB, by version)"
        ),
        ("s3:AbortMultipartUpload", OBJECTS): _ABORT,
        # Lambda's event source mapping polls and acknowledges with the function's role.
        ("sqs:ReceiveMessage", "ObjectCreatedQueue"): "the SQS event source mapping",
        ("sqs:DeleteMessage", "ObjectCreatedQueue"): "the SQS event source mapping",
        ("sqs:GetQueueAttributes", "ObjectCreatedQueue"): "the SQS event source mapping",
        ("sqs:ChangeMessageVisibility", "ObjectCreatedQueue"): (
            "a retryable failure shortens its message's visibility (functions/verifier/app.py);"
            " recorded by tests/integration/test_verifier_events.py"
        ),
        # The verifier's role is hand-written (no SAM basic execution policy).
        ("logs:CreateLogStream", "VerifierFunctionLogGroup"): "the Lambda runtime's logging",
        ("logs:PutLogEvents", "VerifierFunctionLogGroup"): "the Lambda runtime's logging",
    },
    "LinkerFunction": {
        ("dynamodb:GetItem", IDEMPOTENCY): (
            "Powertools reads an idempotency record with GetItem when a conditional put fails "
            "without returning the old item (its documented IAM for the DynamoDB layer)"
        ),
        ("sqs:SendMessage", "LinkerDLQ"): (
            "Lambda sends an async invocation that failed its retries to the on-failure "
            "destination (EventInvokeConfig) with the function's role; SAM adds this"
        ),
    },
    "MaintenanceFunction": {},
}


def needed(function: str) -> set[Action]:
    """Everything ``function``'s role must allow."""
    return CALLS[function] | set(NOT_RECORDED[function])
