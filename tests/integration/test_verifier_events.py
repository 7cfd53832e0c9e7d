"""The verifier's handler on AWS's documented event JSON, and its fast retry of transient failures.

Events: ``tests/events/sqs_s3_*.json``, AWS's own examples verbatim: S3's notification (and its
``s3:TestEvent``) inside Lambda's SQS record
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html and
https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html), our object filled in, parsed with
Powertools' ``SQSRecord.decoded_nested_s3_event``; the ``s3:TestEvent`` S3 sends when a
notification is set up is acknowledged. Retries: real messages on the stack's upload queue in
moto, received as Lambda's event source mapping receives them (the queue's own 5,400 s
visibility timeout).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.exceptions import ClientError
from localdev.events import sqs_record
from localdev.stack import LocalStack
from pydantic import ValidationError
from pydantic_settings import SettingsError
from pynamodb.exceptions import CancellationReason, TransactWriteError

from artifactstore.adapters.dynamodb.models import item_key
from artifactstore.adapters.dynamodb.support import PKG_SK
from artifactstore.domain.digests import Digest
from artifactstore.domain.keys import upload_key
from artifactstore.errors import StorageError
from artifactstore.service.upload_outcomes import NotReadyYet
from artifactstore.settings import ServiceSettings, service_settings
from tests.integration.aws_actions import Recorder
from tests.integration.conftest import Configured, configured_for
from tests.integration.dynamodb_calls import catalog_models
from tests.integration.flow import Harness, digest_of
from tests.lambda_runtime import FakeContext, load_event, load_handler, queue_arn, receive_all

pytestmark = pytest.mark.integration


def documented_sqs_event(name: str, body: str | None = None, receive_count: int = 1) -> Any:
    """An SQS event from ``tests/events`` (AWS's documented examples, verbatim), its body and
    receive count replaced when given."""
    event = load_event(name)
    record = event["Records"][0]
    record["attributes"]["ApproximateReceiveCount"] = str(receive_count)
    if body is not None:
        record["body"] = body
    return event


def object_created(bucket: str, key: str, size: int, version: str | None) -> Any:
    """AWS's documented S3 notification inside AWS's documented SQS record
    (``sqs_s3_object_created.json``), naming our object instead of ``HappyFace.jpg``."""
    event = documented_sqs_event("sqs_s3_object_created.json")
    body = json.loads(event["Records"][0]["body"])
    s3 = body["Records"][0]["s3"]
    s3["bucket"]["name"] = bucket
    s3["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
    s3["object"].update(key=key, size=size)
    if version is None:
        del s3["object"]["versionId"]
    else:
        s3["object"]["versionId"] = version
    event["Records"][0]["body"] = json.dumps(body)
    return event


@pytest.fixture
def cfg(stack: LocalStack, tmp_path: Path) -> Iterator[Configured]:
    with configured_for(stack, tmp_path / "storage", "*:*=s3") as configured:
        yield configured


FAST_RETRIES = (1, 2, 3)  # seconds: the production default (10, 20, 30) would be waited out


@pytest.fixture
def fast_cfg(stack: LocalStack, tmp_path: Path) -> Iterator[Configured]:
    """``cfg`` with the verifier's retry delays set to ``FAST_RETRIES``."""
    delays = json.dumps(FAST_RETRIES)
    with configured_for(
        stack, tmp_path / "storage", "*:*=s3", ARTIFACTSTORE_VERIFIER_RETRY_DELAYS=delays
    ) as configured:
        yield configured


def draft_with_upload(cfg: Configured) -> tuple[str, str, bytes, str | None]:
    """A draft with one file PUT to its upload key: (package, key, bytes, version)."""
    h = Harness.start(cfg)
    data = uuid.uuid4().bytes * 4
    created = h.create(str(uuid.uuid4()), {"a.bin": data})
    assert created.status_code == 201, created.text
    package_id = created.json()["package_id"]
    key = upload_key(package_id, Digest.parse(digest_of(data)))
    answer = boto3.client("s3").put_object(Bucket=cfg.stack.bucket, Key=key, Body=data)
    h.notifications()  # moto's own notification: these tests send the documented one
    return package_id, key, data, answer.get("VersionId")


def test_the_documented_s3_inside_sqs_event_is_verified(cfg: Configured) -> None:
    package_id, key, data, version = draft_with_upload(cfg)
    event = object_created(cfg.stack.bucket, key, len(data), version)

    result = load_handler("verifier").lambda_handler(event, FakeContext())

    assert result == {"batchItemFailures": []}
    assert cfg.svc.catalog.get_package(package_id).verified_count == 1


def test_a_url_encoded_key_is_decoded(cfg: Configured) -> None:
    """S3 URL-encodes keys in notifications (a space as +): the handler decodes them."""
    package_id, key, data, version = draft_with_upload(cfg)
    encoded = key.replace("/", "%2F")
    event = object_created(cfg.stack.bucket, encoded, len(data), version)

    assert load_handler("verifier").lambda_handler(event, FakeContext()) == {
        "batchItemFailures": []
    }
    assert cfg.svc.catalog.get_package(package_id).verified_count == 1


@pytest.mark.parametrize("name", ["sqs_s3_test_event.json", "sqs_s3_object_created.json"])
def test_test_events_and_foreign_buckets_are_acknowledged_without_a_request(
    cfg: Configured, stack: LocalStack, name: str
) -> None:
    recorder = Recorder({stack.table: "CatalogTable"})
    recorder.install()
    try:
        with recorder.as_function("VerifierFunction"):
            result = load_handler("verifier").lambda_handler(load_event(name), FakeContext())
    finally:
        recorder.uninstall()
    assert result == {"batchItemFailures": []}
    assert recorder.operations == {}


def test_the_documented_test_event_parses_as_a_test_event() -> None:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    event = documented_sqs_event("sqs_s3_test_event.json")
    record = SQSRecord(event["Records"][0])
    assert record.decoded_nested_s3_event.get("Event") == "s3:TestEvent"
    result = load_handler("verifier").lambda_handler(event, FakeContext())
    assert result == {"batchItemFailures": []}


# -- transient failures come back within seconds ---------------------------------------------


def _conflict() -> ClientError:
    return ClientError(
        {"Error": {"Code": "ConditionalRequestConflict", "Message": "409"}}, "CopyObject"
    )


def _transaction_conflict() -> TransactWriteError:
    error = TransactWriteError("cancelled")
    error.cause = ClientError(
        {"Error": {"Code": "TransactionCanceledException", "Message": "x"}},
        "TransactWriteItems",
    )
    return error


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (NotReadyYet("still being created"), True),
        (StorageError("x", details={"s3_error_code": "ConditionalRequestConflict"}), True),
        (StorageError("x", details={"s3_error_code": "AccessDenied"}), False),
        (ValueError("a bug"), False),
    ],
)
def test_which_failures_are_transient(error: Exception, transient: bool) -> None:
    assert load_handler("verifier").is_transient(error) is transient


def test_a_transient_cause_makes_the_failure_transient() -> None:
    app = load_handler("verifier")
    try:
        try:
            raise _conflict()
        except ClientError as exc:
            raise StorageError("S3 refused upload") from exc
    except StorageError as wrapped:
        assert app.is_transient(wrapped)


def test_a_transaction_cancelled_by_a_conflict_is_transient(monkeypatch: Any) -> None:
    error = _transaction_conflict()
    monkeypatch.setattr(
        TransactWriteError,
        "cancellation_reasons",
        property(lambda self: [None, CancellationReason(code="TransactionConflict")]),
    )
    assert load_handler("verifier").is_transient(error)


@pytest.mark.parametrize(("count", "delay"), [(1, 10), (2, 20), (3, 30), (4, None), (5, None)])
def test_retry_delays_back_off_by_receive_count(count: int, delay: int | None) -> None:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    record = SQSRecord(documented_sqs_event("sqs_s3_test_event.json", "{}", count)["Records"][0])
    app = load_handler("verifier")
    assert ServiceSettings().verifier_retry_delays == app.RETRY_DELAYS == (10, 20, 30)
    assert app.retry_delay(record) == delay


@pytest.mark.parametrize(("count", "delay"), [(1, 5), (2, 900), (3, None), (0, None)])
def test_the_retry_delays_are_a_setting(monkeypatch: Any, count: int, delay: int | None) -> None:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    record = SQSRecord(documented_sqs_event("sqs_s3_test_event.json", "{}", count)["Records"][0])
    monkeypatch.setenv("ARTIFACTSTORE_VERIFIER_RETRY_DELAYS", "[5, 900]")
    service_settings.cache_clear()
    try:
        assert load_handler("verifier").retry_delay(record) == delay
    finally:
        monkeypatch.undo()
        service_settings.cache_clear()


@pytest.mark.parametrize(
    "value", ["[]", "[0]", "[901]", "[-1]", "[1, 2, 3, 4]", "[1.5]", "[true]", '["5"]', "5", "1,2"]
)
def test_bad_retry_delays_are_refused(monkeypatch: Any, value: str) -> None:
    """One to three whole seconds, each 1 to 900 (a JSON list): anything else fails at start."""
    monkeypatch.setenv("ARTIFACTSTORE_VERIFIER_RETRY_DELAYS", value)
    with pytest.raises((ValidationError, SettingsError), match=r"(?i)verifier_retry_delays"):
        ServiceSettings()


def test_good_retry_delays_are_taken(monkeypatch: Any) -> None:
    for value, delays in [("[1]", (1,)), ("[900, 1, 30]", (900, 1, 30)), (" [2,4] ", (2, 4))]:
        monkeypatch.setenv("ARTIFACTSTORE_VERIFIER_RETRY_DELAYS", value)
        assert ServiceSettings().verifier_retry_delays == delays


def _waiting(cfg: Configured, *keys: str) -> dict[str, dict[str, Any]]:
    """The messages on the upload queue naming ``keys`` (one each), received as Lambda
    receives them (the queue's own visibility timeout) and not deleted."""
    sqs = boto3.client("sqs")
    found: dict[str, dict[str, Any]] = {}
    for _ in range(10):
        answer = sqs.receive_message(
            QueueUrl=cfg.stack.object_created_queue_url,
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            WaitTimeSeconds=1,
        )
        for message in answer.get("Messages", []):
            # S3 URL-encodes the key ("/" as %2F): match on its last segment.
            found.update({k: dict(message) for k in keys if k.rsplit("/", 1)[1] in message["Body"]})
        if len(found) == len(keys):
            break
    return found


def _back_again(
    cfg: Configured, due: str, *others: str, within: float
) -> dict[str, dict[str, Any]]:
    """The messages naming ``due`` and ``others`` that are visible on the upload queue again.

    Long-polls, as Lambda receives (the queue's own visibility timeout), until the message
    naming ``due`` is back or ``within`` seconds have passed; then takes every other visible
    message with ``receive_all`` (moto's short poll walks the whole queue), so any of
    ``others`` that is back by then is found too.
    """
    sqs = boto3.client("sqs")
    found: dict[str, dict[str, Any]] = {}

    def take(messages: Any) -> None:
        for message in messages:
            # S3 URL-encodes the key ("/" as %2F): match on its last segment.
            found.update(
                {k: dict(message) for k in (due, *others) if k.rsplit("/", 1)[1] in message["Body"]}
            )

    deadline = time.monotonic() + within
    while due not in found and time.monotonic() < deadline:
        answer = sqs.receive_message(
            QueueUrl=cfg.stack.object_created_queue_url,
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            WaitTimeSeconds=1,
        )
        take(answer.get("Messages", []))
    take(receive_all(cfg.stack.object_created_queue_url))
    return found


def test_a_package_still_being_created_is_retried_in_seconds_other_failures_wait(
    fast_cfg: Configured, stack: LocalStack, monkeypatch: Any
) -> None:
    cfg = fast_cfg
    arn = queue_arn(cfg.stack.object_created_queue_url)
    h = Harness.start(cfg)
    data = uuid.uuid4().bytes
    created = h.create(str(uuid.uuid4()), {"a.bin": data}).json()
    package_id = created["package_id"]
    # The file list is still being written (POST /packages/{id}/files) when a blob arrives.
    packages = catalog_models(cfg.svc.catalog).PackageModel
    packages(item_key("PKG", package_id), PKG_SK).update(
        actions=[packages.files_complete.set(False)]
    )
    s3 = boto3.client("s3")
    other = uuid.uuid4().bytes
    not_ready = upload_key(package_id, Digest.parse(digest_of(other)))
    s3.put_object(Bucket=cfg.stack.bucket, Key=not_ready, Body=other)
    failing = upload_key(package_id, Digest.parse(digest_of(data)))
    s3.put_object(Bucket=cfg.stack.bucket, Key=failing, Body=data)
    waiting = _waiting(cfg, not_ready, failing)
    first, second = waiting[not_ready], waiting[failing]
    assert first["Attributes"]["ApproximateReceiveCount"] == "1"

    app = load_handler("verifier")
    recorder = Recorder({stack.table: "CatalogTable"})
    recorder.install()
    delays: list[int] = []  # the VisibilityTimeout of each ChangeMessageVisibility the app sends

    def asked(params: dict[str, Any], **_: Any) -> None:
        delays.append(params["VisibilityTimeout"])

    events = app.sqs_client().meta.events
    events.register("provide-client-params.sqs.ChangeMessageVisibility", asked)
    try:
        # A batch whose every record failed is failed as a whole (Powertools raises).
        with recorder.as_function("VerifierFunction"), pytest.raises(BatchProcessingError):
            app.lambda_handler({"Records": [sqs_record(first, arn)]}, FakeContext())
        # A failure that does not pass by itself keeps the queue's 90 minutes.
        real = app.verify_upload

        def denied(*args: Any, **kw: Any) -> Any:
            if args[2] == failing:
                raise StorageError("x", details={"s3_error_code": "AccessDenied"})
            return real(*args, **kw)

        monkeypatch.setattr(app, "verify_upload", denied)
        with recorder.as_function("VerifierFunction"), pytest.raises(BatchProcessingError):
            app.lambda_handler({"Records": [sqs_record(second, arn)]}, FakeContext())
    finally:
        events.unregister("provide-client-params.sqs.ChangeMessageVisibility", asked)
        recorder.uninstall()
    assert ("sqs:ChangeMessageVisibility", "ObjectCreatedQueue") in recorder.actions[
        "VerifierFunction"
    ]
    # Only the not-ready record is made visible again soon, after the configured first delay
    # (not the default's 10 s); the other keeps the queue's timeout.
    assert delays == [FAST_RETRIES[0]]

    # Waiting is bounded only so that a lost message fails the test instead of hanging it.
    back = _back_again(cfg, not_ready, failing, within=60)
    assert list(back) == [not_ready]  # the other one waits the queue's 5,400 s
    assert back[not_ready]["MessageId"] == first["MessageId"]
    assert back[not_ready]["Attributes"]["ApproximateReceiveCount"] == "2"
