"""template.yaml's signing key: an asymmetric P-256 KMS key that only the linker may sign with."""

from __future__ import annotations

from typing import Any

from tests.unit.test_template import _allow_statements, _as_list, _props, cfn, sam  # noqa: F401

Template = dict[str, Any]


def test_the_signing_key_is_an_ecc_p256_sign_verify_key_kept_with_the_data(sam: Template) -> None:  # noqa: F811
    key = sam["Resources"]["SigningKey"]
    assert key["Type"] == "AWS::KMS::Key"
    props = key["Properties"]
    assert (props["KeySpec"], props["KeyUsage"]) == ("ECC_NIST_P256", "SIGN_VERIFY")
    assert (key["DeletionPolicy"], key["UpdateReplacePolicy"]) == ("RetainExceptOnCreate", "Retain")
    (statement,) = props["KeyPolicy"]["Statement"]
    assert statement["Principal"] == {
        "AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
    }
    alias = sam["Resources"]["SigningKeyAlias"]
    assert alias["Type"] == "AWS::KMS::Alias"
    assert alias["Properties"]["TargetKeyId"] == {"Ref": "SigningKey"}


def test_the_linker_signs_and_the_api_lists_with_the_key(sam: Template) -> None:  # noqa: F811
    for function in ("LinkerFunction", "ApiFunction"):
        env = _props(sam, function)["Environment"]["Variables"]
        assert env["ARTIFACTSTORE_SIGNING_KEY_ID"] == {"Ref": "SigningKey"}
    for function in ("VerifierFunction", "MaintenanceFunction"):
        env = (_props(sam, function).get("Environment") or {}).get("Variables", {})
        assert "ARTIFACTSTORE_SIGNING_KEY_ID" not in env


def test_only_the_linker_role_may_sign_and_only_with_that_key(cfn: Template) -> None:  # noqa: F811
    kms = [
        (role, action, statement["Resource"])
        for role, statement in _allow_statements(cfn)
        for action in _as_list(statement["Action"])
        if action.startswith("kms:")
    ]
    signing = {"Fn::GetAtt": ["SigningKey", "Arn"]}
    assert sorted((r, a) for r, a, _ in kms) == [
        ("ApiFunctionRole", "kms:DescribeKey"),
        ("ApiFunctionRole", "kms:GetPublicKey"),
        ("LinkerFunctionRole", "kms:GetPublicKey"),
        ("LinkerFunctionRole", "kms:Sign"),
    ]
    assert all(resource == signing for _, _, resource in kms)
