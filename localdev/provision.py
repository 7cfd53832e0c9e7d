"""Create in moto exactly the S3, SQS, DynamoDB, EventBridge and KMS resources template.yaml
declares.

Lambda, IAM, API Gateway and policy resources are not created: our own processes play the
functions (uvicorn for the API, the pump for the event-driven ones). Each rule target that is a
function gets a local SQS queue instead (moto delivers EventBridge events to SQS), and the pump
invokes the function with each message's body, the EventBridge envelope. Physical names are
deterministic: an explicit name in the template, else ``<stack name>-<logical id lowercased>``,
except a KMS key's, which KMS chooses: the key is tagged with its logical id and found by that
tag again. Provisioning is idempotent: what already exists (restored state) is kept.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

from localdev import cfn_props
from localdev.intrinsics import Resolver, UnresolvableError, references
from localdev.stack import FunctionSpec, LocalStack, Schedule, Subscription
from localdev.template import ACCOUNT_ID, StackTemplate, handler_location, load_template

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

log = logging.getLogger("localdev.provision")

_NAME_PROPERTY = {
    "AWS::S3::Bucket": "BucketName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Events::EventBus": "Name",
    "AWS::Events::Rule": "Name",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::KMS::Alias": "AliasName",
}
KMS_KEY = "AWS::KMS::Key"
KMS_LOGICAL_ID_TAG = "localdev-logical-id"  # how a restarted stack finds its keys again
_ORDER = [
    KMS_KEY,
    "AWS::KMS::Alias",
    "AWS::SQS::Queue",
    "AWS::DynamoDB::Table",
    "AWS::Events::EventBus",
    "AWS::S3::Bucket",
    "AWS::Events::Rule",
]


def _short(name: str, limit: int) -> str:
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - 9]}-{digest}"


class Provisioner:
    """Resolves names and creates the template's provisionable resources in one moto server."""

    def __init__(self, template: StackTemplate, endpoint: str, root: Path) -> None:
        self.template = template
        self.endpoint = endpoint.rstrip("/")
        self.root = root
        self.region = template.region
        self._session = boto3.session.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - moto's fake credentials
            region_name=self.region,
        )
        self.names: dict[str, str] = {}
        self._resolving: set[str] = set()
        self.resolver: Resolver = template.resolver(self._ref, self._getatt)
        self.stack = LocalStack(
            endpoint=self.endpoint, region=self.region, stack_name=template.stack_name
        )

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` pointed at moto."""
        return self._session.client(service, endpoint_url=self.endpoint)  # type: ignore[call-overload]

    # -- names -----------------------------------------------------------------------------

    def physical_name(self, logical_id: str) -> str:
        """The physical name of a resource (explicit in the template or derived)."""
        if logical_id in self.names:
            return self.names[logical_id]
        resource = self.template.resources[logical_id]
        kind = resource["Type"]
        if kind == KMS_KEY:
            raise UnresolvableError(f"{logical_id}: a KMS key's id is known once it is created")
        explicit = (resource.get("Properties") or {}).get(_NAME_PROPERTY.get(kind, ""))
        if explicit is not None:
            if logical_id in self._resolving:
                raise UnresolvableError(f"{logical_id}'s name refers to itself")
            self._resolving.add(logical_id)
            name = str(self.resolver.resolve(explicit))
        else:
            name = f"{self.template.stack_name}-{logical_id.lower()}"
            if kind == "AWS::SQS::Queue":
                fifo = bool((resource.get("Properties") or {}).get("FifoQueue"))
                name = _short(name, 75) + ".fifo" if fifo else _short(name, 80)
            elif kind == "AWS::S3::Bucket":
                name = _short(name, 63)
            elif kind == "AWS::Events::Rule":
                name = _short(name, 64)
        self.names[logical_id] = name
        return name

    def arn(self, logical_id: str) -> str:
        """The ARN a resource has in moto's default account and our region."""
        kind = self.template.resources[logical_id]["Type"]
        name, region, account = self.physical_name(logical_id), self.region, ACCOUNT_ID
        arns = {
            "AWS::S3::Bucket": f"arn:aws:s3:::{name}",
            "AWS::SQS::Queue": f"arn:aws:sqs:{region}:{account}:{name}",
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{region}:{account}:table/{name}",
            "AWS::Events::EventBus": f"arn:aws:events:{region}:{account}:event-bus/{name}",
            "AWS::Lambda::Function": f"arn:aws:lambda:{region}:{account}:function:{name}",
            KMS_KEY: f"arn:aws:kms:{region}:{account}:key/{name}",
            "AWS::KMS::Alias": f"arn:aws:kms:{region}:{account}:{name}",
        }
        if kind == "AWS::Events::Rule":
            bus = self._rule_bus(logical_id)
            path = name if bus == "default" else f"{bus}/{name}"
            return f"arn:aws:events:{region}:{account}:rule/{path}"
        if kind not in arns:
            raise UnresolvableError(f"{logical_id} ({kind}) has no local ARN")
        return arns[kind]

    def queue_url(self, name: str) -> str:
        """moto's URL for a queue name."""
        return f"{self.endpoint}/{ACCOUNT_ID}/{name}"

    def _ref(self, logical_id: str) -> str:
        if logical_id not in self.template.resources:
            raise UnresolvableError(f"Ref to unknown {logical_id!r}")
        kind = self.template.resources[logical_id]["Type"]
        if kind == "AWS::SQS::Queue":
            return self.queue_url(self.physical_name(logical_id))
        if kind in _NAME_PROPERTY or kind == KMS_KEY:
            return self.physical_name(logical_id)
        raise UnresolvableError(
            f"Ref to {logical_id} ({kind}), which the local stack does not create"
        )

    def _getatt(self, logical_id: str, attribute: str) -> str:
        if logical_id not in self.template.resources:
            raise UnresolvableError(f"GetAtt of unknown {logical_id!r}")
        if attribute == "Arn":
            return self.arn(logical_id)
        name = self.physical_name(logical_id)
        values = {
            "QueueName": name,
            "QueueUrl": self.queue_url(name),
            "Name": name,
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{self.region}.amazonaws.com",
        }
        if attribute not in values:
            raise UnresolvableError(f"GetAtt {logical_id}.{attribute} is not known locally")
        return values[attribute]

    def _rule_bus(self, logical_id: str) -> str:
        props = self.template.resources[logical_id].get("Properties") or {}
        bus = self.resolver.resolve(props.get("EventBusName", "default"))
        return str(bus).rsplit("/", 1)[-1]

    # -- creation --------------------------------------------------------------------------

    def run(self) -> LocalStack:
        """Create everything (skipping what exists) and describe the result."""
        resources = self.template.provisioned()
        ordered = sorted(
            resources.items(),
            key=lambda item: (
                _ORDER.index(item[1]["Type"]),
                "RedrivePolicy" in (item[1].get("Properties") or {}),
            ),
        )
        for logical_id, resource in ordered:
            props = self.resolver.resolve(resource.get("Properties") or {})
            create = getattr(
                self, "_create_" + resource["Type"].split("::", 1)[1].replace("::", "_").lower()
            )
            create(logical_id, props)
            self.stack.names[logical_id] = self.physical_name(logical_id)
            self.stack.arns[logical_id] = self.arn(logical_id)
        self._describe_functions()
        return self.stack

    def _ignored(self, logical_id: str, ignored: list[str]) -> None:
        if ignored:
            log.info("%s: not emulated locally: %s", logical_id, ", ".join(ignored))

    def _create_sqs_queue(self, logical_id: str, props: dict[str, Any]) -> None:
        attributes, ignored = cfn_props.sqs_attributes(props)
        self._ignored(logical_id, ignored)
        name = self.physical_name(logical_id)
        self.stack.queue_urls[logical_id] = self._ensure_queue(
            name, attributes, cfn_props.tags(props)
        )

    def _ensure_queue(self, name: str, attributes: dict[str, str], tags: dict[str, str]) -> str:
        sqs: SQSClient = self.client("sqs")
        try:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            log.info("kept queue %s", name)
        except ClientError:
            url = sqs.create_queue(QueueName=name, Attributes=attributes, tags=tags)["QueueUrl"]  # type: ignore[arg-type]
            log.info("created queue %s", name)
        return self.queue_url(url.rsplit("/", 1)[-1])

    def _create_dynamodb_table(self, logical_id: str, props: dict[str, Any]) -> None:
        name = self.physical_name(logical_id)
        create, calls, ignored = cfn_props.dynamodb_table(props, name)
        self._ignored(logical_id, ignored)
        ddb = self.client("dynamodb")
        try:
            ddb.describe_table(TableName=name)
            log.info("kept table %s", name)
            return
        except ClientError:
            ddb.create_table(**create)
        for operation, kwargs in calls:
            getattr(ddb, operation)(**kwargs)
        log.info("created table %s", name)

    def _create_events_eventbus(self, logical_id: str, props: dict[str, Any]) -> None:
        name = self.physical_name(logical_id)
        self._ignored(logical_id, sorted(set(props) - {"Name", "Tags"}))
        events = self.client("events")
        try:
            events.describe_event_bus(Name=name)
            log.info("kept event bus %s", name)
        except ClientError:
            events.create_event_bus(Name=name, Tags=props.get("Tags") or [])
            log.info("created event bus %s", name)

    def _create_s3_bucket(self, logical_id: str, props: dict[str, Any]) -> None:
        name = self.physical_name(logical_id)
        calls, ignored = cfn_props.s3_bucket(props, name)
        self._ignored(logical_id, ignored)
        s3 = self.client("s3")
        try:
            s3.head_bucket(Bucket=name)
            log.info("kept bucket %s", name)
            return
        except ClientError:
            kwargs: dict[str, Any] = {"Bucket": name}
            if props.get("ObjectLockEnabled"):
                kwargs["ObjectLockEnabledForBucket"] = True
            if self.region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
            s3.create_bucket(**kwargs)
        for operation, call_kwargs in calls:
            getattr(s3, operation)(**call_kwargs)
        log.info("created bucket %s", name)

    def _create_kms_key(self, logical_id: str, props: dict[str, Any]) -> None:
        tag = f"{self.template.stack_name}/{logical_id}"
        kms = self.client("kms")
        key_id = self._kms_key_tagged(kms, tag)
        if key_id is not None:
            log.info("kept KMS key %s (%s)", key_id, logical_id)
        else:
            wanted = {"Description", "KeySpec", "KeyUsage", "Tags"}
            self._ignored(logical_id, sorted(set(props) - wanted - {"KeyPolicy", "Enabled"}))
            tags = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in props.get("Tags", [])]
            tags.append({"TagKey": KMS_LOGICAL_ID_TAG, "TagValue": tag})
            key_id = kms.create_key(
                Description=props.get("Description", ""),
                KeySpec=props.get("KeySpec", "SYMMETRIC_DEFAULT"),
                KeyUsage=props.get("KeyUsage", "ENCRYPT_DECRYPT"),
                Tags=tags,
            )["KeyMetadata"]["KeyId"]
            log.info("created KMS key %s (%s, %s)", key_id, logical_id, props.get("KeySpec"))
        self.names[logical_id] = key_id

    @staticmethod
    def _kms_key_tagged(kms: Any, tag: str) -> str | None:
        for page in kms.get_paginator("list_keys").paginate():
            for key in page["Keys"]:
                tags = kms.list_resource_tags(KeyId=key["KeyId"]).get("Tags", [])
                if {"TagKey": KMS_LOGICAL_ID_TAG, "TagValue": tag} in tags:
                    return str(key["KeyId"])
        return None

    def _create_kms_alias(self, logical_id: str, props: dict[str, Any]) -> None:
        name, target = self.physical_name(logical_id), str(props["TargetKeyId"])
        kms = self.client("kms")
        aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
        if name not in aliases:
            kms.create_alias(AliasName=name, TargetKeyId=target)
            log.info("created KMS alias %s", name)
        elif aliases[name] != target:
            kms.update_alias(AliasName=name, TargetKeyId=target)
            log.info("pointed KMS alias %s at %s", name, target)

    def _create_events_rule(self, logical_id: str, props: dict[str, Any]) -> None:
        raw = self.template.resources[logical_id].get("Properties") or {}
        name, bus = self.physical_name(logical_id), self._rule_bus(logical_id)
        rule: dict[str, Any] = {
            "Name": name,
            "EventBusName": bus,
            "State": props.get("State", "ENABLED"),
        }
        if "EventPattern" in props:
            pattern = props["EventPattern"]
            rule["EventPattern"] = pattern if isinstance(pattern, str) else json.dumps(pattern)
        for key in ("ScheduleExpression", "Description"):
            if key in props:
                rule[key] = props[key]
        events = self.client("events")
        events.put_rule(**rule)
        targets = [
            self._target(logical_id, raw_target, target, props)
            for raw_target, target in zip(
                raw.get("Targets") or [], props.get("Targets") or [], strict=False
            )
        ]
        if targets:
            events.put_targets(Rule=name, EventBusName=bus, Targets=targets)
        log.info("put rule %s on bus %s with %d target(s)", name, bus, len(targets))

    def _target(
        self, rule_id: str, raw: dict[str, Any], target: dict[str, Any], rule: dict[str, Any]
    ) -> dict[str, Any]:
        function = _referenced_function(raw.get("Arn"), self.template)
        out = {key: value for key, value in target.items() if key not in ("Arn", "RoleArn")}
        if function is None:
            out["Arn"] = target["Arn"]
            return out
        queue_name = _short(f"{self.template.stack_name}-target-{target['Id'].lower()}", 80)
        url = self._ensure_queue(queue_name, {}, {})
        queue_arn = f"arn:aws:sqs:{self.region}:{ACCOUNT_ID}:{queue_name}"
        out["Arn"] = queue_arn
        rule_arn = self.arn(rule_id)
        if "ScheduleExpression" in rule:
            schedule = Schedule(
                function, self.physical_name(rule_id), rule_arn, rule["ScheduleExpression"], url
            )
            self.stack.schedules.append(schedule)
            return out
        retry = target.get("RetryPolicy") or {}
        dlq_arn = (target.get("DeadLetterConfig") or {}).get("Arn")
        sub = Subscription(
            kind="eventbridge",
            function=function,
            queue_url=url,
            queue_arn=queue_arn,
            rule_arn=rule_arn,
            # EventBridge's default: 185 retries after the first attempt
            max_attempts=int(retry.get("MaximumRetryAttempts", 185)) + 1,
            dead_letter_queue_url=self.queue_url(dlq_arn.rsplit(":", 1)[-1]) if dlq_arn else None,
        )
        self.stack.subscriptions.append(sub)
        return out

    # -- functions -------------------------------------------------------------------------

    def _describe_functions(self) -> None:
        for logical_id, resource in self.template.of_type("AWS::Lambda::Function").items():
            props = resource["Properties"]
            path, attribute = handler_location(resource, self.root)
            self.stack.functions[logical_id] = FunctionSpec(
                logical_id=logical_id,
                name=self.physical_name(logical_id),
                handler_file=str(path.relative_to(self.root)),
                handler=attribute,
                timeout=int(props.get("Timeout", 3)),
                memory=int(props.get("MemorySize", 128)),
            )
            self._function_environment(logical_id, props)
        for logical_id, resource in self.template.of_type(
            "AWS::Lambda::EventSourceMapping"
        ).items():
            self._event_source(logical_id, resource["Properties"])

    def _function_environment(self, logical_id: str, props: dict[str, Any]) -> None:
        # Only names of provisioned resources come from the template; configuration (tokens,
        # routes, State Hub) comes from .env, since parameters like SSM names mean nothing here.
        provisioned = set(self.template.provisioned())
        variables = (props.get("Environment") or {}).get("Variables") or {}
        for var, node in variables.items():
            if not references(node) & provisioned:
                continue
            value = str(self.resolver.resolve(node))
            previous = self.stack.environment.setdefault(var, value)
            if previous != value:
                log.warning(
                    "%s: %s=%s differs from another function's %s", logical_id, var, value, previous
                )

    def _event_source(self, logical_id: str, props: dict[str, Any]) -> None:
        queue_id = next(iter(references(props.get("EventSourceArn"))), None)
        function = next(iter(references(props.get("FunctionName"))), None)
        if queue_id not in self.stack.queue_urls or function is None:
            log.info("%s: event source not emulated (not an SQS queue of this stack)", logical_id)
            return
        self.stack.subscriptions.append(
            Subscription(
                kind="sqs",
                function=function,
                queue_url=self.stack.queue_urls[queue_id],
                queue_arn=self.arn(queue_id),
                batch_size=int(props.get("BatchSize", 10)),
                report_batch_item_failures="ReportBatchItemFailures"
                in (props.get("FunctionResponseTypes") or []),
            )
        )


def _referenced_function(node: Any, template: StackTemplate) -> str | None:
    for logical_id in references(node):
        resource = template.resources.get(logical_id) or {}
        if resource.get("Type") == "AWS::Lambda::Function":
            return logical_id
    return None


def provision(
    endpoint: str,
    template_path: Path,
    *,
    root: Path | None = None,
    stack_file: Path | None = None,
    overrides: dict[str, str] | None = None,
) -> LocalStack:
    """Provision ``template_path`` into the moto server at ``endpoint``; write ``stack_file``."""
    template = load_template(template_path, overrides=overrides)
    stack = Provisioner(template, endpoint, root or template_path.parent).run()
    if stack_file is not None:
        stack.write(stack_file)
    return stack
