"""Two DynamoDB catalogs on two tables in one process (issue 15): each binds its own models to its
own table (``adapters/dynamodb/binding.py``), so neither sees the other's items, and both work at
once, interleaved and from threads.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pytest
from localdev.stack import LocalStack

from artifactstore.domain.packages import BlobState, BlobStatus, PackageState
from artifactstore.errors import NotFound
from tests.contract.test_catalog_contract import (
    HOUR,
    MANIFEST,
    T0,
    _schema,
    digest,
    files_of,
    new_record,
    stored,
)

if TYPE_CHECKING:
    from artifactstore.adapters.dynamodb.catalog import DynamoCatalog

pytestmark = pytest.mark.integration
Two = tuple["DynamoCatalog", "DynamoCatalog"]


@pytest.fixture
def two(stack: LocalStack, new_table: Callable[[], str]) -> Two:
    """Two DynamoDB catalogs, each on a fresh table of its own."""
    from artifactstore.adapters.dynamodb.catalog import DynamoCatalog

    return DynamoCatalog(new_table(), stack.region), DynamoCatalog(new_table(), stack.region)


def test_two_catalogs_on_two_tables_work_interleaved_and_apart(two: Two) -> None:
    a, b = two
    assert a.models.table_name != b.models.table_name
    assert a.models.connection is not b.models.connection

    # The same producer and key in both: a claim in one table does not take the other's.
    first = new_record(key="same-key", blob_count=2)
    a.create_package(first)
    with pytest.raises(NotFound):
        b.get_package(first.package_id)
    assert b.find_claim(first.producer, "same-key") is None
    second = new_record(key="same-key", blob_count=2)
    b.create_package(second)
    assert a.find_claim(first.producer, "same-key") == (first.package_id, first.fingerprint)
    assert b.find_claim(first.producer, "same-key") == (second.package_id, second.fingerprint)

    # Batch writes, transactions and index queries, alternating between the tables.
    files = files_of(6, kinds=2)
    a.add_files(first.package_id, files, verified_hex=set(), expires_at=first.expires_at)
    b.add_files(second.package_id, files[:3], verified_hex=set(), expires_at=second.expires_at)
    assert a.set_blob_status(first.package_id, digest(0), BlobStatus.VERIFIED) is True
    assert b.set_blob_status(second.package_id, digest(0), BlobStatus.VERIFIED) is True
    assert a.set_blob_status(first.package_id, digest(1), BlobStatus.VERIFIED) is True
    assert list(a.iter_files(first.package_id)) == files
    assert list(b.iter_files(second.package_id)) == files[:3]
    assert list(b.iter_files(first.package_id)) == []
    assert a.get_blob_state(first.package_id, digest(1)) == BlobState(
        digest(1), 11, BlobStatus.VERIFIED
    )
    assert b.get_blob_state(second.package_id, digest(1)) == BlobState(
        digest(1), 11, BlobStatus.PENDING
    )
    for catalog, record in ((a, first), (b, second)):
        catalog.mark_files_complete(record.package_id)
        catalog.request_finalize(record.package_id)
    assert a.seal(a.get_package(first.package_id), MANIFEST, T0 + HOUR) is True
    assert b.seal(b.get_package(second.package_id), MANIFEST, T0 + HOUR) is False  # 1 of 2

    def listed(catalog: DynamoCatalog, state: str) -> list[str]:
        page = catalog.list_packages(
            producer=first.producer, state=state, key=None, limit=10, cursor=None
        )
        return [p.package_id for p in page.items]

    assert listed(a, "sealed") == [first.package_id] and listed(a, "draft") == []
    assert listed(b, "draft") == [second.package_id] and listed(b, "sealed") == []
    assert a.get_package(first.package_id) == stored(
        first,
        verified_count=2,
        files_complete=True,
        finalize_requested=True,
        state=PackageState.SEALED,
        manifest_digest=MANIFEST,
        sealed_at=T0 + HOUR,
    )
    assert [p.package_id for p in a.unpublished_seals()] == [first.package_id]
    assert b.unpublished_seals() == []

    assert a.put_schema(_schema("tables.run"), T0) == (True, T0)
    assert [s.slug for s in a.list_schemas(10, None).items] == ["tables.run"]
    assert b.list_schemas(10, None).items == []


def test_two_catalogs_on_two_tables_work_at_once_from_threads(two: Two) -> None:
    a, b = two
    records = [new_record(key=f"key-{i}") for i in range(8)]
    catalogs = [a if i % 2 == 0 else b for i in range(8)]

    def create(i: int) -> None:
        catalogs[i].create_package(records[i])
        catalogs[i].add_files(
            records[i].package_id, files_of(3), verified_hex=set(), expires_at=T0 + HOUR
        )

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(create, range(8)))

    for catalog, other in ((a, b), (b, a)):
        mine = [r for r, c in zip(records, catalogs, strict=True) if c is catalog]
        for record in mine:
            assert catalog.get_package(record.package_id).idempotency_key == record.idempotency_key
            assert list(catalog.iter_files(record.package_id)) == files_of(3)
            with pytest.raises(NotFound):
                other.get_package(record.package_id)
        page = catalog.list_packages(
            producer=records[0].producer, state="draft", key=None, limit=20, cursor=None
        )
        assert {p.package_id for p in page.items} == {r.package_id for r in mine}
