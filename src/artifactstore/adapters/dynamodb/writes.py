"""Batch writes that survive a hot partition: unprocessed items and throttling are retried with
exponential backoff and full jitter, within a bounded time, then answered ``busy`` (a 503).

A package's items share one partition key (``PKG#<id>``), and one partition takes about 1,000
write units a second; the figures are in ``docs/catalog.md``. PynamoDB's own batch writer
resends unprocessed items twice, at once, and then raises (a 500). Here every BatchWriteItem
request (25 items) is resent until nothing is left, sleeping ``Backoff.delay`` between tries,
and a package's writes run on at most ``WRITERS_PER_PACKAGE`` threads: more would only share
the same partition's throughput and spend the retry budget faster.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.models import Model

from artifactstore.ports.catalog import Busy
from artifactstore.workers import parallel_map

BATCH = 25  # items per BatchWriteItem request (DynamoDB's limit)
WRITERS_PER_PACKAGE = 2
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
    table_name: str,
    puts: Sequence[Model] = (),
    deletes: Sequence[Model] = (),
    backoff: Backoff | None = None,
) -> None:
    """Put and delete many items of one package; every one lands or ``Busy`` is raised."""
    requests: list[dict[str, Any]] = [{"DeleteRequest": {"Key": _key(m)}} for m in deletes]
    requests += [{"PutRequest": {"Item": m.serialize()}} for m in puts]
    if not requests:
        return
    batches = [requests[i : i + BATCH] for i in range(0, len(requests), BATCH)]
    # Contiguous runs of batches, one thread each: at most WRITERS_PER_PACKAGE at once.
    per_writer = -(-len(batches) // WRITERS_PER_PACKAGE)
    runs = [batches[i : i + per_writer] for i in range(0, len(batches), per_writer)]
    connection = _connection()
    policy = backoff or BACKOFF
    started = policy.clock()  # one budget for the whole write, however many requests

    def write_run(run: list[list[dict[str, Any]]]) -> None:
        for batch in run:
            _write_batch(connection, table_name, batch, policy, started)

    parallel_map(write_run, runs)


def _key(item: Model) -> dict[str, Any]:
    """The item's key attributes as DynamoDB wants them (every catalog item: pk and sk)."""
    return {k: v for k, v in item.serialize(null_check=False).items() if k in ("pk", "sk")}


def _connection() -> Any:
    from artifactstore.adapters.dynamodb.models import PackageModel

    return PackageModel._get_connection().connection


def _write_batch(
    connection: Any, table_name: str, batch: list[dict[str, Any]], policy: Backoff, started: float
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
