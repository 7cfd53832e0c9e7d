"""Which partition key holds a package's file chunks, blob buckets and list parts.

A small list keeps all of them beside its package item, under ``PKG#<id>`` (shard 0). A list of
more than ``FILES_PER_SHARD`` files is spread over up to ``MAX_SHARDS`` keys, ``PKG#<id>`` and
``PKG#<id>#1`` … ``PKG#<id>#<n-1>``, so that writing it does not put all its write units on one
partition (about 1,000 a second each; the figures are in ``docs/catalog.md``). The count is
chosen when the package is created, from the size its list declares, and recorded on the
package item (``file_shards``; absent: 1, every package written before sharding). It never
changes, so it is read once per process, table and package (``TableModels.shard_counts``).

A file lives in the shard of a stable hash of its path, a blob in the shard of its digest's
first byte: a lookup of one path or one digest reads one key; reading all of them in order
merges the keys' sorted streams.
"""

from __future__ import annotations

import heapq
import threading
import zlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from pynamodb.expressions.condition import Condition
from pynamodb.models import Model

from artifactstore.adapters.dynamodb.models import item_key

if TYPE_CHECKING:
    from artifactstore.adapters.dynamodb.binding import TableModels

FILES_PER_SHARD = 12_500  # ~3,700 write units of chunks and buckets per key (docs/catalog.md)
MAX_SHARDS = 8  # also the writer threads' pool (``workers.WORKERS``): one writer per key
_PKG_SK = "PKG"
_CACHE_LIMIT = 10_000

_T = TypeVar("_T")
_M = TypeVar("_M", bound=Model)
_lock = threading.Lock()


def shard_count(file_count: int) -> int:
    """How many keys a package whose list declares ``file_count`` files spreads it over."""
    return max(1, min(MAX_SHARDS, -(-file_count // FILES_PER_SHARD)))


def shard_key(package_id: str, shard: int) -> str:
    """The partition key of one shard: shard 0 is the package's own key."""
    return item_key("PKG", package_id) if shard == 0 else item_key("PKG", package_id, shard)


def shard_keys(package_id: str, shards: int) -> list[str]:
    return [shard_key(package_id, s) for s in range(shards)]


def path_shard(path: str, shards: int) -> int:
    """The shard of a file: CRC-32 of its UTF-8 path (stable across processes, unlike hash())."""
    return 0 if shards == 1 else zlib.crc32(path.encode("utf-8", "surrogatepass")) % shards


def hex_shard(hex_digest: str, shards: int) -> int:
    """The shard of a blob: the first byte of its digest."""
    return 0 if shards == 1 else int(hex_digest[:2], 16) % shards


def shards_of(models: TableModels, package_id: str) -> int:
    """The package's shard count (1 when it records none, or does not exist), in the table
    ``models`` are bound to."""
    known = models.shard_counts.get(package_id)
    if known is not None:
        return known
    # A Query of the one key rather than GetItem: every function that reads a package's items
    # may Query the table; not all may GetItem (the maintenance function: template.yaml).
    found = list(
        models.PackageModel.query(
            item_key("PKG", package_id),
            models.PackageModel.sk == _PKG_SK,
            consistent_read=True,
            attributes_to_get=["file_shards"],
            limit=1,
        )
    )
    if not found:
        return 1  # not cached: a package may yet be created under this id
    count = int(found[0].file_shards or 1)
    with _lock:
        if len(models.shard_counts) >= _CACHE_LIMIT:
            models.shard_counts.clear()
        models.shard_counts[package_id] = count
    return count


def merged(streams: list[Iterator[_T]], key: Callable[[_T], str]) -> Iterator[_T]:
    """One sorted stream of the shards' sorted streams (a single one as it is)."""
    return streams[0] if len(streams) == 1 else heapq.merge(*streams, key=key)


def query_growing(
    model: type[_M],
    pk: str,
    condition: Condition,
    start: dict[str, Any] | None = None,
    most: int = 8,
) -> Iterator[_M]:
    """Items of one key in order, read consistently in pages of 1, 2, 4 … ``most`` items: a
    merge of several keys that stops early (a page of files) reads little of each."""
    size, last = 1, start
    while True:
        page = model.query(
            pk,
            condition,
            consistent_read=True,
            limit=size,
            page_size=size,
            last_evaluated_key=last,
        )
        yield from page
        last = page.last_evaluated_key
        if not last:
            return
        size = min(size * 2, most)
