"""Batch writes ride out a hot partition (issue 16.2): throttling and unprocessed items are
retried with exponential backoff and full jitter, within a budget, then answered 503 ``busy``.

moto never throttles, so the catalog client's own requests are answered by a botocore
``before-call`` hook for the first attempts (``dynamodb_calls``): a throttling error, then a
BatchWriteItem that wrote only half its items (the other half really written beside it) and
returns the rest as ``UnprocessedItems``. The sleeps go through an injected function.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from artifactstore.adapters.dynamodb import file_list_items as file_lists
from artifactstore.adapters.dynamodb import shards, writes
from artifactstore.adapters.dynamodb.writes import Backoff
from artifactstore.domain.digests import Digest
from artifactstore.domain.manifest import FileEntry
from artifactstore.ports.catalog import Busy
from tests.integration.conftest import Configured
from tests.integration.dynamodb_calls import (
    DynamoCalls,
    catalog_client,
    catalog_models,
    throttled,
)
from tests.integration.flow import AUTH, Harness, expected_manifest_digest, run_metadata
from tests.integration.test_file_parts import first_part

pytestmark = pytest.mark.integration


class FakeTime:
    """A clock that moves only when the code sleeps; every sleep recorded."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def backoff(self, **kw: Any) -> Backoff:
        # No jitter: each pause is its ceiling, so the growth is visible.
        return Backoff(sleep=self.sleep, clock=lambda: self.now, jitter=lambda c: c, **kw)


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    time = FakeTime()
    monkeypatch.setattr(writes, "BACKOFF", time.backoff())
    monkeypatch.setattr(writes, "WRITERS_PER_PACKAGE", 1)  # one writer: a fixed request order
    return time


def _files(n: int) -> list[FileEntry]:
    return [FileEntry(f"f{i:04}", i, Digest.of_bytes(f"{uuid.uuid4()}".encode())) for i in range(n)]


class HotPartition:
    """Answers the first BatchWriteItem requests as an overloaded partition would."""

    def __init__(self, cfg: Configured, script: list[str]) -> None:
        self.script = list(script)  # "throttle" | "half" | "throttle_always"
        self.plain = boto3.client("dynamodb")
        self.batch_sizes: list[int] = []
        self.calls = DynamoCalls(catalog_client(cfg.svc.catalog), self.answer)

    def answer(self, operation: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        if operation != "BatchWriteItem":
            return None
        ((table, requests),) = body["RequestItems"].items()
        self.batch_sizes.append(len(requests))
        step = self.script[0] if self.script else None
        if step != "throttle_always" and self.script:
            self.script.pop(0)
        if step in ("throttle", "throttle_always"):
            return throttled()
        if step == "half":
            done, rest = requests[: len(requests) // 2], requests[len(requests) // 2 :]
            self.plain.batch_write_item(RequestItems={table: done})
            return 200, {"UnprocessedItems": {table: rest}}
        return None


@pytest.fixture
def hot(cfg: Configured) -> Iterator[list[HotPartition]]:
    made: list[HotPartition] = []
    yield made
    for partition in made:
        partition.calls.close()


def test_unprocessed_and_throttled_items_are_resent_with_growing_pauses(
    cfg: Configured,
    fake_time: FakeTime,
    hot: list[HotPartition],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(file_lists, "FILES_PER_CHUNK", 1)  # one chunk item per file
    package_id = str(uuid.uuid4())
    files = _files(30)  # 30 chunks: requests of 25 and 5
    partition = HotPartition(cfg, ["throttle", "half", "throttle", "half"])
    hot.append(partition)

    file_lists.add_file_chunks(catalog_models(cfg.svc.catalog), package_id, files)

    assert list(cfg.svc.catalog.iter_files(package_id)) == files  # every item landed
    # 25 sent, throttled; 25 again, half written; the 13 left, throttled; 13 again, half
    # written; the last 7; then the second request of 5.
    assert partition.batch_sizes == [25, 25, 13, 13, 7, 5]
    assert fake_time.sleeps == [0.05, 0.1, 0.2, 0.4]


def test_a_partition_that_stays_hot_is_busy_within_the_budget(
    cfg: Configured, fake_time: FakeTime, hot: list[HotPartition]
) -> None:
    hot.append(HotPartition(cfg, ["throttle_always"]))
    with pytest.raises(Busy) as raised:
        file_lists.add_file_chunks(catalog_models(cfg.svc.catalog), str(uuid.uuid4()), _files(3))
    assert raised.value.code == "busy"
    sleeps = fake_time.sleeps
    assert sleeps[:6] == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6]
    assert set(sleeps[6:]) == {2.0}  # capped
    assert sum(sleeps) <= 20.0 < sum(sleeps) + 2.0  # gave up when the next pause would pass it


def test_full_jitter_stays_under_the_growing_ceiling() -> None:
    seen: list[float] = []

    def half(ceiling: float) -> float:
        seen.append(ceiling)
        return ceiling / 2

    policy = Backoff(jitter=half)
    assert [policy.delay(n) for n in range(8)] == [c / 2 for c in seen]
    assert seen == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    default = Backoff()
    assert all(0 <= default.delay(n) <= min(2.0, 0.05 * 2**n) for n in range(12))


def test_post_packages_on_a_throttled_catalog_answers_503_busy(
    cfg: Configured, fake_time: FakeTime, hot: list[HotPartition]
) -> None:
    h = Harness.start(cfg)
    hot.append(HotPartition(cfg, ["throttle_always"]))
    answer = h.create(str(uuid.uuid4()), {"a": f"{uuid.uuid4()}".encode()})
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == "busy"


def test_the_parts_of_a_list_are_deleted_through_throttling(
    cfg: Configured, fake_time: FakeTime, hot: list[HotPartition]
) -> None:
    h = Harness.start(cfg)
    key = str(uuid.uuid4())
    files = {f"p{i}": f"{uuid.uuid4()}".encode() for i in range(4)}
    digest = expected_manifest_digest(key, run_metadata(key), files)
    part = dict(list(files.items())[:2])
    created = h.client.post("/packages", json=first_part(key, part, 4, digest), headers=AUTH)
    assert created.status_code == 201, created.text
    package_id = created.json()["package_id"]
    partition = HotPartition(cfg, ["throttle", "half"])
    hot.append(partition)

    models = catalog_models(cfg.svc.catalog)
    file_lists.delete_parts(models, package_id)

    assert file_lists.read_parts(models, package_id) == []
    parts = models.FilePartModel.query(
        f"PKG#{package_id}", models.FilePartModel.sk.startswith("PART#"), consistent_read=True
    )
    assert not list(parts)
    assert partition.batch_sizes == [2, 2, 1]  # the marker and the part item
    assert fake_time.sleeps == [0.05, 0.1]


def test_a_sharded_list_is_written_a_key_per_request_and_a_writer_per_key(
    cfg: Configured, fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shards, "FILES_PER_SHARD", 10)  # 80 files: eight partition keys
    monkeypatch.setattr(file_lists, "FILES_PER_CHUNK", 1)  # one chunk item per file
    h = Harness.start(cfg)
    files = {f"s{i:03}": f"{uuid.uuid4()}".encode() for i in range(80)}
    sent: list[tuple[str, set[str]]] = []
    lock = threading.Lock()

    def answer(operation: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        if operation == "BatchWriteItem":
            (requests,) = body["RequestItems"].values()
            keys = {
                (r.get("PutRequest", {}).get("Item") or r["DeleteRequest"]["Key"])["pk"]["S"]
                for r in requests
            }
            with lock:
                first = not sent
                sent.append((threading.current_thread().name, keys))
            if first:
                return throttled()  # the first request is resent, alone on its key's writer
        return None

    calls = DynamoCalls(catalog_client(cfg.svc.catalog), answer)
    try:
        created = h.create(str(uuid.uuid4()), files)
    finally:
        calls.close()
    assert created.status_code == 201, created.text
    package_id = created.json()["package_id"]

    assert all(len(keys) == 1 for _, keys in sent)  # each request to one partition key
    writers: dict[str, set[str]] = {}
    for thread, (key,) in sent:
        writers.setdefault(key, set()).add(thread)
    assert sorted(writers) == sorted(shards.shard_keys(package_id, 8))
    # Several keys written at once, on several threads (one writer per key).
    assert len({t for threads in writers.values() for t in threads}) > 1
    assert fake_time.sleeps == [0.05]
    catalog = cfg.svc.catalog
    assert [f.path for f in catalog.iter_files(package_id)] == sorted(files)
    assert len(list(catalog.blob_states(package_id))) == 80
