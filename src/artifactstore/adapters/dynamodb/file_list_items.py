"""File lists of packages as chunk items, blob buckets and parts, each under the partition key
of its shard (``shards.py``): one key, ``PKG#<id>``, for all but large lists."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import blake3
from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition, Or
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from artifactstore.adapters.dynamodb.models import item_key
from artifactstore.adapters.dynamodb.shards import (
    hex_shard,
    path_shard,
    shard_key,
    shard_keys,
    shards_of,
)
from artifactstore.adapters.dynamodb.support import (
    CONDITION_FAILED,
    PKG_SK,
    TRANSACTION_CANCELED,
    StaleWrite,
    error_code,
)
from artifactstore.adapters.dynamodb.writes import write_items, writer_runs
from artifactstore.domain.digests import Digest
from artifactstore.domain.manifest import FileEntry
from artifactstore.domain.packages import BlobStatus, PackageState
from artifactstore.errors import Conflict, InvalidInput
from artifactstore.workers import parallel_map

if TYPE_CHECKING:  # the templates: every read and write goes through the bound ``models``
    from artifactstore.adapters.dynamodb.binding import TableModels
    from artifactstore.adapters.dynamodb.models import BlobBucketModel, FileChunkModel

_Chunk = TypeVar("_Chunk", "FileChunkModel", "BlobBucketModel")

FILE_PREFIX = "FILE#"
BLOB_PREFIX = "BLOB#"
PART_PREFIX = "PART#"
FILE_END = "FILE$"  # sorts after every "FILE#..." key
# DynamoDB items hold at most 400 KB; a chunk stays well under it whatever its paths.
MAX_CHUNK_BYTES = 200_000
FILES_PER_CHUNK = 1000
BLOBS_PER_BUCKET = 64  # a verification rewrites its bucket: small ones cost fewer write units
_ENTRY_OVERHEAD = 90  # digest hex, size, flag and JSON punctuation per file


def batch_save(models: TableModels, items: Sequence[Model]) -> None:
    """Batch-write many items of one package, retried through throttling (``writes``)."""
    write_items(models, puts=items)


def encode_files(files: Sequence[FileEntry]) -> str:
    """Compact JSON for a run of files (internal to the catalog, not the manifest)."""
    rows = [[f.path, f.size, f.digest.hex, int(f.executable)] for f in files]
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))


def decode_files(text: str, after: str | None = None) -> list[FileEntry]:
    """The files of one chunk or part item (only those whose path sorts after ``after``)."""
    rows = json.loads(text)
    if after is not None:  # compared before any entry is built: a page starts mid-chunk
        rows = [row for row in rows if row[0] > after]
    return [FileEntry(p, int(n), Digest(h), bool(x)) for p, n, h, x in rows]


def split_files(files: Sequence[FileEntry]) -> Iterator[Sequence[FileEntry]]:
    """Runs of at most ``FILES_PER_CHUNK`` files and about ``MAX_CHUNK_BYTES`` each."""
    start, size = 0, 0
    for i, entry in enumerate(files):
        cost = len(entry.path.encode("utf-8")) + _ENTRY_OVERHEAD
        if i > start and (i - start >= FILES_PER_CHUNK or size + cost > MAX_CHUNK_BYTES):
            yield files[start:i]
            start, size = i, 0
        size += cost
    if start < len(files):
        yield files[start:]


def add_file_chunks(
    models: TableModels, package_id: str, files: Sequence[FileEntry], ttl: int | None = None
) -> None:
    """Write a complete list, sorted by path, as chunk items (with their draft's TTL): each
    shard's files, in path order, cut into runs."""
    shards = shards_of(models, package_id)
    per_shard: list[list[FileEntry]] = [[] for _ in range(shards)]
    for entry in files:
        per_shard[path_shard(entry.path, shards)].append(entry)
    batch_save(
        models,
        [
            models.FileChunkModel(pk, FILE_PREFIX + run[0].path, files=encode_files(run), ttl=ttl)
            for pk, shard_files in zip(shard_keys(package_id, shards), per_shard, strict=True)
            for run in split_files(shard_files)
        ],
    )


def keep_file_chunks(models: TableModels, package_id: str) -> None:
    """Remove the TTL from a package's chunk items (it is being sealed: its file list is kept
    forever). Only chunks still carrying one are rewritten: one writer per shard (a single
    shard: ``WRITERS_PER_PACKAGE``), each update retried by botocore when throttled."""
    per_key = [
        [
            (pk, item.sk)
            for item in models.FileChunkModel.query(
                pk,
                models.FileChunkModel.sk.between(FILE_PREFIX, FILE_END),
                filter_condition=models.FileChunkModel.ttl.exists(),
                consistent_read=True,
                attributes_to_get=["pk", "sk"],
            )
        ]
        for pk in shard_keys(package_id, shards_of(models, package_id))
    ]

    def keep(run: Sequence[tuple[str, str]]) -> None:
        for pk, sk in run:
            models.FileChunkModel(pk, sk).update(
                actions=[models.FileChunkModel.ttl.remove()],
                condition=models.FileChunkModel.pk.exists(),
            )

    parallel_map(keep, writer_runs(per_key))


def add_part_items(
    models: TableModels,
    package_id: str,
    files: Sequence[FileEntry],
    declared: int,
    stale_before: datetime,
    ttl: int | None = None,
) -> None:
    """Keep one part of a list sent in parts; a part sent twice writes the same items.

    A new part is first counted: one transaction puts its marker (``PART#<part digest>``,
    absent before) and adds its entries to the package's ``parts_stored``, on condition that
    the total stays within ``declared``, the package is a draft whose list is open, and no
    live writer is completing the list. Then its items are written. Over the cap:
    ``file_list_too_long``, nothing stored. The marker stays beside the package item; the
    part's items go round the shards, from one its digest picks.
    """
    pk = item_key("PKG", package_id)
    shards = shards_of(models, package_id)
    text = encode_files(files)
    part = blake3.blake3(text.encode("utf-8")).hexdigest()
    count = len(files)
    if count > declared:
        raise _too_long(package_id, declared, count)
    for _ in range(5):
        if _count_part(models, pk, f"{PART_PREFIX}{part}", count, declared, stale_before, ttl):
            break
        # Cancelled: find out why from what the transaction saw (read again, consistently).
        if _part_marked(models, pk, f"{PART_PREFIX}{part}"):
            break  # counted before (a part sent again, or a writer that died after counting)
        item = models.PackageModel.get(pk, PKG_SK, consistent_read=True)
        if item.state != PackageState.DRAFT.value:
            raise Conflict(f"package {package_id} is {item.state}", code="not_a_draft")
        if item.files_complete:
            raise Conflict(
                f"the file list of package {package_id} is already complete",
                code="file_list_complete",
            )
        if item.list_writer is not None and (
            item.list_writer_at is None or item.list_writer_at >= stale_before
        ):
            raise Conflict(
                f"the file list of package {package_id} is being completed; retry in a moment",
                code="busy",
            )
        stored = int(item.parts_stored or 0)
        if stored + count > declared:
            raise _too_long(package_id, declared, stored + count)
    else:
        raise StaleWrite(f"the parts of package {package_id} kept changing")
    first = int(part[:8], 16)
    batch_save(
        models,
        [
            models.FilePartModel(
                shard_key(package_id, (first + n) % shards),
                f"{PART_PREFIX}{part}#{n:06d}",
                files=encode_files(run),
                ttl=ttl,
            )
            for n, run in enumerate(split_files(files))
        ],
    )


def _too_long(package_id: str, declared: int, received: int) -> InvalidInput:
    return InvalidInput(
        f"package {package_id} declared {declared} files; its parts would hold {received} "
        "entries (a part sent again counts once)",
        code="file_list_too_long",
        details={"declared": declared, "received": received},
    )


def _count_part(
    models: TableModels,
    pk: str,
    marker: str,
    count: int,
    declared: int,
    stale_before: datetime,
    ttl: int | None,
) -> bool:
    """The counting transaction of ``add_part_items``; False when it was cancelled."""
    within: Condition = Or(
        models.PackageModel.parts_stored.does_not_exist(),
        models.PackageModel.parts_stored <= declared - count,
    )
    no_writer: Condition = Or(
        models.PackageModel.list_writer.does_not_exist(),
        models.PackageModel.list_writer_at < stale_before,
    )
    try:
        with TransactWrite(connection=models.connection) as tx:
            tx.save(
                models.FilePartModel(pk, marker, files="[]", ttl=ttl),
                condition=models.FilePartModel.sk.does_not_exist(),
            )
            tx.update(
                models.PackageModel(pk, PKG_SK),
                actions=[models.PackageModel.parts_stored.add(count)],
                condition=(models.PackageModel.state == PackageState.DRAFT.value)
                & (models.PackageModel.files_complete == False)  # noqa: E712 - DynamoDB condition
                & within
                & no_writer,
            )
        return True
    except TransactWriteError as exc:
        if error_code(exc) != TRANSACTION_CANCELED:
            raise
        return False


def _part_marked(models: TableModels, pk: str, marker: str) -> bool:
    try:
        models.FilePartModel.get(pk, marker, consistent_read=True, attributes_to_get=["pk"])
        return True
    except DoesNotExist:
        return False


def read_parts(models: TableModels, package_id: str) -> list[FileEntry]:
    """Every file of every part received, in no particular order (duplicates included)."""
    files: list[FileEntry] = []
    for pk in shard_keys(package_id, shards_of(models, package_id)):
        # Consistent: the request completing a list reads the part it has just written.
        for item in models.FilePartModel.query(
            pk, models.FilePartModel.sk.startswith(PART_PREFIX), consistent_read=True
        ):
            files.extend(decode_files(item.files))
    return files


def delete_parts(models: TableModels, package_id: str) -> None:
    """Drop the part items (and their markers), then reset the count of entries stored: once
    the list they made is stored as chunks, when its completion failed, or when the draft
    expired."""
    pk = item_key("PKG", package_id)
    items = [
        item
        for key in shard_keys(package_id, shards_of(models, package_id))
        for item in models.FilePartModel.query(
            key,
            models.FilePartModel.sk.startswith(PART_PREFIX),
            consistent_read=True,
            attributes_to_get=["pk", "sk"],
        )
    ]
    write_items(models, deletes=items)
    try:
        models.PackageModel(pk, PKG_SK).update(
            actions=[models.PackageModel.parts_stored.remove()],
            condition=models.PackageModel.pk.exists(),
        )
    except UpdateError as exc:
        if error_code(exc) != CONDITION_FAILED:
            raise


def add_blob_buckets(
    models: TableModels,
    package_id: str,
    blobs: Mapping[str, int],
    verified_hex: set[str],
    ttl: int | None = None,
) -> None:
    """Write the distinct blobs, by digest, in buckets; those already held start out verified.

    Only the writer of the file list calls this, before ``files_complete`` is set: the verifier
    touches no blob of an incomplete list, so these writes cannot reset a verified one. Each
    shard's digests, sorted, are cut into runs.
    """
    shards = shards_of(models, package_id)
    per_shard: list[list[str]] = [[] for _ in range(shards)]
    for h in sorted(blobs):
        per_shard[hex_shard(h, shards)].append(h)
    items = []
    for shard, ordered in enumerate(per_shard):
        pk = shard_key(package_id, shard)
        items.extend(_buckets(models.BlobBucketModel, pk, ordered, blobs, verified_hex, ttl))
    batch_save(models, items)


def _buckets(
    buckets: type[BlobBucketModel],
    pk: str,
    ordered: list[str],
    blobs: Mapping[str, int],
    verified_hex: set[str],
    ttl: int | None,
) -> list[BlobBucketModel]:
    items = []
    for start in range(0, len(ordered), BLOBS_PER_BUCKET):
        run = ordered[start : start + BLOBS_PER_BUCKET]
        items.append(
            buckets(
                pk,
                BLOB_PREFIX + run[0],
                size={h: blobs[h] for h in run},
                status={
                    h: (BlobStatus.VERIFIED if h in verified_hex else BlobStatus.PENDING).value
                    for h in run
                },
                seen={},
                ttl=ttl,
            )
        )
    return items


def chunk_at(
    model: type[_Chunk], pk: str, prefix: str, key: str, attributes: list[Any] | None = None
) -> _Chunk | None:
    """The chunk item that holds ``key``: the last one whose sort key is at or before it."""
    for item in model.query(
        pk,
        model.sk.between(prefix, prefix + key),
        scan_index_forward=False,
        limit=1,
        consistent_read=True,
        attributes_to_get=attributes,
    ):
        return item
    return None
