"""Read ``template.yaml`` and transform it with the AWS SAM translator: the one source of truth.

SAM insists on S3 code locations, so local ``CodeUri`` folders are rewritten to
``s3://localdev-code/<folder>`` before the transform; the resulting ``Code.S3Key`` tells the pump
where each function's handler file lives.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localdev.intrinsics import AttLookup, RefLookup, Resolver

CODE_BUCKET = "localdev-code"
ACCOUNT_ID = "123456789012"  # moto's default account
DEFAULT_REGION = "us-east-1"
PROVISIONED_TYPES = frozenset(
    {
        "AWS::S3::Bucket",
        "AWS::SQS::Queue",
        "AWS::DynamoDB::Table",
        "AWS::Events::EventBus",
        "AWS::Events::Rule",
        "AWS::KMS::Key",
        "AWS::KMS::Alias",
    }
)


@dataclass(frozen=True)
class StackTemplate:
    """A transformed (plain CloudFormation) template plus the values to resolve it with."""

    resources: dict[str, Any]
    parameters: dict[str, Any]
    conditions: dict[str, Any]
    region: str
    stack_name: str

    def of_type(self, *types: str) -> dict[str, dict[str, Any]]:
        """Resources of the given types whose ``Condition`` (if any) holds."""
        return {
            logical_id: resource
            for logical_id, resource in self.resources.items()
            if resource["Type"] in types and self._enabled(resource)
        }

    def provisioned(self) -> dict[str, dict[str, Any]]:
        """The resources the local stack creates in moto (S3, SQS, DynamoDB, EventBridge, KMS)."""
        return self.of_type(*PROVISIONED_TYPES)

    def resolver(self, ref: RefLookup, getatt: AttLookup) -> Resolver:
        """A resolver bound to this template's parameters and conditions."""
        return Resolver(
            parameters=self.parameters, conditions=self.conditions, ref=ref, getatt=getatt
        )

    def _enabled(self, resource: dict[str, Any]) -> bool:
        name = resource.get("Condition")
        if name is None:
            return True
        probe = self.resolver(_no_ref, _no_att)
        return probe.condition(name)


def _no_ref(name: str) -> str:
    raise KeyError(name)


def _no_att(name: str, attribute: str) -> str:
    raise KeyError(f"{name}.{attribute}")


def load_template(
    path: Path, *, overrides: dict[str, str] | None = None, region: str = DEFAULT_REGION
) -> StackTemplate:
    """Parse, transform and bind ``path``; ``overrides`` replace parameter defaults."""
    from samtranslator.yaml_helper import yaml_parse

    raw: dict[str, Any] = yaml_parse(path.read_text(encoding="utf-8"))
    transformed = _transform(raw, region) if _is_sam(raw) else copy.deepcopy(raw)
    declared = transformed.get("Parameters") or {}
    parameters: dict[str, Any] = {
        name: str(spec.get("Default", "")) for name, spec in declared.items()
    }
    parameters.update(overrides or {})
    for name, spec in declared.items():
        # CloudFormation coerces Number parameters where a property wants an integer
        if spec.get("Type") == "Number" and parameters[name].lstrip("-").isdigit():
            parameters[name] = int(parameters[name])
    stage = parameters.get("Stage") or "dev"
    stack_name = f"artifactstore-{stage}"
    parameters.update(
        {
            "AWS::Region": region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{region}:{ACCOUNT_ID}:stack/{stack_name}/x",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
    )
    return StackTemplate(
        resources=transformed.get("Resources") or {},
        parameters=parameters,
        conditions=transformed.get("Conditions") or {},
        region=region,
        stack_name=stack_name,
    )


def _is_sam(template: dict[str, Any]) -> bool:
    transform = template.get("Transform")
    names = transform if isinstance(transform, list) else [transform]
    return any(isinstance(name, str) and name.startswith("AWS::Serverless") for name in names)


def _transform(raw: dict[str, Any], region: str) -> dict[str, Any]:
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    sam = copy.deepcopy(raw)
    function_globals = (sam.get("Globals") or {}).get("Function") or {}
    _point_code_at_s3(function_globals, "CodeUri")
    for resource in (sam.get("Resources") or {}).values():
        props = resource.setdefault("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function":
            _point_code_at_s3(props, "CodeUri")
        elif resource.get("Type") == "AWS::Serverless::LayerVersion":
            _point_code_at_s3(props, "ContentUri")
    # the translator asks boto3 for the partition of the session's region
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    translated: dict[str, Any] = Translator(None, Parser()).translate(
        sam, parameter_values={}, get_managed_policy_map=dict
    )
    return translated


def _point_code_at_s3(props: dict[str, Any], key: str) -> None:
    value = props.get(key)
    if isinstance(value, str) and not value.startswith("s3://"):
        props[key] = f"s3://{CODE_BUCKET}/{value.strip('/') or '.'}"


def handler_location(function: dict[str, Any], root: Path) -> tuple[Path, str]:
    """``(handler file, attribute)`` of a transformed ``AWS::Lambda::Function``."""
    props = function["Properties"]
    code = props.get("Code") or {}
    folder = code.get("S3Key") if code.get("S3Bucket") == CODE_BUCKET else "."
    module, _, attribute = str(props["Handler"]).rpartition(".")
    relative = Path(str(folder)) / (module.replace(".", "/") + ".py")
    return root / relative, attribute
