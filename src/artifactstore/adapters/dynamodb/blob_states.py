"""Blob statuses of packages: buckets of up to 64 distinct digests (``sk=BLOB#<first hex>``),
under the partition key of the digests' shard (``shards.py``; one key for all but large lists).

Each verification moves one entry (or a bundle's entries, bucket by bucket) in a transaction with
the package's counters. Layout and its reasons: ``docs/catalog.md``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from artifactstore.adapters.dynamodb import file_list_items
from artifactstore.adapters.dynamodb.file_list_items import BLOB_PREFIX, chunk_at
from artifactstore.adapters.dynamodb.models import item_key
from artifactstore.adapters.dynamodb.shards import (
    hex_shard,
    merged,
    shard_key,
    shard_keys,
    shards_of,
)
from artifactstore.adapters.dynamodb.support import (
    PKG_SK,
    TRANSACTION_CANCELED,
    CatalogTable,
    StaleWrite,
    error_code,
)
from artifactstore.domain.digests import Digest
from artifactstore.domain.packages import BlobState, BlobStatus, PackageState
from artifactstore.errors import NotFound

if TYPE_CHECKING:  # the templates: every read and write goes through ``self.models``
    from pynamodb.attributes import NumberAttribute

    from artifactstore.adapters.dynamodb.binding import TableModels
    from artifactstore.adapters.dynamodb.models import BlobBucketModel, PackageModel

_COUNTED = (BlobStatus.VERIFIED, BlobStatus.REJECTED)  # the package item counts these


@dataclass(frozen=True)
class _Bucket:
    """Where a bucket item is: its partition key (of its shard) and its sort key."""

    pk: str
    sk: str

    @classmethod
    def of_slot(cls, package_id: str, slot: str) -> _Bucket | None:
        """The bucket a ``BlobState.slot`` names (``<shard>:<sort key>``, as ``_blob_state``
        writes it): always one of this package's keys."""
        shard, _, sk = slot.partition(":")
        if not shard.isdigit() or not sk:
            return None
        return cls(shard_key(package_id, int(shard)), sk)


class BlobStateStore(CatalogTable):
    """Read and move the statuses of a package's distinct blobs."""

    def _state(self, package_id: str) -> PackageState:
        packages = self.models.PackageModel
        item = packages.get(item_key("PKG", package_id), PKG_SK, consistent_read=True)
        return PackageState(item.state)

    def blob_states(self, package_id: str, status: BlobStatus | None = None) -> Iterator[BlobState]:
        """The package's distinct blobs in digest order, optionally only those in one status:
        the shards' runs merged."""
        keys = shard_keys(package_id, shards_of(self.models, package_id))
        buckets = self.models.BlobBucketModel
        streams = [_shard_states(buckets, shard, pk, status) for shard, pk in enumerate(keys)]
        return merged(streams, key=lambda b: b.digest.hex)

    def blob_states_between(self, package_id: str, first: str, last: str) -> dict[str, BlobState]:
        """The package's blobs whose digest hex lies in ``[first, last]``, by hex: only the
        buckets of that range are read."""
        found: dict[str, BlobState] = {}
        for shard, pk in enumerate(shard_keys(package_id, shards_of(self.models, package_id))):
            for bucket in _buckets_between(self.models.BlobBucketModel, pk, first, last):
                for state in _bucket_states(bucket, shard):
                    if first <= state.digest.hex <= last:
                        found[state.digest.hex] = state
        return found

    def unverified_blob_states(
        self, package_id: str, after: str | None, limit: int
    ) -> list[BlobState]:
        """At most ``limit`` blobs not verified after ``after``, in digest order: each shard
        is read from its bucket holding ``after``, in pages of at most the fewest buckets that
        could hold the blobs still wanted, and no further once ``limit`` are found (a later
        page of upload targets reads its own part of a large list, not all of it)."""
        found: list[BlobState] = []
        if limit <= 0:
            return found
        keys = shard_keys(package_id, shards_of(self.models, package_id))
        buckets = self.models.BlobBucketModel

        def wanted() -> int:
            return limit - len(found)

        streams = [
            _unverified_after(buckets, shard, pk, after, wanted, grow=len(keys) > 1)
            for shard, pk in enumerate(keys)
        ]
        for state in merged(streams, key=lambda b: b.digest.hex):
            found.append(state)
            if len(found) >= limit:
                break  # the merge asks no shard for more
        return found

    def get_blob_state(self, package_id: str, digest: Digest) -> BlobState | None:
        """One distinct blob of a package (read from its shard alone), or None when the package
        does not list it."""
        shard = hex_shard(digest.hex, shards_of(self.models, package_id))
        bucket = _bucket_of(self.models.BlobBucketModel, shard_key(package_id, shard), digest.hex)
        return None if bucket is None else _blob_state(bucket, digest.hex, shard)

    def set_blob_status(
        self,
        package_id: str,
        digest: Digest,
        new: BlobStatus,
        seen: str | None = None,
        expected: BlobState | None = None,
    ) -> bool:
        """Move one blob to ``new`` and adjust the package's counters, in one transaction.

        Returns False when the blob already had that status (a redelivery): nothing is counted
        twice. A verified blob never goes back. Concurrent verifications of one package all
        update its item, so a lost transaction is retried after a short, growing pause.
        ``expected``, the state the caller just read with ``get_blob_state``, saves the first
        read (buckets never move once written); the transaction's condition still checks its
        status, and a lost condition reads again.
        """
        pk = item_key("PKG", package_id)
        hinted = _Bucket.of_slot(package_id, expected.slot) if expected and expected.slot else None
        for attempt in range(8):
            if attempt == 0 and expected is not None and hinted is not None:
                where, current = hinted, expected.status
            else:
                shard = hex_shard(digest.hex, shards_of(self.models, package_id))
                bucket_pk = shard_key(package_id, shard)
                bucket = _bucket_of(self.models.BlobBucketModel, bucket_pk, digest.hex)
                if bucket is None:
                    raise NotFound(
                        f"package {package_id} lists no blob {digest}", code="blob_not_listed"
                    )
                where = _Bucket(bucket_pk, bucket.sk)
                current = _blob_state(bucket, digest.hex, shard).status
            if current == new or current is BlobStatus.VERIFIED:
                return False
            if self._move_bucket(pk, where, {digest.hex: current}, {digest.hex: (new, seen)}):
                return True
            if self._state(package_id) is not PackageState.DRAFT:
                return False
            time.sleep(random.uniform(0, 0.01 * 2**attempt))
        raise StaleWrite(f"blob {digest} of package {package_id} kept changing")

    def set_blob_statuses(
        self, package_id: str, changes: Mapping[str, tuple[BlobStatus, str | None]]
    ) -> set[str]:
        """Move many blobs (hex → (new status, seen digest)) at once: one transaction per
        bucket with the package's counters. Returns the hexes that moved; as with
        ``set_blob_status``, a blob already so, or verified, does not move. A bucket whose
        transaction loses a race is done blob by blob. Only the shards of the changes are
        read; nothing moves when one of them is not listed."""
        if not changes:
            return set()
        pk = item_key("PKG", package_id)
        ordered = sorted(changes)
        buckets = _buckets_of(self.models, package_id, ordered)
        listed = {h for _, b in buckets for h in b.status.attribute_values if h in changes}
        missing = [h for h in ordered if h not in listed]
        if missing:
            raise NotFound(
                f"package {package_id} lists no blob {Digest(missing[0])}", code="blob_not_listed"
            )
        moved: set[str] = set()
        for where, bucket in buckets:
            todo = {
                h: BlobStatus(was)
                for h, was in bucket.status.attribute_values.items()
                if h in changes and was != BlobStatus.VERIFIED and was != changes[h][0]
            }
            if not todo:
                continue
            if self._move_bucket(pk, where, todo, changes):
                moved |= set(todo)
                continue
            for h in todo:  # lost a race: blob by blob, each re-read
                new, seen = changes[h]
                if self.set_blob_status(package_id, Digest(h), new, seen):
                    moved.add(h)
        return moved

    def _move_bucket(
        self,
        pk: str,
        bucket: _Bucket,
        current: Mapping[str, BlobStatus],
        changes: Mapping[str, tuple[BlobStatus, str | None]],
    ) -> bool:
        """One transaction: these entries of one bucket, conditioned on their statuses read,
        and the package's counters. False when it lost a race (nothing changed)."""
        m = self.models
        actions: list[Action] = []
        condition: Condition | None = None
        deltas = dict.fromkeys(_COUNTED, 0)
        for h, was in current.items():
            new, seen = changes[h]
            actions.append(m.BlobBucketModel.status[h].set(new.value))
            actions.append(
                m.BlobBucketModel.seen[h].set(seen) if seen else m.BlobBucketModel.seen[h].remove()
            )
            check = m.BlobBucketModel.status[h] == was.value
            condition = check if condition is None else condition & check
            deltas[new] += 1
            if was in deltas:
                deltas[was] -= 1
        counters: list[Action] = [
            _counter(m.PackageModel, s).add(n) for s, n in deltas.items() if n
        ]
        try:
            with TransactWrite(connection=self._connection()) as tx:
                tx.update(
                    m.BlobBucketModel(bucket.pk, bucket.sk), actions=actions, condition=condition
                )
                tx.update(
                    m.PackageModel(pk, PKG_SK),
                    actions=counters,
                    condition=m.PackageModel.state == "draft",
                )
            return True
        except TransactWriteError as exc:
            if error_code(exc) != TRANSACTION_CANCELED:
                raise
            return False


def _counter(packages: type[PackageModel], status: BlobStatus) -> NumberAttribute:
    """The package item's counter of a status (one of ``_COUNTED``)."""
    return packages.verified_count if status is BlobStatus.VERIFIED else packages.rejected_count


def _buckets_of(
    models: TableModels, package_id: str, ordered: list[str]
) -> list[tuple[_Bucket, BlobBucketModel]]:
    """The buckets that may list these digests (sorted), read from their shards only."""
    shards = shards_of(models, package_id)
    per_shard: dict[int, list[str]] = {}
    for h in ordered:
        per_shard.setdefault(hex_shard(h, shards), []).append(h)
    found = []
    for shard, hexes in sorted(per_shard.items()):
        pk = shard_key(package_id, shard)
        between = _buckets_between(models.BlobBucketModel, pk, hexes[0], hexes[-1])
        found += [(_Bucket(pk, b.sk), b) for b in between]
    return found


def _buckets_between(
    buckets: type[BlobBucketModel], pk: str, first: str, last: str
) -> list[BlobBucketModel]:
    """The buckets that may list digests in ``[first, last]`` (read consistently)."""
    start = chunk_at(buckets, pk, BLOB_PREFIX, first, ["sk"])
    return list(
        buckets.query(
            pk,
            buckets.sk.between(start.sk if start else BLOB_PREFIX, BLOB_PREFIX + last),
            consistent_read=True,
        )
    )


def _bucket_of(buckets: type[BlobBucketModel], pk: str, hex_digest: str) -> BlobBucketModel | None:
    """The bucket listing a blob, read for that blob's entries only (None: not listed)."""
    entries = [buckets.sk] + [
        getattr(buckets, name)[hex_digest] for name in ("size", "status", "seen")
    ]
    bucket = chunk_at(buckets, pk, BLOB_PREFIX, hex_digest, entries)
    if bucket is None or bucket.status is None or hex_digest not in bucket.status.attribute_values:
        return None
    return bucket


def _shard_states(
    buckets: type[BlobBucketModel], shard: int, pk: str, status: BlobStatus | None
) -> Iterator[BlobState]:
    """The blobs of one shard in digest order, optionally only those in one status."""
    for bucket in buckets.query(pk, buckets.sk.startswith(BLOB_PREFIX), consistent_read=True):
        for state in _bucket_states(bucket, shard):
            if status is None or state.status is status:
                yield state


def _unverified_after(
    buckets: type[BlobBucketModel],
    shard: int,
    pk: str,
    after: str | None,
    wanted: Callable[[], int],
    *,
    grow: bool,
) -> Iterator[BlobState]:
    """The blobs of one shard not verified, after ``after``, in digest order: from the bucket
    holding ``after``, then in pages of at most the fewest buckets that could hold the
    ``wanted()`` blobs still wanted (``BLOBS_PER_BUCKET`` each at most). With ``grow`` (one
    shard of several, each holding only part of what is wanted) pages start at one bucket and
    double, so a shard the merge hardly reaches costs a bucket or two."""
    start = None
    if after is not None:
        bucket = chunk_at(buckets, pk, BLOB_PREFIX, after)
        if bucket is not None:
            yield from _unverified_in(bucket, shard, after)
            start = {"pk": {"S": pk}, "sk": {"S": bucket.sk}}  # then the buckets after it
    size = 1
    while True:
        fill = max(1, -(-wanted() // file_list_items.BLOBS_PER_BUCKET))
        size = min(size, fill) if grow else fill
        page = buckets.query(
            pk,
            buckets.sk.startswith(BLOB_PREFIX),
            consistent_read=True,
            limit=size,
            page_size=size,
            last_evaluated_key=start,
        )
        for bucket in page:
            yield from _unverified_in(bucket, shard, after)
        start = page.last_evaluated_key
        if not start:
            return
        size *= 2


def _unverified_in(bucket: BlobBucketModel, shard: int, after: str | None) -> Iterator[BlobState]:
    for state in _bucket_states(bucket, shard):
        if state.status is not BlobStatus.VERIFIED and (after is None or state.digest.hex > after):
            yield state


def _bucket_states(bucket: BlobBucketModel, shard: int) -> Iterator[BlobState]:
    for hex_digest in sorted(bucket.status.attribute_values):
        yield _blob_state(bucket, hex_digest, shard)


def _blob_state(bucket: BlobBucketModel, hex_digest: str, shard: int) -> BlobState:
    seen = bucket.seen.attribute_values.get(hex_digest) if bucket.seen else None
    return BlobState(
        Digest(hex_digest),
        int(bucket.size.attribute_values[hex_digest]),
        BlobStatus(bucket.status.attribute_values[hex_digest]),
        seen,
        slot=f"{shard}:{bucket.sk}",  # opaque to the service; read back by ``_Bucket.of_slot``
    )
