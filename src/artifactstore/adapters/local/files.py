"""Files on a local folder written once: temp file, fsync, then a hard link that fails when
the name exists, so racing writers never overwrite each other and readers never see half a file.

An upload's *version* is its file's identity (``identity``): the verifier hashes one file and
promotes exactly that one, whatever a later PUT left at the same name.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from artifactstore.domain.digests import StreamingHasher

READ_ONLY = 0o444


def identity(found: os.stat_result) -> str:
    """A file's identity as an upload's version: device, inode, size and mtime (ns).

    An inode number is reused only once its file is gone (never while the verifier holds it
    open), and each upload's mtime carries random nanoseconds (``stamp``), so a later file
    at the same key does not take the identity of one verified before.
    """
    return f"{found.st_dev}:{found.st_ino}:{found.st_size}:{found.st_mtime_ns}"


def stamp(path: Path) -> None:
    """Set ``path``'s mtime to now, with random sub-millisecond nanoseconds (see ``identity``)."""
    now = time.time_ns()
    mtime = now - now % 1_000_000 + secrets.randbelow(1_000_000)
    os.utime(path, ns=(now, mtime))


@contextlib.contextmanager
def create_beside(temp: Path) -> Iterator[BinaryIO]:
    """Create ``temp`` (exclusive), its folder too; a folder a concurrent ``delete_upload``
    removed between the two is made again."""
    for attempt in range(3):
        temp.parent.mkdir(parents=True, exist_ok=True)
        try:
            handle = temp.open("xb")
        except FileNotFoundError:
            if attempt == 2:
                raise
            continue
        with handle:
            yield handle
        return


def link_upload(temp: Path, path: Path, etag: str) -> bool:
    """Give ``temp`` the upload's name ``path`` unless an upload is there already; True when
    published or when the upload there holds the same bytes (BLAKE3 hex ``etag``)."""
    while True:
        try:
            os.link(temp, path)
        except FileExistsError:
            try:
                with path.open("rb") as held:
                    return hash_file(held) == etag
            except FileNotFoundError:
                continue  # promoted or deleted meanwhile: the name is free again
        fsync_dir(path.parent)
        return True


def hash_file(handle: BinaryIO) -> str:
    """BLAKE3 hex of an open file's bytes, read in 1 MiB blocks."""
    hasher = StreamingHasher()
    while block := handle.read(1 << 20):
        hasher.update(block)
    return hasher.digest().hex


def temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")


@contextlib.contextmanager
def atomic_writer(path: Path) -> Iterator[BinaryIO]:
    """A temp file beside ``path``, fsynced, made read-only, then linked to it (write-once).

    An existing ``path`` is kept; on any error the temp file is removed and nothing is left
    behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_name(path)
    try:
        with temp.open("xb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        temp.chmod(READ_ONLY)
        publish(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def create_once(path: Path, data: bytes) -> bool:
    """Write ``data`` at ``path`` unless something is there: a fsynced, read-only temp file
    linked to the name, so racing writers never overwrite each other; True when this one won."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_name(path)
    try:
        with temp.open("xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temp.chmod(READ_ONLY)
        try:
            os.link(temp, path)
        except FileExistsError:
            return False
        fsync_dir(path.parent)
        return True
    finally:
        temp.unlink(missing_ok=True)


def publish(source: Path, target: Path) -> None:
    """Give ``source``'s file the name ``target`` unless that name exists (write-once)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.link(source, target)
    fsync_dir(target.parent)


def fsync_dir(folder: Path) -> None:
    """Make a rename or link durable (POSIX needs the folder fsynced too)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
