"""The catalog's item types bound to one table: nothing is bound process-wide.

``models.py`` holds templates that name no table. ``bind_models`` makes, for one (table, region),
a subclass of each template with its own ``Meta`` (naming the table and region) and its own index
instances (PynamoDB ties an index instance to one model class), and gives all of them one
connection: PynamoDB would otherwise build a botocore session and client per model class, each
loading botocore's service models again (0.1-0.5 s apiece on a cold start). The package model's
connection is the one shared, as its key schema includes every index. Nothing connects here:
the botocore client is made on first use. Two sets bound to two tables work side by side.
"""

from __future__ import annotations

import inspect
import types
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from pynamodb.connection import Connection
from pynamodb.indexes import Index
from pynamodb.models import Model

from artifactstore.adapters.dynamodb import models as templates

_M = TypeVar("_M", bound=Model)


@dataclass(frozen=True, eq=False)
class TableModels:
    """Every item type of the catalog, bound to one table, over one connection."""

    table_name: str
    region: str | None
    connection: Connection  # every model's, and the transactions' and batch writes'
    PackageModel: type[templates.PackageModel]
    KeyClaimModel: type[templates.KeyClaimModel]
    SchemaModel: type[templates.SchemaModel]
    TokenModel: type[templates.TokenModel]
    FileChunkModel: type[templates.FileChunkModel]
    FilePartModel: type[templates.FilePartModel]
    BlobBucketModel: type[templates.BlobBucketModel]
    BundleModel: type[templates.BundleModel]
    BlobModel: type[templates.BlobModel]
    PackModel: type[templates.PackModel]
    # Each package's shard count, read once per package (``shards.shards_of``): a fact of
    # this table's packages, so kept with it.
    shard_counts: dict[str, int] = field(default_factory=dict, repr=False)


def bind_models(table_name: str, region: str | None = None) -> TableModels:
    """A fresh set of the catalog's item types bound to ``table_name`` in ``region``."""
    package = _bound(templates.PackageModel, table_name, region)
    shared = package._get_connection()  # no request: botocore's client is made on first use

    def bound(template: type[_M]) -> type[_M]:
        model = _bound(template, table_name, region)
        model._connection = shared
        return model

    return TableModels(
        table_name=table_name,
        region=region,
        connection=shared.connection,
        PackageModel=package,
        KeyClaimModel=bound(templates.KeyClaimModel),
        SchemaModel=bound(templates.SchemaModel),
        TokenModel=bound(templates.TokenModel),
        FileChunkModel=bound(templates.FileChunkModel),
        FilePartModel=bound(templates.FilePartModel),
        BlobBucketModel=bound(templates.BlobBucketModel),
        BundleModel=bound(templates.BundleModel),
        BlobModel=bound(templates.BlobModel),
        PackModel=bound(templates.PackModel),
    )


def _bound(template: type[_M], table_name: str, region: str | None) -> type[_M]:
    """A subclass of ``template`` on the table: its own ``Meta`` and index instances."""
    base_meta = cast(type, template.Meta)
    namespace: dict[str, Any] = {
        "__module__": template.__module__,
        "__qualname__": template.__qualname__,
        "Meta": type("Meta", (base_meta,), {"table_name": table_name, "region": region}),
        # Caught by ``except <template>.DoesNotExist`` as well as by the bound class's.
        "DoesNotExist": type(
            "DoesNotExist",
            (template.DoesNotExist,),
            {
                "__module__": template.__module__,
                "__qualname__": f"{template.__qualname__}.DoesNotExist",
            },
        ),
        # Fresh indexes: one inherited from the template would query through the template.
        **{
            name: type(index)()
            for name, index in inspect.getmembers(template, lambda o: isinstance(o, Index))
        },
    }
    model = types.new_class(
        template.__name__, (template,), exec_body=lambda ns: ns.update(namespace)
    )
    return cast(type[_M], model)
