"""The contents of packages in the catalog: their files, and the status of their blobs."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from artifactstore.adapters.dynamodb import file_list_items as file_lists
from artifactstore.adapters.dynamodb.blob_states import BlobStateStore
from artifactstore.adapters.dynamodb.file_list_items import FILE_END, FILE_PREFIX, chunk_at
from artifactstore.adapters.dynamodb.models import draft_ttl
from artifactstore.adapters.dynamodb.shards import (
    merged,
    path_shard,
    query_growing,
    shard_key,
    shard_keys,
    shards_of,
)
from artifactstore.domain.cursors import decode_after, encode_after
from artifactstore.domain.manifest import FileEntry
from artifactstore.domain.packages import (
    BlobState,
    BlobStatus,
    PackageFile,
    PackageState,
    Page,
)
from artifactstore.errors import NotFound

if TYPE_CHECKING:  # the template: every read goes through ``self.models``
    from artifactstore.adapters.dynamodb.models import FileChunkModel


class ContentsStore(BlobStateStore):
    """File chunks (``sk=FILE#<first path>``), blob buckets (``sk=BLOB#<first hex>``), and
    verified blobs; a large list's over a few partition keys (``shards.py``), merged in order
    when read. Layout and its reasons: ``docs/catalog.md``."""

    def add_files(
        self,
        package_id: str,
        files: Sequence[FileEntry],
        verified_hex: set[str] | None = None,
        expires_at: datetime | None = None,
    ) -> None:
        """Write the file chunks and blob buckets of a list written in one go (path order),
        with the TTL of a draft expiring at ``expires_at``."""
        ttl = draft_ttl(expires_at) if expires_at is not None else None
        file_lists.add_file_chunks(self.models, package_id, files, ttl)
        blobs = {f.digest.hex: f.size for f in files}
        file_lists.add_blob_buckets(self.models, package_id, blobs, verified_hex or set(), ttl)

    def mark_files_complete(self, package_id: str) -> None:
        """Record that every file chunk and blob bucket of the package is written."""
        self._update_package(package_id, [self.models.PackageModel.files_complete.set(True)])

    def iter_files(self, package_id: str, after: str | None = None) -> Iterator[FileEntry]:
        """Every file of a package in path order (only those after ``after``, if given): the
        shards' runs merged (code points sort as UTF-8 bytes, DynamoDB's order)."""
        chunks = self.models.FileChunkModel
        keys = shard_keys(package_id, shards_of(self.models, package_id))
        if len(keys) == 1:
            return _files_after(chunks, keys[0], after)
        return merged([_shard_files_after(chunks, pk, after) for pk in keys], key=lambda f: f.path)

    def get_file(self, package_id: str, path: str) -> FileEntry:
        """One file of a package (read from its shard alone), or NotFound."""
        pk = shard_key(package_id, path_shard(path, shards_of(self.models, package_id)))
        chunk = chunk_at(self.models.FileChunkModel, pk, FILE_PREFIX, path)
        for entry in file_lists.decode_files(chunk.files) if chunk else []:
            if entry.path == path:
                return entry
        raise NotFound(f"package {package_id} has no file {path!r}", code="file_not_found")

    def list_files(self, package_id: str, limit: int, cursor: str | None) -> Page[PackageFile]:
        """One page of a package's files with their blob status (cursor: the last path)."""
        after = decode_after(cursor)
        files = list(itertools.islice(self.iter_files(package_id, after), limit + 1))
        more = len(files) > limit
        files = files[:limit]
        states = {} if not files else self._page_states(package_id)
        page = []
        for f in files:
            blob = states.get(f.digest.hex)
            status = blob.status if blob else BlobStatus.VERIFIED
            page.append(PackageFile(f, status, blob.seen_digest if blob else None))
        return Page(page, encode_after(files[-1].path) if more else None)

    def _page_states(self, package_id: str) -> dict[str, BlobState]:
        """The blobs of a draft not yet verified (a sealed package has only verified ones)."""
        if self._state(package_id) is PackageState.SEALED:
            return {}
        return {
            b.digest.hex: b
            for b in self.blob_states(package_id)
            if b.status is not BlobStatus.VERIFIED
        }


def _files_after(chunks: type[FileChunkModel], pk: str, after: str | None) -> Iterator[FileEntry]:
    """The files of one key, from its chunk holding ``after``, read in pages of up to 1 MB."""
    start = FILE_PREFIX
    if after is not None:
        chunk = chunk_at(chunks, pk, FILE_PREFIX, after)
        start = chunk.sk if chunk else FILE_PREFIX
    # Consistent: sealing and the answers to the request that wrote the list read it.
    for item in chunks.query(pk, chunks.sk.between(start, FILE_END), consistent_read=True):
        yield from _after(item, after)


def _shard_files_after(
    chunks: type[FileChunkModel], pk: str, after: str | None
) -> Iterator[FileEntry]:
    """The files of one shard of several, from its chunk holding ``after``, in growing pages:
    a page of files merged from every shard reads about one chunk of each."""
    start = None
    if after is not None:
        chunk = chunk_at(chunks, pk, FILE_PREFIX, after)
        if chunk is not None:
            yield from _after(chunk, after)
            start = {"pk": {"S": pk}, "sk": {"S": chunk.sk}}  # then those after it
    for item in query_growing(chunks, pk, chunks.sk.between(FILE_PREFIX, FILE_END), start):
        yield from _after(item, after)


def _after(chunk: FileChunkModel, after: str | None) -> Iterator[FileEntry]:
    yield from file_lists.decode_files(chunk.files, after)
