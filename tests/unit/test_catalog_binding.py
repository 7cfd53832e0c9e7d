"""The catalog's models are bound per table, never process-wide (issue 15): ``bind_models`` makes
subclasses of the templates in ``models.py`` naming one table, with their own indexes and one
shared connection; the templates themselves cannot reach any table, and the adapter's modules
reach the table only through bound models. No request is sent here."""

from __future__ import annotations

import ast
from dataclasses import fields
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from pynamodb.indexes import Index
from pynamodb.models import Model

from artifactstore.adapters.dynamodb import models as templates
from artifactstore.adapters.dynamodb.binding import TableModels, bind_models

ADAPTER = Path(__file__).resolve().parents[2] / "src" / "artifactstore" / "adapters" / "dynamodb"


def bound_classes(models: TableModels) -> dict[str, type[Model]]:
    found = {f.name: getattr(models, f.name) for f in fields(models)}
    return {name: cls for name, cls in found.items() if name.endswith("Model")}


def test_each_model_is_a_subclass_of_its_template_naming_the_table() -> None:
    models = bind_models("table-a", "eu-west-1")
    classes = bound_classes(models)
    assert len(classes) == 10
    for name, cls in classes.items():
        template = getattr(templates, name)
        assert cls is not template and issubclass(cls, template)
        assert cls.__name__ == name
        assert (cls.Meta.table_name, cls.Meta.region) == ("table-a", "eu-west-1")
        # What a template defines is the bound model's too: the same attributes.
        assert cls.get_attributes() == template.get_attributes()
        # A missing item of a bound model is caught as the template's (and PynamoDB's).
        assert issubclass(cls.DoesNotExist, template.DoesNotExist)


def test_each_index_queries_through_its_bound_model() -> None:
    models = bind_models("table-a")
    for name, cls in bound_classes(models).items():
        template_indexes = dict(_indexes(getattr(templates, name)))
        assert {n for n, _ in _indexes(cls)} == set(template_indexes)
        for name, index in _indexes(cls):
            assert index._model is cls, name
            assert index is not template_indexes[name]
    assert set(models.PackageModel._indexes) == {"by_producer", "by_state", "outbox", "expiry"}
    assert set(models.BlobModel._indexes) == {"expiry"}


def _indexes(cls: type[Model]) -> list[tuple[str, Index[Any]]]:
    return [(n, i) for n, i in vars(cls).items() if isinstance(i, Index)]


def test_the_models_of_a_table_share_one_connection_and_one_botocore_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[str] = []
    create_client = botocore.session.Session.create_client

    def counted(self: botocore.session.Session, *args: Any, **kwargs: Any) -> Any:
        made.append(args[0] if args else kwargs["service_name"])
        return create_client(self, *args, **kwargs)

    monkeypatch.setattr(botocore.session.Session, "create_client", counted)
    for name, value in (("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test")):
        monkeypatch.setenv(name, value)  # credentials from the environment: no lookup sent
    models = bind_models("table-a", "eu-west-1")
    assert made == []  # binding connects nothing
    tables = {id(cls._get_connection()) for cls in bound_classes(models).values()}
    assert len(tables) == 1
    assert models.PackageModel._get_connection().connection is models.connection
    clients = {
        id(cls._get_connection().connection.client) for cls in bound_classes(models).values()
    }
    assert len(clients) == 1 and made == ["dynamodb"]  # a cold start builds one client


def test_two_tables_share_nothing_and_the_templates_stay_unbound() -> None:
    a, b = bind_models("table-a", "eu-west-1"), bind_models("table-b", "us-east-1")
    assert a.connection is not b.connection
    assert a.PackageModel is not b.PackageModel
    assert a.PackageModel._get_connection().table_name == "table-a"
    assert b.KeyClaimModel._get_connection().table_name == "table-b"
    assert a.shard_counts is not b.shard_counts
    for name in bound_classes(a):
        template = getattr(templates, name)
        assert not hasattr(template.Meta, "table_name")
        assert template._connection is None
        with pytest.raises(AttributeError, match="table_name"):
            template._get_connection()  # a template reads and writes nothing


def test_adapter_modules_import_the_templates_for_typing_only() -> None:
    """Only ``binding.py`` uses the templates at run time; every other module of the adapter
    names them in annotations (under ``TYPE_CHECKING``), so all I/O goes through bound
    models."""
    offenders = []
    for path in sorted(ADAPTER.glob("*.py")):
        if path.name in ("models.py", "binding.py"):
            continue
        tree = ast.parse(path.read_text(), str(path))
        typing_only = {
            id(node)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and ast.unparse(block.test) == "TYPE_CHECKING"
            for node in ast.walk(block)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only or not isinstance(node, ast.ImportFrom):
                continue
            names = {alias.name for alias in node.names}
            if node.module == "artifactstore.adapters.dynamodb.models":
                offenders += [f"{path.name}: {n}" for n in names if n.endswith("Model")]
            if node.module == "artifactstore.adapters.dynamodb" and "models" in names:
                offenders.append(f"{path.name}: models")
    assert offenders == []
