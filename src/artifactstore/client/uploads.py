"""Sending one blob's bytes to its upload target, straight from disk, checked as they stream."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from artifactstore.client.api import ApiClient
from artifactstore.domain.digests import Digest, StreamingHasher, hash_file
from artifactstore.errors import IntegrityError

CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class LocalBlob:
    """A file on disk standing for one declared digest."""

    path: str
    absolute: Path
    size: int
    digest: Digest


def _changed(blob: LocalBlob, why: str) -> IntegrityError:
    return IntegrityError(
        f"{blob.path} changed while it was being stored ({why}): nothing was sealed; "
        "let the producer finish writing the run, then ingest again",
        code="file_changed",
        details={"path": blob.path, "declared_digest": str(blob.digest)},
    )


def _signature(stat: os.stat_result) -> tuple[int, int, int]:
    return stat.st_size, stat.st_mtime_ns, stat.st_ino


def check_size(blob: LocalBlob, handle: Any) -> os.stat_result:
    """The open file's stat, after checking it still has the declared size."""
    stat = os.fstat(handle.fileno())
    if stat.st_size != blob.size:
        raise _changed(blob, f"size {stat.st_size}, declared {blob.size}")
    return stat


def checked_stream(blob: LocalBlob, sent: Callable[[int], None]) -> Iterator[bytes]:
    """The file's bytes, hashed as they stream; a changed digest aborts before the last chunk.

    Holding back the final chunk until the whole digest is known means storage never receives
    a complete object with the wrong bytes: the request fails mid-body instead.
    """
    with blob.absolute.open("rb") as handle:
        check_size(blob, handle)
        hasher = StreamingHasher()
        remaining = blob.size
        pending = b""
        while remaining > 0:
            chunk = handle.read(min(CHUNK, remaining))
            if not chunk:
                raise _changed(blob, "it became shorter")
            remaining -= len(chunk)
            hasher.update(chunk)
            if pending:
                yield pending
                sent(len(pending))
            pending = chunk
        if hasher.digest() != blob.digest:
            raise _changed(blob, f"its digest is now {hasher.digest()}")
        if pending or blob.size == 0:
            yield pending
            sent(len(pending))


def range_stream(
    blob: LocalBlob, offset: int, size: int, sent: Callable[[int], None]
) -> Iterator[bytes]:
    """``size`` bytes of the file from ``offset`` (one multipart part), read in chunks."""
    with blob.absolute.open("rb") as handle:
        check_size(blob, handle)
        handle.seek(offset)
        remaining = size
        while remaining > 0:
            chunk = handle.read(min(CHUNK, remaining))
            if not chunk:
                raise _changed(blob, "it became shorter")
            remaining -= len(chunk)
            yield chunk
            sent(len(chunk))


@dataclass(slots=True)
class Multipart:
    """A multipart upload in flight; the worker that finishes the last part completes it."""

    package_id: str
    blob: LocalBlob
    upload_id: str
    part_count: int
    before: tuple[int, int, int]
    etags: dict[int, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def part_done(self, client: ApiClient, part_number: int, etag: str) -> bool:
        """Record one part; after the last, re-check the file, complete the upload, say True."""
        with self.lock:
            self.etags[part_number] = etag
            if len(self.etags) < self.part_count:
                return False
        # Parts were read in parallel, so the digest is re-checked over the whole file, and the
        # file's size, mtime and inode must not have moved since before the first part.
        if _signature(self.blob.absolute.stat()) != self.before:
            raise _changed(self.blob, "its size or modification time moved during the upload")
        seen = hash_file(self.blob.absolute)
        if seen != self.blob.digest:
            raise _changed(self.blob, f"its digest is now {seen}")
        client.post_json(
            f"/packages/{self.package_id}/multipart/complete",
            {
                "digest": str(self.blob.digest),
                "upload_id": self.upload_id,
                "parts": [{"part_number": n, "etag": self.etags[n]} for n in sorted(self.etags)],
            },
        )
        return True


def start_multipart(package_id: str, blob: LocalBlob, target: Mapping[str, Any]) -> Multipart:
    """Open bookkeeping for a multipart target, remembering the file's signature."""
    with blob.absolute.open("rb") as handle:
        before = _signature(check_size(blob, handle))
    # A big target carries its first parts only (``part_count`` says how many in all; the
    # rest come from its parts route); an older service sends them all.
    count = int(target.get("part_count") or len(target["parts"]))
    return Multipart(package_id, blob, str(target["upload_id"]), count, before)
