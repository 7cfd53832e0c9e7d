"""The local stack's parts against a moto server of their own (a subprocess, over HTTP).

Each test gets a fresh server process, so "exactly the template's resources" is not disturbed
by other tests, and a restart is a real process restart.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest
from localdev.provision import provision
from localdev.pump import Pump
from localdev.stack import LocalStack, Subscription
from localdev.template import load_template

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"

RECORDING_HANDLER = """
import json, os
from pathlib import Path

LOG = Path(__file__).with_name("events.jsonl")

def lambda_handler(event, context):
    entry = {
        "event": event,
        "context": {
            "function_name": context.function_name,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "invoked_function_arn": context.invoked_function_arn,
            "aws_request_id": context.aws_request_id,
            "remaining": context.get_remaining_time_in_millis(),
        },
    }
    with LOG.open("a") as handle:
        handle.write(json.dumps(entry) + "\\n")
    if "Records" in event:
        failed = [
            {"itemIdentifier": r["messageId"]}
            for r in event["Records"]
            if "fail-once" in r["body"] and r["attributes"]["ApproximateReceiveCount"] == "1"
        ]
        return {"batchItemFailures": failed}
    if event.get("detail", {}).get("explode"):
        raise RuntimeError("linker failed")
    return {"ok": True}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MotoProcess:
    """``python -m localdev.motoserver`` on a free port, restartable with the same state file."""

    def __init__(self, state_file: Path | None) -> None:
        self.state_file = state_file
        self.port = _free_port()
        self.proc: subprocess.Popen[str] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [sys.executable, "-m", "localdev.motoserver", "--port", str(self.port)]
        if self.state_file is not None:
            command += ["--state-file", str(self.state_file)]
        self.proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("listening on"), line

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=60) == 0
        self.proc = None

    def client(self, service: str) -> Any:
        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


@contextlib.contextmanager
def _running(server: MotoProcess) -> Iterator[MotoProcess]:
    server.start()
    try:
        yield server
    finally:
        if server.proc is not None:
            server.proc.kill()
            server.proc.wait()


@pytest.fixture(scope="module")
def shared_moto() -> Iterator[MotoProcess]:
    with _running(MotoProcess(None)) as server:
        yield server


@pytest.fixture
def moto(shared_moto: MotoProcess) -> MotoProcess:
    """The module's server, emptied: each test starts from nothing."""
    request = urllib.request.Request(f"{shared_moto.endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request) as answer:
        assert answer.status == 200
    return shared_moto


@pytest.fixture
def stack(moto: MotoProcess, tmp_path: Path) -> LocalStack:
    return provision(moto.endpoint, TEMPLATE, root=ROOT, stack_file=tmp_path / "stack.json")


def _events(tmp_path: Path) -> list[dict[str, Any]]:
    log = tmp_path / "events.jsonl"
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.fixture
def pump(stack: LocalStack, tmp_path: Path) -> Pump:
    handler = tmp_path / "handler.py"
    handler.write_text(RECORDING_HANDLER)
    overrides = {"VerifierFunction": handler, "LinkerFunction": handler}
    return Pump(stack, ROOT, handler_overrides=overrides, schedule_seconds=None, wait_seconds=1)


def _sub(pump: Pump, function: str) -> Subscription:
    return next(s for s in pump.subscriptions if s.function == function)


def _counts(moto: MotoProcess, url: str) -> tuple[int, int]:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    got = moto.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=names)
    return int(got["Attributes"][names[0]]), int(got["Attributes"][names[1]])


# -- provisioning ------------------------------------------------------------------------------


def test_provision_creates_exactly_what_template_declares(
    moto: MotoProcess, stack: LocalStack
) -> None:
    template = load_template(TEMPLATE)
    declared = template.provisioned()
    by_type: dict[str, set[str]] = {}
    for logical_id, resource in declared.items():
        by_type.setdefault(resource["Type"], set()).add(stack.names[logical_id])
    rules = template.of_type("AWS::Events::Rule")
    lambda_targets = [
        t for r in rules.values() for t in r["Properties"]["Targets"] if "Function" in str(t["Arn"])
    ]
    assert set(stack.names) == set(declared)

    buckets = {b["Name"] for b in moto.client("s3").list_buckets()["Buckets"]}
    assert buckets == by_type["AWS::S3::Bucket"] == {"artifactstore-dev-123456789012-us-east-1"}
    tables = set(moto.client("dynamodb").list_tables()["TableNames"])
    assert tables == by_type["AWS::DynamoDB::Table"]
    assert tables == {"artifactstore-dev-catalog", "artifactstore-dev-idempotency"}
    queues = {url.rsplit("/", 1)[1] for url in moto.client("sqs").list_queues()["QueueUrls"]}
    target_queues = queues - by_type["AWS::SQS::Queue"]
    assert by_type["AWS::SQS::Queue"] <= queues
    assert len(target_queues) == len(lambda_targets)  # one stand-in queue per function target
    events = moto.client("events")
    buses = {b["Name"] for b in events.list_event_buses()["EventBuses"]} - {"default"}
    assert buses == by_type["AWS::Events::EventBus"] == {"artifactstore-dev"}
    rule_names = {
        r["Name"]
        for bus in [*buses, "default"]
        for r in events.list_rules(EventBusName=bus)["Rules"]
    }
    assert rule_names == by_type["AWS::Events::Rule"]


def test_provisioned_resources_carry_the_template_settings(
    moto: MotoProcess, stack: LocalStack
) -> None:
    s3, ddb, sqs, events = (moto.client(n) for n in ("s3", "dynamodb", "sqs", "events"))
    lock = s3.get_object_lock_configuration(Bucket=stack.bucket)["ObjectLockConfiguration"]
    assert lock["ObjectLockEnabled"] == "Enabled"
    assert s3.get_bucket_versioning(Bucket=stack.bucket)["Status"] == "Enabled"
    uploads, upload_packs = s3.get_bucket_notification_configuration(Bucket=stack.bucket)[
        "QueueConfigurations"
    ]
    for notification in (uploads, upload_packs):
        assert notification["QueueArn"].endswith(":artifactstore-dev-objectcreatedqueue")
    assert uploads["Events"] == ["s3:ObjectCreated:*"]
    assert uploads["Filter"]["Key"]["FilterRules"] == [{"Name": "prefix", "Value": "uploads/"}]
    assert upload_packs["Events"] == ["s3:ObjectCreated:CompleteMultipartUpload"]
    assert upload_packs["Filter"]["Key"]["FilterRules"] == [{"Name": "prefix", "Value": "packs/"}]

    table = ddb.describe_table(TableName=stack.table)["Table"]
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]
    indexes = {
        i["IndexName"]: [k["AttributeName"] for k in i["KeySchema"]]
        for i in table["GlobalSecondaryIndexes"]
    }
    assert indexes == {
        "by_producer": ["gsi1pk", "gsi1sk"],
        "by_state": ["gsi2pk", "gsi2sk"],
        "outbox": ["gsi3pk", "gsi3sk"],
        "expiry": ["gsi4pk", "gsi4sk"],
    }
    assert (
        ddb.describe_time_to_live(TableName=stack.table)["TimeToLiveDescription"]["AttributeName"]
        == "ttl"
    )
    idem = ddb.describe_table(TableName=stack.idempotency_table)["Table"]
    assert idem["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]

    redrive = json.loads(
        sqs.get_queue_attributes(
            QueueUrl=stack.object_created_queue_url, AttributeNames=["RedrivePolicy"]
        )["Attributes"]["RedrivePolicy"]
    )
    assert redrive["deadLetterTargetArn"].endswith(":artifactstore-dev-objectcreateddlq")
    (rule,) = events.list_rules(EventBusName=stack.event_bus)["Rules"]
    assert json.loads(rule["EventPattern"]) == {
        "source": ["artifactstore"],
        "detail-type": ["ArtifactPackageSealed"],
    }
    (target,) = events.list_targets_by_rule(Rule=rule["Name"], EventBusName=stack.event_bus)[
        "Targets"
    ]
    assert target["Arn"].endswith(":" + stack.linker_queue_url.rsplit("/", 1)[1])
    assert target["DeadLetterConfig"]["Arn"].endswith(":artifactstore-dev-linkerdlq")


def test_provision_twice_keeps_what_exists(
    moto: MotoProcess, stack: LocalStack, tmp_path: Path
) -> None:
    moto.client("dynamodb").put_item(
        TableName=stack.table, Item={"pk": {"S": "p"}, "sk": {"S": "s"}}
    )
    again = provision(moto.endpoint, TEMPLATE, root=ROOT)
    assert again.names == stack.names
    assert moto.client("dynamodb").get_item(
        TableName=stack.table, Key={"pk": {"S": "p"}, "sk": {"S": "s"}}
    )["Item"]
    written = LocalStack.read(tmp_path / "stack.json")
    assert written.service_environment()["ARTIFACTSTORE_TABLE_NAME"] == "artifactstore-dev-catalog"
    assert (
        written.service_environment()["ARTIFACTSTORE_LOCAL_NOTIFY_QUEUE_URL"]
        == stack.object_created_queue_url
    )


# -- pump --------------------------------------------------------------------------------------


def test_s3_upload_reaches_the_verifier_as_an_sqs_batch(
    moto: MotoProcess, stack: LocalStack, pump: Pump, tmp_path: Path
) -> None:
    key = "uploads/pkg-1/" + "ab" * 32
    moto.client("s3").put_object(Bucket=stack.bucket, Key=key, Body=b"bytes")
    moto.client("s3").put_object(Bucket=stack.bucket, Key="blobs/not-an-upload", Body=b"x")
    verifier = _sub(pump, "VerifierFunction")
    # the queue also holds S3's s3:TestEvent from configuring the notification, as in AWS
    while pump.poll_once(verifier, wait_seconds=1):
        pass

    records = [r for e in _events(tmp_path) for r in e["event"]["Records"]]
    bodies = [json.loads(r["body"]) for r in records]
    assert [b.get("Event") for b in bodies if "Event" in b] == ["s3:TestEvent"]
    uploads = [(r, b) for r, b in zip(records, bodies, strict=True) if "Records" in b]
    assert len(uploads) == 1  # the blobs/ key is outside the notification's prefix
    record, body = uploads[0]
    assert set(record) == {
        "messageId", "receiptHandle", "body", "attributes", "messageAttributes",
        "md5OfBody", "eventSource", "eventSourceARN", "awsRegion",
    }  # fmt: skip
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == stack.arns["ObjectCreatedQueue"]
    assert record["awsRegion"] == "us-east-1"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    s3_event = body["Records"][0]
    assert s3_event["eventName"].startswith("ObjectCreated:")
    assert s3_event["s3"]["bucket"]["name"] == stack.bucket
    assert unquote_plus(s3_event["s3"]["object"]["key"]) == key
    context = _events(tmp_path)[-1]["context"]
    assert context["function_name"] == "artifactstore-dev-verifierfunction"
    assert context["memory_limit_in_mb"] == 1769
    assert context["invoked_function_arn"].endswith(":function:artifactstore-dev-verifierfunction")
    assert context["remaining"] > 0
    assert _counts(moto, stack.object_created_queue_url) == (0, 0)


def test_sealed_event_reaches_the_linker_as_the_eventbridge_envelope(
    moto: MotoProcess, stack: LocalStack, pump: Pump, tmp_path: Path
) -> None:
    events = moto.client("events")
    entry = {"Source": "artifactstore", "EventBusName": stack.event_bus}
    events.put_events(
        Entries=[
            {
                **entry,
                "DetailType": "ArtifactPackageSealed",
                "Detail": json.dumps({"package_id": "p-1"}),
            }
        ]
    )
    events.put_events(Entries=[{**entry, "DetailType": "SomethingElse", "Detail": "{}"}])
    linker = _sub(pump, "LinkerFunction")
    assert pump.poll_once(linker, wait_seconds=1) == 1
    assert pump.poll_once(linker, wait_seconds=0) == 0  # the other detail-type matched no rule

    (called,) = _events(tmp_path)
    envelope = called["event"]
    assert set(envelope) >= {
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    }
    assert envelope["detail-type"] == "ArtifactPackageSealed"
    assert envelope["source"] == "artifactstore"
    assert envelope["detail"] == {"package_id": "p-1"}
    assert called["context"]["function_name"] == "artifactstore-dev-linkerfunction"
    assert _counts(moto, stack.linker_queue_url) == (0, 0)


def test_linker_failure_leaves_the_event_for_a_retry(
    moto: MotoProcess, stack: LocalStack, pump: Pump
) -> None:
    detail = json.dumps({"package_id": "p-2", "explode": True})
    moto.client("events").put_events(
        Entries=[
            {
                "Source": "artifactstore",
                "DetailType": "ArtifactPackageSealed",
                "Detail": detail,
                "EventBusName": stack.event_bus,
            }
        ]
    )
    assert pump.poll_once(_sub(pump, "LinkerFunction"), wait_seconds=1) == 1
    assert _counts(moto, stack.linker_queue_url) == (0, 1)  # in flight until its visibility timeout


def test_partial_batch_failure_redelivers_only_the_failed_record(
    moto: MotoProcess, stack: LocalStack, pump: Pump, tmp_path: Path
) -> None:
    sqs = moto.client("sqs")
    url = stack.object_created_queue_url
    sqs.purge_queue(QueueUrl=url)  # drop S3's test event
    # the template's 90-minute visibility timeout, shortened so the retry comes within the test
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "1"})
    sent = {
        body: sqs.send_message(QueueUrl=url, MessageBody=body)["MessageId"]
        for body in ("ok-1", "fail-once", "ok-2")
    }
    batch = dataclasses.replace(_sub(pump, "VerifierFunction"), batch_size=10)

    seen = 0
    while seen < 3:
        seen += pump.poll_once(batch, wait_seconds=1)
    assert _counts(moto, url)[0] + _counts(moto, url)[1] == 1  # the two successes were deleted

    deadline = time.monotonic() + 30
    while (
        len(_events(tmp_path)) < 2 or sum(len(e["event"]["Records"]) for e in _events(tmp_path)) < 4
    ):
        assert time.monotonic() < deadline, "the failed record never came back"
        pump.poll_once(batch, wait_seconds=1)
    redelivered = [
        r
        for e in _events(tmp_path)
        for r in e["event"]["Records"]
        if r["attributes"]["ApproximateReceiveCount"] == "2"
    ]
    assert [r["messageId"] for r in redelivered] == [sent["fail-once"]]
    assert _counts(moto, url) == (0, 0)


def test_a_raising_verifier_fails_the_whole_batch(
    moto: MotoProcess, stack: LocalStack, tmp_path: Path
) -> None:
    handler = tmp_path / "raising.py"
    handler.write_text("def lambda_handler(event, context):\n    raise RuntimeError('boom')\n")
    pump = Pump(stack, ROOT, handler_overrides={"VerifierFunction": handler}, schedule_seconds=None)
    sqs = moto.client("sqs")
    sqs.purge_queue(QueueUrl=stack.object_created_queue_url)
    for body in ("a", "b"):
        sqs.send_message(QueueUrl=stack.object_created_queue_url, MessageBody=body)
    batch = dataclasses.replace(_sub(pump, "VerifierFunction"), batch_size=10)
    seen = 0
    while seen < 2:
        seen += pump.poll_once(batch, wait_seconds=1)
    assert _counts(moto, stack.object_created_queue_url) == (0, 2)


def test_missing_handler_leaves_events_untouched(
    moto: MotoProcess, stack: LocalStack, tmp_path: Path
) -> None:
    pump = Pump(
        stack,
        ROOT,
        handler_overrides={"VerifierFunction": tmp_path / "absent.py"},
        schedule_seconds=None,
    )
    before = _counts(moto, stack.object_created_queue_url)
    assert pump.poll_once(_sub(pump, "VerifierFunction"), wait_seconds=0) == 0
    assert _counts(moto, stack.object_created_queue_url) == before == (1, 0)  # S3's test event


def test_scheduled_rule_invokes_maintenance_with_a_scheduled_event(
    moto: MotoProcess, stack: LocalStack, tmp_path: Path
) -> None:
    handler = tmp_path / "handler.py"
    handler.write_text(RECORDING_HANDLER)
    pump = Pump(
        stack, ROOT, handler_overrides={"MaintenanceFunction": handler}, schedule_seconds=None
    )
    pump.fire_schedules()
    assert pump.poll_once(_sub(pump, "MaintenanceFunction"), wait_seconds=1) == 1
    (called,) = _events(tmp_path)
    assert called["event"]["detail-type"] == "Scheduled Event"
    assert called["event"]["source"] == "aws.events"
    assert called["event"]["resources"] == [stack.schedules[0].rule_arn]


# -- persistence -------------------------------------------------------------------------------


@pytest.fixture
def persistent_moto(tmp_path: Path) -> Iterator[MotoProcess]:
    with _running(MotoProcess(tmp_path / "moto-state.pickle")) as server:
        yield server


def test_state_survives_a_restart(persistent_moto: MotoProcess, tmp_path: Path) -> None:
    moto = persistent_moto
    stack = provision(moto.endpoint, TEMPLATE, root=ROOT)
    s3, ddb, sqs = moto.client("s3"), moto.client("dynamodb"), moto.client("sqs")
    s3.put_object(Bucket=stack.bucket, Key="blobs/k", Body=b"first")
    s3.put_object(Bucket=stack.bucket, Key="blobs/k", Body=b"second")
    ddb.put_item(
        TableName=stack.table,
        Item={
            "pk": {"S": "PKG#1"},
            "sk": {"S": "META"},
            "gsi1pk": {"S": "guide-board"},
            "gsi1sk": {"S": "1"},
        },
    )
    sqs.send_message(QueueUrl=stack.linker_queue_url, MessageBody="kept")

    moto.stop()
    moto.start()
    again = provision(moto.endpoint, TEMPLATE, root=ROOT)

    assert again.names == stack.names
    s3, ddb, sqs = moto.client("s3"), moto.client("dynamodb"), moto.client("sqs")
    versions = s3.list_object_versions(Bucket=stack.bucket, Prefix="blobs/k")["Versions"]
    assert len(versions) == 2
    assert s3.get_object(Bucket=stack.bucket, Key="blobs/k")["Body"].read() == b"second"
    assert (
        s3.get_object_lock_configuration(Bucket=stack.bucket)["ObjectLockConfiguration"][
            "ObjectLockEnabled"
        ]
        == "Enabled"
    )
    found = ddb.query(
        TableName=stack.table, IndexName="by_producer", KeyConditionExpression="gsi1pk = :p",
        ExpressionAttributeValues={":p": {"S": "guide-board"}},
    )["Items"]  # fmt: skip
    assert [item["pk"]["S"] for item in found] == ["PKG#1"]
    (message,) = sqs.receive_message(QueueUrl=stack.linker_queue_url)["Messages"]
    assert message["Body"] == "kept"
