"""Translate CloudFormation resource properties into the equivalent boto3 API parameters.

Each function returns ``(calls, ignored)``: the API calls to make after creation (operation
name, keyword arguments) and the property names moto is not asked to emulate.
"""

from __future__ import annotations

import json
from typing import Any

Call = tuple[str, dict[str, Any]]

_SQS_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "RedrivePolicy",
    "RedriveAllowPolicy",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
)


def _attribute_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def sqs_attributes(props: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """``create_queue`` attributes from ``AWS::SQS::Queue`` properties."""
    attributes = {name: _attribute_value(props[name]) for name in _SQS_ATTRIBUTES if name in props}
    ignored = sorted(set(props) - set(_SQS_ATTRIBUTES) - {"QueueName", "Tags"})
    return attributes, ignored


def tags(props: dict[str, Any]) -> dict[str, str]:
    """A CloudFormation ``Tags`` list as a plain mapping."""
    return {tag["Key"]: str(tag["Value"]) for tag in props.get("Tags") or []}


def dynamodb_table(
    props: dict[str, Any], name: str
) -> tuple[dict[str, Any], list[Call], list[str]]:
    """``create_table`` arguments plus follow-up calls from ``AWS::DynamoDB::Table`` properties."""
    create = _create_table(props, name)
    calls: list[Call] = []
    if "TimeToLiveSpecification" in props:
        ttl = props["TimeToLiveSpecification"]
        calls.append(("update_time_to_live", {"TableName": name, "TimeToLiveSpecification": ttl}))
    if "PointInTimeRecoverySpecification" in props:
        pitr = props["PointInTimeRecoverySpecification"]
        calls.append(
            (
                "update_continuous_backups",
                {"TableName": name, "PointInTimeRecoverySpecification": pitr},
            )
        )
    known = {
        *create,
        "SSESpecification",
        "TimeToLiveSpecification",
        "PointInTimeRecoverySpecification",
    }
    return create, calls, sorted(set(props) - known)


def _create_table(props: dict[str, Any], name: str) -> dict[str, Any]:
    create: dict[str, Any] = {"TableName": name}
    for key in ("AttributeDefinitions", "KeySchema", "ProvisionedThroughput", "Tags"):
        if props.get(key):
            create[key] = props[key]
    for key in ("DeletionProtectionEnabled", "TableClass"):
        if key in props:
            create[key] = props[key]
    # CloudFormation's default is PROVISIONED, which needs throughput; without it, on-demand
    has_throughput = "ProvisionedThroughput" in props
    create["BillingMode"] = props.get("BillingMode") or (
        "PROVISIONED" if has_throughput else "PAY_PER_REQUEST"
    )
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if key in props:
            create[key] = [_index(index) for index in props[key]]
    if "StreamSpecification" in props:
        create["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    if "SSESpecification" in props:
        sse = dict(props["SSESpecification"])
        sse["Enabled"] = sse.pop("SSEEnabled", False)
        create["SSESpecification"] = sse
    return create


def _index(index: dict[str, Any]) -> dict[str, Any]:
    allowed = ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")
    return {key: index[key] for key in allowed if key in index}


def s3_bucket(props: dict[str, Any], name: str) -> tuple[list[Call], list[str]]:
    """Follow-up calls (after ``create_bucket``) from ``AWS::S3::Bucket`` properties."""
    calls: list[Call] = []
    if "VersioningConfiguration" in props:
        calls.append(
            ("put_bucket_versioning", {"VersioningConfiguration": props["VersioningConfiguration"]})
        )
    if "ObjectLockConfiguration" in props:
        config = props["ObjectLockConfiguration"]
        calls.append(("put_object_lock_configuration", {"ObjectLockConfiguration": config}))
    if "PublicAccessBlockConfiguration" in props:
        config = props["PublicAccessBlockConfiguration"]
        calls.append(("put_public_access_block", {"PublicAccessBlockConfiguration": config}))
    if "OwnershipControls" in props:
        calls.append(
            ("put_bucket_ownership_controls", {"OwnershipControls": props["OwnershipControls"]})
        )
    if "BucketEncryption" in props:
        rules = [
            _encryption_rule(rule)
            for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        ]
        calls.append(
            ("put_bucket_encryption", {"ServerSideEncryptionConfiguration": {"Rules": rules}})
        )
    if "LifecycleConfiguration" in props:
        rules = [_lifecycle_rule(rule) for rule in props["LifecycleConfiguration"]["Rules"]]
        calls.append(
            ("put_bucket_lifecycle_configuration", {"LifecycleConfiguration": {"Rules": rules}})
        )
    if "NotificationConfiguration" in props:
        config = _notification(props["NotificationConfiguration"])
        calls.append(
            ("put_bucket_notification_configuration", {"NotificationConfiguration": config})
        )
    if props.get("Tags"):
        calls.append(("put_bucket_tagging", {"Tagging": {"TagSet": props["Tags"]}}))
    for _, kwargs in calls:
        kwargs["Bucket"] = name
    known = {
        "BucketName",
        "ObjectLockEnabled",
        "OwnershipControls",
        "VersioningConfiguration",
        "ObjectLockConfiguration",
        "PublicAccessBlockConfiguration",
        "BucketEncryption",
        "LifecycleConfiguration",
        "NotificationConfiguration",
        "Tags",
    }
    unsupported = {"LambdaConfigurations", "TopicConfigurations"}
    notification = set(props.get("NotificationConfiguration") or {}) & unsupported
    ignored = sorted(set(props) - known) + [
        f"NotificationConfiguration.{k}" for k in sorted(notification)
    ]
    return calls, ignored


def _encryption_rule(rule: dict[str, Any]) -> dict[str, Any]:
    out = {key: value for key, value in rule.items() if key != "ServerSideEncryptionByDefault"}
    if "ServerSideEncryptionByDefault" in rule:
        out["ApplyServerSideEncryptionByDefault"] = rule["ServerSideEncryptionByDefault"]
    return out


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"ID": rule.get("Id", "rule"), "Status": rule["Status"]}
    tag_filters = [
        {"Key": tag["Key"], "Value": tag["Value"]} for tag in rule.get("TagFilters") or []
    ]
    prefix = rule.get("Prefix")
    if tag_filters and (prefix or len(tag_filters) > 1):
        out["Filter"] = {"And": {"Prefix": prefix or "", "Tags": tag_filters}}
    elif tag_filters:
        out["Filter"] = {"Tag": tag_filters[0]}
    else:
        out["Filter"] = {"Prefix": prefix or ""}
    expiration: dict[str, Any] = {}
    if "ExpirationInDays" in rule:
        expiration["Days"] = rule["ExpirationInDays"]
    if "ExpiredObjectDeleteMarker" in rule:
        expiration["ExpiredObjectDeleteMarker"] = rule["ExpiredObjectDeleteMarker"]
    if expiration:
        out["Expiration"] = expiration
    if "NoncurrentVersionExpirationInDays" in rule:
        out["NoncurrentVersionExpiration"] = {
            "NoncurrentDays": rule["NoncurrentVersionExpirationInDays"]
        }
    if "NoncurrentVersionExpiration" in rule:
        out["NoncurrentVersionExpiration"] = rule["NoncurrentVersionExpiration"]
    if "AbortIncompleteMultipartUpload" in rule:
        out["AbortIncompleteMultipartUpload"] = rule["AbortIncompleteMultipartUpload"]
    return out


def _notification(config: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    queues = []
    for queue in config.get("QueueConfigurations") or []:
        entry: dict[str, Any] = {"QueueArn": queue["Queue"], "Events": [queue["Event"]]}
        rules = ((queue.get("Filter") or {}).get("S3Key") or {}).get("Rules")
        if rules:
            entry["Filter"] = {"Key": {"FilterRules": rules}}
        queues.append(entry)
    if queues:
        out["QueueConfigurations"] = queues
    if (config.get("EventBridgeConfiguration") or {}).get("EventBridgeEnabled"):
        out["EventBridgeConfiguration"] = {}
    return out
