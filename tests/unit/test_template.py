"""template.yaml: the names other code depends on, and what the SAM transform makes of them."""

from __future__ import annotations

import ast
import copy
import json
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import boto3
import pytest
from cfnlint.decode import cfn_yaml  # type: ignore[import-untyped]
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

from artifactstore.domain.retention import RetentionClass, parse_retention_classes
from tests.iam_needs import needed

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"

Template = dict[str, Any]

SAM_RESOURCES = {
    "HttpApi": "AWS::Serverless::HttpApi",
    "ApiFunction": "AWS::Serverless::Function",
    "VerifierFunction": "AWS::Serverless::Function",
    "LinkerFunction": "AWS::Serverless::Function",
    "MaintenanceFunction": "AWS::Serverless::Function",
    "DependenciesLayer": "AWS::Serverless::LayerVersion",
    "ArtifactsBucket": "AWS::S3::Bucket",
    "ArtifactsBucketPolicy": "AWS::S3::BucketPolicy",
    "ObjectCreatedQueue": "AWS::SQS::Queue",
    "ObjectCreatedQueuePolicy": "AWS::SQS::QueuePolicy",
    "ObjectCreatedDLQ": "AWS::SQS::Queue",
    "CatalogTable": "AWS::DynamoDB::Table",
    "IdempotencyTable": "AWS::DynamoDB::Table",
    "EventBus": "AWS::Events::EventBus",
    "LinkerDLQ": "AWS::SQS::Queue",
}

FUNCTIONS = {
    "ApiFunction": "functions/api/",
    "VerifierFunction": "functions/verifier/",
    "LinkerFunction": "functions/linker/",
    "MaintenanceFunction": "functions/maintenance/",
}


@pytest.fixture(scope="module")
def sam() -> Template:
    """template.yaml as written (CloudFormation tags decoded to their JSON form)."""
    return json.loads(json.dumps(cfn_yaml.load(str(TEMPLATE))))  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def cfn(sam: Template) -> Template:
    """template.yaml after the SAM transform, as CloudFormation would receive it."""
    template = copy.deepcopy(sam)
    # The translator wants S3 URIs where `sam build`/`sam package` would have put them.
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str):
                props[key] = f"s3://artifacts/{props[key]}"
    session = boto3.session.Session(region_name="us-east-1")
    translator = Translator(managed_policy_map={}, sam_parser=Parser(), boto_session=session)
    return translator.translate(template, parameter_values={})  # type: ignore[no-any-return]


def _props(template: Template, logical_id: str) -> dict[str, Any]:
    return template["Resources"][logical_id]["Properties"]  # type: ignore[no-any-return]


def _of_type(template: Template, type_name: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_name}


def test_resources_keep_their_logical_ids_and_types(sam: Template) -> None:
    declared = {k: v["Type"] for k, v in sam["Resources"].items()}
    assert {k: declared.get(k) for k in SAM_RESOURCES} == SAM_RESOURCES


def test_parameters_and_their_defaults(sam: Template) -> None:
    defaults = {k: v.get("Default") for k, v in sam["Parameters"].items()}
    assert defaults == {
        "Stage": "dev",
        "StateHubUrl": "",
        "StateHubWorkstreamId": "",
        "StateHubTaskId": "",
        "ApiTokenParameterName": "/artifactstore/dev/api-token",
        "EphemeralRetentionDays": 14,
        "EphemeralBackstopDays": 30,
        "ReleaseEvidenceLockDays": 3650,
    }


def test_functions_run_python311_on_arm64_with_tracing_and_both_layers(sam: Template) -> None:
    function_globals = sam["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.11"
    assert function_globals["Architectures"] == ["arm64"]
    assert function_globals["Tracing"] == "Active"
    assert function_globals["Layers"] == [
        {"Ref": "DependenciesLayer"},
        {"Ref": "ArtifactstoreLayer"},
    ]
    for logical_id, code_uri in FUNCTIONS.items():
        props = _props(sam, logical_id)
        assert (props["CodeUri"], props["Handler"]) == (code_uri, "app.lambda_handler")
        assert (ROOT / code_uri / "app.py").is_file()


def test_layers_are_built_by_their_makefiles_for_arm64(sam: Template) -> None:
    assert _props(sam, "DependenciesLayer")["ContentUri"] == "layers/deps/"
    assert _props(sam, "ArtifactstoreLayer")["ContentUri"] == "src/"
    for logical_id in ("DependenciesLayer", "ArtifactstoreLayer"):
        metadata = sam["Resources"][logical_id]["Metadata"]
        assert metadata == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
        # sam build runs `make build-<LogicalId>` from the Makefile in ContentUri.
        makefile = ROOT / _props(sam, logical_id)["ContentUri"] / "Makefile"
        assert f"build-{logical_id}:" in makefile.read_text(encoding="utf-8")
    # No requirements.txt under src/: the code layer must not pull a second copy of the deps.
    assert not (ROOT / "src" / "requirements.txt").exists()


def test_global_environment_names_every_resource(sam: Template) -> None:
    env = sam["Globals"]["Function"]["Environment"]["Variables"]
    assert {k: v for k, v in env.items() if k != "ARTIFACTSTORE_RETENTION_CLASSES"} == {
        "ARTIFACTSTORE_TABLE_NAME": {"Ref": "CatalogTable"},
        "ARTIFACTSTORE_BUCKET": {"Ref": "ArtifactsBucket"},
        "ARTIFACTSTORE_EVENT_BUS_NAME": {"Ref": "EventBus"},
        "ARTIFACTSTORE_IDEMPOTENCY_TABLE_NAME": {"Ref": "IdempotencyTable"},
        "ARTIFACTSTORE_STORAGE_BACKEND_ROUTES": "*:*=s3",
        "ARTIFACTSTORE_API_TOKEN_PARAMETER": {"Ref": "ApiTokenParameterName"},
        "STATE_HUB_URL": {"Ref": "StateHubUrl"},
        "STATE_HUB_WORKSTREAM_ID": {"Ref": "StateHubWorkstreamId"},
        "STATE_HUB_TASK_ID": {"Ref": "StateHubTaskId"},
        "POWERTOOLS_SERVICE_NAME": "artifactstore",
        "POWERTOOLS_METRICS_NAMESPACE": "artifactstore",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


def test_retention_classes_variable_parses_with_the_parameters_substituted(sam: Template) -> None:
    body = sam["Globals"]["Function"]["Environment"]["Variables"]["ARTIFACTSTORE_RETENTION_CLASSES"]
    values = {"ReleaseEvidenceLockDays": "30", "EphemeralRetentionDays": "7"}
    text = re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], body["Fn::Sub"])
    assert parse_retention_classes(text) == {
        "release-evidence": RetentionClass(
            "release-evidence", lock_mode="GOVERNANCE", lock_days=30
        ),
        "ephemeral": RetentionClass("ephemeral", expire_days=7),
    }


def test_transform_yields_the_functions_layers_and_api(cfn: Template) -> None:
    functions = _of_type(cfn, "AWS::Lambda::Function")
    assert set(functions) == set(FUNCTIONS)
    layers = sorted(_of_type(cfn, "AWS::Lambda::LayerVersion"))
    assert [re.sub(r"[0-9a-f]{10}$", "", name) for name in layers] == [
        "ArtifactstoreLayer",
        "DependenciesLayer",
    ]
    for props in (f["Properties"] for f in functions.values()):
        assert (props["Runtime"], props["Architectures"]) == ("python3.11", ["arm64"])
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert len(props["Layers"]) == 2
    assert cfn["Resources"]["HttpApi"]["Type"] == "AWS::ApiGatewayV2::Api"


def test_verifier_reads_the_upload_queue_with_partial_batch_failures(cfn: Template) -> None:
    mapping = _props(cfn, "VerifierFunctionObjectCreated")
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["ObjectCreatedQueue", "Arn"]}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    verifier_timeout = _props(cfn, "VerifierFunction")["Timeout"]
    queue = _props(cfn, "ObjectCreatedQueue")
    assert queue["VisibilityTimeout"] >= 6 * verifier_timeout
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["ObjectCreatedDLQ", "Arn"]},
        "maxReceiveCount": 5,
    }


def test_fast_retries_leave_a_long_wait_before_the_dead_letter_queue(cfn: Template) -> None:
    """The verifier retries transient failures after seconds (RETRY_DELAYS), then waits the
    queue's visibility timeout: at least one such wait comes before a message is dead-lettered,
    so a package still being created has hours, not a minute, to finish."""
    from tests.lambda_runtime import load_handler

    delays = load_handler("verifier").RETRY_DELAYS
    assert all(10 <= d <= 30 for d in delays) and list(delays) == sorted(delays)
    max_receives = _props(cfn, "ObjectCreatedQueue")["RedrivePolicy"]["maxReceiveCount"]
    assert max_receives >= len(delays) + 2


def test_sealed_events_reach_the_linker_with_retries_and_a_dlq(cfn: Template) -> None:
    rules = _of_type(cfn, "AWS::Events::Rule")
    (rule,) = (
        r["Properties"]
        for r in rules.values()
        if r["Properties"].get("EventBusName") == {"Ref": "EventBus"}
    )
    assert rule["EventPattern"] == {
        "source": ["artifactstore"],
        "detail-type": ["ArtifactPackageSealed"],
    }
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["LinkerFunction", "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["LinkerDLQ", "Arn"]}}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0


def test_maintenance_runs_every_five_minutes(cfn: Template) -> None:
    schedules = [
        r["Properties"]
        for r in _of_type(cfn, "AWS::Events::Rule").values()
        if "ScheduleExpression" in r["Properties"]
    ]
    assert [s["ScheduleExpression"] for s in schedules] == ["rate(5 minutes)"]
    assert schedules[0]["Targets"][0]["Arn"] == {"Fn::GetAtt": ["MaintenanceFunction", "Arn"]}


def test_catalog_table_keys_indexes_ttl_and_recovery(cfn: Template) -> None:
    table = _props(cfn, "CatalogTable")
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["SSESpecification"] == {"SSEEnabled": True}
    assert table["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert table["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    indexes = {
        gsi["IndexName"]: (
            [(k["AttributeName"], k["KeyType"]) for k in gsi["KeySchema"]],
            gsi["Projection"],
        )
        for gsi in table["GlobalSecondaryIndexes"]
    }
    all_ = {"ProjectionType": "ALL"}
    assert indexes == {
        "by_producer": ([("gsi1pk", "HASH"), ("gsi1sk", "RANGE")], all_),
        "by_state": ([("gsi2pk", "HASH"), ("gsi2sk", "RANGE")], all_),
        "outbox": ([("gsi3pk", "HASH"), ("gsi3sk", "RANGE")], all_),
        "expiry": ([("gsi4pk", "HASH"), ("gsi4sk", "RANGE")], all_),
    }
    types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
    assert types == {
        name: "S"
        for name in ("pk", "sk", *(f"gsi{i}{k}" for i in (1, 2, 3, 4) for k in ("pk", "sk")))
    }


def test_idempotency_table_matches_powertools_defaults(cfn: Template) -> None:
    table = _props(cfn, "IdempotencyTable")
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert table["BillingMode"] == "PAY_PER_REQUEST"


def test_bucket_locks_encrypts_blocks_public_access_and_notifies(cfn: Template) -> None:
    bucket = _props(cfn, "ArtifactsBucket")
    assert bucket["ObjectLockEnabled"] is True
    assert bucket["ObjectLockConfiguration"]["ObjectLockEnabled"] == "Enabled"
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    (sse,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    uploads, upload_packs = bucket["NotificationConfiguration"]["QueueConfigurations"]
    assert uploads == {
        "Event": "s3:ObjectCreated:*",
        "Queue": {"Fn::GetAtt": ["ObjectCreatedQueue", "Arn"]},
        "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": "uploads/"}]}},
    }
    # Large blobs' multipart uploads complete in their upload packs; the verifier's own pack
    # writes (PutObject) notify nothing.
    assert upload_packs == {
        "Event": "s3:ObjectCreated:CompleteMultipartUpload",
        "Queue": {"Fn::GetAtt": ["ObjectCreatedQueue", "Arn"]},
        "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": "packs/"}]}},
    }
    # S3 checks the queue policy when it creates the notification.
    assert cfn["Resources"]["ArtifactsBucket"]["DependsOn"] == "ObjectCreatedQueuePolicy"


def test_bucket_lifecycle_expires_ephemeral_and_stale_uploads(cfn: Template) -> None:
    rules = {r["Id"]: r for r in _props(cfn, "ArtifactsBucket")["LifecycleConfiguration"]["Rules"]}
    assert all(r["Status"] == "Enabled" for r in rules.values())
    ephemeral = rules["expire-ephemeral"]
    assert ephemeral["TagFilters"] == [{"Key": "retention", "Value": "ephemeral"}]
    # Only a backstop, later than every sweep (docs/architecture.md): the sweep decides.
    assert ephemeral["ExpirationInDays"] == {"Ref": "EphemeralBackstopDays"}
    params = cfn["Parameters"]
    backstop, days = params["EphemeralBackstopDays"]["Default"], params["EphemeralRetentionDays"]
    assert backstop > days["Default"] + 3 + 2
    uploads = rules["expire-stale-uploads"]
    assert (uploads["Prefix"], uploads["ExpirationInDays"]) == ("uploads/", 7)
    multipart = rules["abort-incomplete-multipart"]
    assert multipart["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 2}


@pytest.mark.parametrize("logical_id", ["ArtifactsBucket", "CatalogTable", "IdempotencyTable"])
def test_stateful_resources_are_kept_unless_the_first_create_fails(
    cfn: Template, logical_id: str
) -> None:
    """Kept on stack deletion and replacement; a failed first deploy deletes them (still
    empty), so the next deploy of the stage does not collide with their names."""
    resource = cfn["Resources"][logical_id]
    assert resource["DeletionPolicy"] == "RetainExceptOnCreate"
    assert resource["UpdateReplacePolicy"] == "Retain"


def test_botocore_models_the_conditional_copy_the_adapter_sends() -> None:
    """``CopyObject(IfNoneMatch="*")`` (adapters/s3) needs a botocore whose S3 model has it;
    pyproject's boto3 floor is a release that does (docs/deploy.md)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("s3")
    shape = model.operation_model("CopyObject").input_shape
    assert shape is not None and "IfNoneMatch" in shape.members
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (boto3_requirement,) = [
        Requirement(r) for r in pyproject["project"]["dependencies"] if r.startswith("boto3")
    ]
    assert boto3_requirement.specifier.contains("1.44.0")
    assert not boto3_requirement.specifier.contains("1.43.999")


def test_bucket_policy_refuses_plain_http(cfn: Template) -> None:
    (statement,) = _props(cfn, "ArtifactsBucketPolicy")["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_s3_may_send_to_the_upload_queue_only_from_our_bucket(cfn: Template) -> None:
    (statement,) = _props(cfn, "ObjectCreatedQueuePolicy")["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Condition"]["ArnLike"]["aws:SourceArn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:s3:::"
        + _props(cfn, "ArtifactsBucket")["BucketName"]["Fn::Sub"]
    }


def _allow_statements(cfn: Template) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for logical_id, resource in cfn["Resources"].items():
        props = resource.get("Properties", {})
        documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
        if "PolicyDocument" in props:
            documents.append(props["PolicyDocument"])
        for document in documents:
            for statement in document["Statement"]:
                if statement["Effect"] == "Allow":
                    found.append((logical_id, statement))
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_no_statement_allows_every_action(cfn: Template) -> None:
    statements = _allow_statements(cfn)
    assert len(statements) > 10
    for logical_id, statement in statements:
        actions = _as_list(statement["Action"])
        resources = _as_list(statement.get("Resource", []))
        assert not ("*" in actions and "*" in resources), logical_id
        assert not any(a == "*" or a.endswith(":*") for a in actions), (logical_id, actions)


def test_each_role_gets_only_what_its_function_uses(cfn: Template) -> None:
    def actions(role: str) -> set[str]:
        return {
            action
            for logical_id, statement in _allow_statements(cfn)
            if logical_id == role
            for action in _as_list(statement["Action"])
        }

    assert "ssm:GetParameter" in actions("ApiFunctionRole")
    assert all(
        "ssm:GetParameter" not in actions(f"{f}Role") for f in FUNCTIONS if f != "ApiFunction"
    )
    assert {"s3:PutObjectRetention", "s3:PutObject"} <= actions("ApiFunctionRole")
    # The verifier reads and copies the exact version an S3 notification names; both renew
    # expiring blobs by copying them onto themselves and checking the version copied.
    assert {"s3:GetObjectVersion", "s3:PutObjectRetention"} <= actions("VerifierFunctionRole")
    for name in ("ApiFunctionRole", "VerifierFunctionRole"):
        assert {"s3:GetObjectVersion", "s3:GetObjectVersionTagging"} <= actions(name)
    # A shared blob is raised to the strongest class using it (tag removed, lock extended).
    for name in ("ApiFunctionRole", "VerifierFunctionRole"):
        assert {"s3:DeleteObjectTagging", "s3:GetObjectRetention"} <= actions(name)
    # Nothing lists versions any more (deletes name the version they remove).
    assert not any("s3:ListBucketVersions" in actions(f"{f}Role") for f in FUNCTIONS)
    (consume,) = [
        s
        for r, s in _allow_statements(cfn)
        if r == "VerifierFunctionRole" and s.get("Sid") == "ConsumeUploadQueue"
    ]
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage"} <= set(consume["Action"])
    assert consume["Resource"] == {"Fn::GetAtt": ["ObjectCreatedQueue", "Arn"]}
    # SAM's default for SQS sources reads every queue in the account.
    for role in _of_type(cfn, "AWS::IAM::Role").values():
        assert not any(
            "SQSQueueExecutionRole" in str(a) for a in role["Properties"]["ManagedPolicyArns"]
        )
    # The linker writes attestations (and reads manifests); it deletes nothing.
    assert {a for a in actions("LinkerFunctionRole") if a.startswith("s3:")} == {
        "s3:GetObject",
        "s3:PutObject",
        "s3:PutObjectRetention",
        "s3:ListBucket",
    }
    # Only the linker may sign seals.
    assert [f for f in FUNCTIONS if "kms:Sign" in actions(f"{f}Role")] == ["LinkerFunction"]
    assert "events:PutEvents" in actions("MaintenanceFunctionRole")
    (token,) = [
        s
        for r, s in _allow_statements(cfn)
        if r == "ApiFunctionRole" and s["Action"] == "ssm:GetParameter"
    ]
    assert token["Resource"]["Fn::Sub"].endswith(":parameter${ApiTokenParameterName}")


def _resource_label(resource: Any) -> str:
    """A policy resource as the logical id it names (``tests/iam_needs.py``'s labels)."""
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        logical_id, attribute = resource["Fn::GetAtt"]
        assert attribute == "Arn", resource
        return str(logical_id)
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        text = resource["Fn::Sub"]
        if isinstance(text, list):  # SAM policy templates: [pattern, {name: {"Ref": id}}]
            pattern, names = text
            (ref,) = names.values()
            suffix = "/index/*" if pattern.endswith("/index/*") else ""
            return str(ref["Ref"]) + suffix
        if text.endswith(":parameter${ApiTokenParameterName}"):
            return "ApiTokenParameter"
        match = re.fullmatch(r"\$\{(\w+)\.Arn\}(/.*)?", text)
        assert match, resource
        return match.group(1) + (match.group(2) or "")
    raise AssertionError(f"a policy resource this test cannot name: {resource!r}")


def _role_allows(cfn: Template, role: str) -> set[tuple[str, str]]:
    return {
        (action, _resource_label(resource))
        for logical_id, statement in _allow_statements(cfn)
        if logical_id == role
        for action in _as_list(statement["Action"])
        for resource in _as_list(statement["Resource"])
    }


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_each_role_allows_exactly_what_its_code_needs(cfn: Template, function: str) -> None:
    """CALLS (recorded from the code by tests/integration/test_iam_actions.py) plus the
    documented NOT_RECORDED entries, both ways: nothing missing, nothing more."""
    allowed = _role_allows(cfn, f"{function}Role")
    wanted = needed(function)
    assert {"missing": sorted(wanted - allowed), "excess": sorted(allowed - wanted)} == {
        "missing": [],
        "excess": [],
    }
    # Only AWS-managed logging and tracing policies besides (SAM's basic execution role).
    managed = cfn["Resources"][f"{function}Role"]["Properties"].get("ManagedPolicyArns", [])
    names = {(a if isinstance(a, str) else a["Fn::Sub"]).split(":policy/")[1] for a in managed}
    assert names <= {"service-role/AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess"}


def test_outputs(cfn: Template) -> None:
    assert {
        "ApiUrl",
        "ArtifactsBucketName",
        "CatalogTableName",
        "EventBusName",
        "ObjectCreatedQueueUrl",
    } <= set(cfn["Outputs"])


def _requirements(lines: list[str]) -> set[str]:
    return {str(Requirement(line)) for line in lines}


def test_layer_requirements_are_the_runtime_dependencies() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    layer = (ROOT / "layers" / "deps" / "requirements.txt").read_text(encoding="utf-8")
    lines = [ln.strip() for ln in layer.splitlines() if ln.strip() and not ln.startswith("#")]
    assert _requirements(lines) == _requirements(pyproject["project"]["dependencies"])
    assert not any(Requirement(ln).name == "artifactstore" for ln in lines)


def _runtime_imports() -> set[str]:
    """Top-level modules the Lambda code imports at run time (not under TYPE_CHECKING)."""
    lambda_code = [
        *(
            p
            for p in (ROOT / "src" / "artifactstore").rglob("*.py")
            if not {"cli", "client"} & set(p.parts)
        ),
        *(ROOT / "functions").rglob("*.py"),
    ]
    found: set[str] = set()
    for path in lambda_code:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        type_only = {
            id(node)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
            for node in ast.walk(block)
        }
        for node in ast.walk(tree):
            if id(node) in type_only:
                continue
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"artifactstore", "__future__"}


def _distribution_closure(requirements: list[str]) -> set[str]:
    """Every distribution the layer's requirements pull in, per the metadata installed here."""
    visited: set[tuple[str, str]] = set()
    pending = [(Requirement(line), "") for line in requirements]
    while pending:
        requirement, extra = pending.pop()
        if requirement.marker and not requirement.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(requirement.name)
        for wanted in ("", *requirement.extras):
            if (name, wanted) not in visited:
                visited.add((name, wanted))
                pending.extend((Requirement(r), wanted) for r in metadata.requires(name) or [])
    return {name for name, _ in visited}


def test_lambda_code_imports_only_what_the_layer_ships() -> None:
    layer = (ROOT / "layers" / "deps" / "requirements.txt").read_text(encoding="utf-8")
    lines = [ln.strip() for ln in layer.splitlines() if ln.strip() and not ln.startswith("#")]
    shipped = _distribution_closure(lines)
    providers = metadata.packages_distributions()
    missing = {
        module: providers.get(module, ["?"])
        for module in _runtime_imports()
        if not {canonicalize_name(d) for d in providers.get(module, [])} & shipped
    }
    assert missing == {}
