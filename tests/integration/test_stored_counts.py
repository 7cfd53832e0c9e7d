"""The in-process count of what is stored (api_support.counted_in_moto) is the API's count."""

from __future__ import annotations

import uuid
from pathlib import Path

import boto3
from localdev.stack import LocalStack

from tests.integration.api_support import counted_in_moto, counted_through_the_api


def test_counting_in_moto_agrees_with_the_api_as_things_are_stored_and_deleted(
    stack: LocalStack, tmp_path: Path
) -> None:
    s3 = boto3.client("s3")
    dynamodb = boto3.client("dynamodb")
    key = f"test-counts/{uuid.uuid4()}"
    before = counted_in_moto(stack)
    assert before is not None  # the session's moto runs in this process
    assert before == counted_through_the_api(stack)

    s3.put_object(Bucket=stack.bucket, Key=key, Body=b"one")
    s3.put_object(Bucket=stack.bucket, Key=key, Body=b"two")  # a second version
    s3.delete_object(Bucket=stack.bucket, Key=key)  # and a delete marker
    dynamodb.put_item(TableName=stack.table, Item={"pk": {"S": f"TEST#{key}"}, "sk": {"S": "A"}})
    dynamodb.put_item(TableName=stack.table, Item={"pk": {"S": f"TEST#{key}"}, "sk": {"S": "B"}})
    after = counted_in_moto(stack)
    assert after == counted_through_the_api(stack)
    assert after == (before[0] + 2, before[1] + 3)

    versions = s3.list_object_versions(Bucket=stack.bucket, Prefix=key)
    for entry in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
        s3.delete_object(Bucket=stack.bucket, Key=key, VersionId=entry["VersionId"])
    for sort_key in ("A", "B"):
        dynamodb.delete_item(
            TableName=stack.table, Key={"pk": {"S": f"TEST#{key}"}, "sk": {"S": sort_key}}
        )
    assert counted_in_moto(stack) == counted_through_the_api(stack) == before
