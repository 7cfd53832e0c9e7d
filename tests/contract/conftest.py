"""One catalog contract, two catalogs: the in-memory fake, and the DynamoDB adapter on moto.

The adapter gets a table of its own per test, created in the session's moto server with the
key schema and indexes of the stack's catalog table (``template.yaml``), so every listing a
test makes (schemas, tokens, the outbox, the drafts' index) holds only what that test wrote.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
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
def new_table(
    stack: LocalStack, catalog_table_definition: dict[str, Any]
) -> Iterator[Callable[[], str]]:
    """Creates fresh catalog tables in the moto server (each deleted after the test)."""
    import boto3

    client = boto3.client("dynamodb", region_name=stack.region)
    made: list[str] = []

    def create() -> str:
        name = f"contract-{uuid.uuid4().hex[:12]}"
        client.create_table(TableName=name, **catalog_table_definition)
        made.append(name)
        return name

    yield create
    for name in made:
        client.delete_table(TableName=name)


@pytest.fixture
def dynamo_catalog(stack: LocalStack, new_table: Callable[[], str]) -> Catalog:
    """The DynamoDB adapter on a fresh table (it binds its models to that table alone)."""
    from artifactstore.adapters.dynamodb.catalog import DynamoCatalog

    return DynamoCatalog(new_table(), stack.region)


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
