"""Batch writes that survive a hot partition: unprocessed items and throttling are retried with
exponential backoff and full jitter, within a bounded time, then answered ``busy`` (a 503).

A package's items sit under one partition key (``PKG#<id>``), or a large list's under a few
(``shards.py``), and one partition takes about 1,000 write units a second; the figures are in
``docs/catalog.md``. PynamoDB's own batch writer resends unprocessed items twice, at once, and
then raises (a 500). Here every BatchWriteItem request (25 items, all of one partition key) is
resent until nothing is left, sleeping ``Backoff.delay`` between tries. Each partition key gets
one writer thread, sending its requests in turn; a write to a single key gets
``WRITERS_PER_PACKAGE``: more threads on one key would only share its throughput and spend the
retry budget faster.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError
from pynamodb.connection import Connection
from pynamodb.models import Model

from artifactstore.ports.catalog import Busy
from artifactstore.workers import parallel_map

if TYPE_CHECKING:
    from artifactstore.adapters.dynamodb.binding import TableModels

_W = TypeVar("_W")
BATCH = 25  # items per BatchWriteItem request (DynamoDB's limit)
WRITERS_PER_PACKAGE = 2  # writers of a write to one partition key (several keys: one each)
# Errors DynamoDB answers when a partition or the table is over its throughput: worth waiting.
THROTTLED = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
    }
)


@dataclass
class Backoff:
    """Exponential backoff with full jitter: before retry ``n`` (from 0), sleep a uniform time
    in ``[0, min(cap, base * 2**n)]``; give up once ``budget`` seconds have passed since the
    first try. ``sleep``, ``clock`` and ``jitter`` are injectable for tests."""

    base: float = 0.05
    cap: float = 2.0
    budget: float = 20.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    jitter: Callable[[float], float] = field(default=lambda ceiling: random.uniform(0, ceiling))

    def delay(self, attempt: int) -> float:
        """The pause before retry ``attempt`` (0-based)."""
        return self.jitter(min(self.cap, self.base * 2**attempt))


BACKOFF = Backoff()  # module-level so tests can swap in recorded sleeps


def write_items(
    models: TableModels,
    puts: Sequence[Model] = (),
    deletes: Sequence[Model] = (),
    backoff: Backoff | None = None,
) -> None:
    """Put and delete many items of one package in the table ``models`` are bound to, over
    their connection; every one lands or ``Busy`` is raised."""
    by_key: dict[str, list[dict[str, Any]]] = {}
    for m in deletes:
        key = _key(m)
        by_key.setdefault(key["pk"]["S"], []).append({"DeleteRequest": {"Key": key}})
    for m in puts:
        item = m.serialize()
        by_key.setdefault(item["pk"]["S"], []).append({"PutRequest": {"Item": item}})
    if not by_key:
        return
    # Requests of one key each, in runs: one thread per key (WRITERS_PER_PACKAGE for one key).
    runs = writer_runs(
        [reqs[i : i + BATCH] for i in range(0, len(reqs), BATCH)] for reqs in by_key.values()
    )
    connection, table_name = models.connection, models.table_name
    policy = backoff or BACKOFF
    started = policy.clock()  # one budget for the whole write, however many requests

    def write_run(run: Sequence[list[dict[str, Any]]]) -> None:
        for batch in run:
            _write_batch(connection, table_name, batch, policy, started)

    parallel_map(write_run, runs)


def writer_runs(per_key: Iterable[Sequence[_W]]) -> list[Sequence[_W]]:
    """The work of each writer thread, given the work per partition key: each key its own
    writer (at most ``shards.MAX_SHARDS``); the work of a single key cut into
    ``WRITERS_PER_PACKAGE`` contiguous runs."""
    groups = [g for g in per_key if g]
    if len(groups) != 1:
        return groups
    (only,) = groups
    per_writer = -(-len(only) // WRITERS_PER_PACKAGE)
    return [only[i : i + per_writer] for i in range(0, len(only), per_writer)]


def _key(item: Model) -> dict[str, Any]:
    """The item's key attributes as DynamoDB wants them (every catalog item: pk and sk)."""
    return {k: v for k, v in item.serialize(null_check=False).items() if k in ("pk", "sk")}


def _write_batch(
    connection: Connection,
    table_name: str,
    batch: list[dict[str, Any]],
    policy: Backoff,
    started: float,
) -> None:
    """One BatchWriteItem request, resent (only what is left) until every item is written."""
    pending = batch
    attempt = 0
    while True:
        try:
            answer = connection.dispatch("BatchWriteItem", {"RequestItems": {table_name: pending}})
            pending = (answer.get("UnprocessedItems") or {}).get(table_name) or []
        except ClientError as exc:  # PynamoDB's dispatch raises botocore's error, unwrapped
            if exc.response.get("Error", {}).get("Code") not in THROTTLED:
                raise
        if not pending:
            return
        pause = policy.delay(attempt)
        if policy.clock() - started + pause > policy.budget:
            raise Busy(
                f"the catalog is throttling writes ({len(pending)} items still unwritten after "
                f"{attempt + 1} attempts); retry in a moment",
                details={"unwritten": len(pending), "attempts": attempt + 1},
            )
        policy.sleep(pause)
        attempt += 1
