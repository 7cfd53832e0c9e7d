"""BLAKE3 digests as values, and hashing that never holds a whole file in memory."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import blake3

from artifactstore.errors import InvalidInput

ALGORITHM = "blake3"
_DIGEST_RE = re.compile(r"blake3:[0-9a-f]{64}")
STREAM_CHUNK = 1 << 20
HASH_BATCH = 256  # files per thread-pool task in hash_files


@dataclass(frozen=True, slots=True)
class Digest:
    """A content digest: algorithm name plus 64 lowercase hex characters."""

    hex: str

    @classmethod
    def parse(cls, text: object) -> Digest:
        """Parse ``blake3:<64 lowercase hex>``; anything else is an ``invalid_digest`` error."""
        if not isinstance(text, str) or not _DIGEST_RE.fullmatch(text):
            raise InvalidInput(
                f"not a digest: {text!r} (expected 'blake3:' and 64 lowercase hex characters)",
                code="invalid_digest",
                details={"digest": text if isinstance(text, str) else repr(text)},
            )
        return cls(text[len(ALGORITHM) + 1 :])

    @classmethod
    def of_bytes(cls, data: bytes) -> Digest:
        """Digest of an in-memory byte string."""
        return cls(blake3.blake3(data).hexdigest())

    def __str__(self) -> str:
        return f"{ALGORITHM}:{self.hex}"


class StreamingHasher:
    """Incremental BLAKE3 over chunks, for bytes that arrive as a stream."""

    def __init__(self) -> None:
        self._hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
        self.size = 0

    def update(self, chunk: bytes) -> None:
        """Feed the next chunk."""
        self._hasher.update(chunk)
        self.size += len(chunk)

    def digest(self) -> Digest:
        """Digest of everything fed so far."""
        return Digest(self._hasher.hexdigest())


def hash_stream(stream: BinaryIO, chunk_size: int = STREAM_CHUNK) -> tuple[Digest, int]:
    """Hash a readable binary stream in fixed-size chunks; returns the digest and byte count."""
    hasher = StreamingHasher()
    for chunk in iter(lambda: stream.read(chunk_size), b""):
        hasher.update(chunk)
    return hasher.digest(), hasher.size


def hash_file(path: Path | str) -> Digest:
    """Hash one file, read by blake3 itself: memory-mapped and multi-threaded when big."""
    # One call into blake3 whatever the size: it opens the file, reads it (memory-maps it from
    # 16 KiB) and hashes, with no Python object per step and no size threshold to keep here.
    # On 10,000 files of 4 KiB it is as fast as os.open + os.read + blake3 (median 94 against
    # 100 ms in one loop); a small input never starts extra threads.
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    hasher.update_mmap(path)
    return Digest(hasher.hexdigest())


def hash_files(paths: Iterable[Path | str], workers: int | None = None) -> Iterator[Digest]:
    """Hash many files; yields digests in the order of ``paths``.

    Files go to a thread pool in batches, so reads overlap on a cold cache; one future per file
    made 10,000 cached 4 KiB files 3-5x slower than a plain loop (GIL hand-offs), a batch does not.
    """
    ordered = list(paths)
    if len(ordered) <= HASH_BATCH:
        yield from map(hash_file, ordered)
        return
    batches = [ordered[i : i + HASH_BATCH] for i in range(0, len(ordered), HASH_BATCH)]
    with ThreadPoolExecutor(max_workers=workers or min(4, os.cpu_count() or 1)) as pool:
        for digests in pool.map(_hash_batch, batches):
            yield from digests


def _hash_batch(paths: list[Path | str]) -> list[Digest]:
    return [hash_file(p) for p in paths]
