"""Reads of the base table are strongly consistent (issue 16.4).

moto never serves a stale read, so the test looks at the requests instead: a package sent in
parts, completed, uploaded, verified, finalized, sealed and read back, with every Query, GetItem
and BatchGetItem on the table (not an index: those cannot be consistent) carrying
``ConsistentRead: true``. Eventually consistent reads of the parts a request has just written
(``read_parts``) or of the chunks it has just written (``iter_files``, when sealing) were an
intermittent ``file_count_mismatch`` / manifest mismatch on real DynamoDB.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.conftest import Configured
from tests.integration.dynamodb_calls import Call, DynamoCalls, catalog_client
from tests.integration.flow import (
    AUTH,
    Harness,
    digest_of,
    expected_manifest_digest,
    run_metadata,
)
from tests.integration.test_file_parts import entries, first_part

pytestmark = pytest.mark.integration

READS = {"Query", "GetItem", "BatchGetItem", "Scan"}


@pytest.fixture
def dynamo(cfg: Configured) -> Iterator[DynamoCalls]:
    recorder = DynamoCalls(catalog_client(cfg.svc.catalog))
    yield recorder
    recorder.close()


def _consistent(call: Call) -> bool:
    if call.operation == "BatchGetItem":
        return all(t.get("ConsistentRead") is True for t in call.body["RequestItems"].values())
    return call.body.get("ConsistentRead") is True


def _base_table_reads(calls: list[Call]) -> list[Call]:
    return [c for c in calls if c.operation in READS and "IndexName" not in c.body]


def _prefix(call: Call) -> str:
    values: dict[str, Any] = call.body.get("ExpressionAttributeValues", {})
    texts = sorted(str(v.get("S", "")) for v in values.values())
    return ",".join(t.split("#")[0] for t in texts)


def test_every_base_table_read_of_a_package_life_is_consistent(
    cfg: Configured, dynamo: DynamoCalls
) -> None:
    h = Harness.start(cfg)
    nonce = uuid.uuid4().hex
    files = {f"dir/{i:02}.txt": f"{nonce} {i}".encode() for i in range(12)}
    key = str(uuid.uuid4())
    digest = expected_manifest_digest(key, run_metadata(key), files)
    names = sorted(files)
    first, second = {n: files[n] for n in names[:6]}, {n: files[n] for n in names[6:]}
    dynamo.calls.clear()

    created = h.client.post("/packages", json=first_part(key, first, 12, digest), headers=AUTH)
    assert created.status_code == 201, created.text
    package_id = created.json()["package_id"]
    done = h.client.post(
        f"/packages/{package_id}/files",
        json={"files": entries(second), "complete": True},
        headers=AUTH,
    )
    assert done.status_code == 200, done.text
    by_digest = {digest_of(d): d for d in files.values()}
    for target in done.json()["upload_targets"]:
        h.upload(target, by_digest[target["digest"]])
    h.pump()
    sealed = h.client.post(f"/packages/{package_id}/finalize", headers=AUTH)
    assert sealed.status_code == 200 and sealed.json()["state"] == "sealed", sealed.text
    assert h.client.get(f"/packages/{package_id}", headers=AUTH).status_code == 200

    reads = _base_table_reads(dynamo.calls)
    queries = [c for c in reads if c.operation == "Query"]
    # The paths the issue names were exercised: the parts read back, the chunks read back.
    assert any("PART" in _prefix(c) for c in queries), [_prefix(c) for c in queries]
    assert any("FILE" in _prefix(c) for c in queries), [_prefix(c) for c in queries]
    stale = [(c.operation, _prefix(c)) for c in reads if not _consistent(c)]
    assert stale == []
