"""One catalog contract, two catalogs: the in-memory fake, and the DynamoDB adapter on moto.

The adapter gets a table of its own per test, created in the session's moto server with the
key schema and indexes of the stack's catalog table (``template.yaml``), so every listing a
test makes (schemas, tokens, the outbox, the drafts' index) holds only what that test wrote.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from localdev.stack import LocalStack

from artifactstore.ports.catalog import Catalog
from tests.fakes.catalog import InMemoryCatalog
from tests.integration.conftest import stack

__all__ = ["stack"]  # the integration suite's session fixture, provisioned once per worker


@pytest.fixture(scope="session")
def catalog_table_definition(stack: LocalStack) -> dict[str, Any]:
    """``create_table`` arguments copying the stack's catalog table (keys and indexes)."""
    import boto3

    table = boto3.client("dynamodb", region_name=stack.region).describe_table(
        TableName=stack.table
    )["Table"]
    return {
        "AttributeDefinitions": table["AttributeDefinitions"],
        "KeySchema": table["KeySchema"],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": i["IndexName"],
                "KeySchema": i["KeySchema"],
                "Projection": i["Projection"],
            }
            for i in table.get("GlobalSecondaryIndexes", [])
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }


@pytest.fixture
def dynamo_catalog(
    stack: LocalStack, catalog_table_definition: dict[str, Any]
) -> Iterator[Catalog]:
    """The DynamoDB adapter on a fresh table; afterwards the models are bound again to the
    table they named before (the adapter binds PynamoDB's model classes process-wide)."""
    import boto3

    from artifactstore.adapters.dynamodb.catalog import DynamoCatalog
    from artifactstore.adapters.dynamodb.models import PackageModel, bind_table

    client = boto3.client("dynamodb", region_name=stack.region)
    name = f"contract-{uuid.uuid4().hex[:12]}"
    client.create_table(TableName=name, **catalog_table_definition)
    bound = (PackageModel.Meta.table_name, PackageModel.Meta.region)
    try:
        yield DynamoCatalog(name, stack.region)
    finally:
        bind_table(*bound)
        client.delete_table(TableName=name)


@pytest.fixture(params=["memory", pytest.param("dynamodb", marks=pytest.mark.integration)])
def catalog(request: pytest.FixtureRequest) -> Catalog:
    """Each contract test runs against both catalogs."""
    if request.param == "memory":
        return InMemoryCatalog()
    found: Catalog = request.getfixturevalue("dynamo_catalog")
    return found


@pytest.fixture
def kind(catalog: Catalog) -> str:
    """Which catalog this run of a test holds: ``memory`` or ``dynamodb``."""
    return "memory" if isinstance(catalog, InMemoryCatalog) else "dynamodb"
