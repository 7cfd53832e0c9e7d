"""Download a package: every file checked against its digest as it streams, then renamed."""

from __future__ import annotations

import fnmatch
import os
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from artifactstore.client.api import ApiClient
from artifactstore.client.manifests import fetch_manifest
from artifactstore.domain.digests import Digest, StreamingHasher, hash_file
from artifactstore.domain.manifest import FileEntry
from artifactstore.errors import IntegrityError

PARTIAL_DIR = ".artifactstore-partial"
CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class DownloadResult:
    """What a download did."""

    package_id: str
    manifest_digest: str
    file_count: int
    downloaded: int
    already_present: int
    bytes_received: int


def selected(files: Sequence[FileEntry], include: Sequence[str]) -> list[FileEntry]:
    """Files whose path matches any glob (``*`` crosses ``/``); all files without globs."""
    if not include:
        return list(files)
    return [f for f in files if any(fnmatch.fnmatchcase(f.path, g) for g in include)]


def file_mode(executable: bool) -> int:
    """644 or 755 as the umask allows: only the executable bit travels with a package."""
    umask = os.umask(0)
    os.umask(umask)
    mode = 0o666 & ~umask
    return mode | ((mode & 0o444) >> 2) if executable else mode


def _present(target: Path, entry: FileEntry) -> bool:
    """A file already at its final name with the right bytes (a resumed download)."""
    try:
        if not target.is_file() or target.is_symlink() or target.stat().st_size != entry.size:
            return False
    except OSError:
        return False
    return hash_file(target) == entry.digest


def stream_verified(
    client: ApiClient,
    package_id: str,
    entry: FileEntry,
    sink: BinaryIO,
    received: Callable[[int], None] = lambda _n: None,
) -> None:
    """Write one file's bytes to ``sink``, then raise if their digest or size is wrong."""
    hasher = StreamingHasher()
    with client.open_file(package_id, entry.path) as response:
        for chunk in response.iter_bytes(CHUNK):
            hasher.update(chunk)
            sink.write(chunk)
            received(len(chunk))
    if hasher.size != entry.size or hasher.digest() != entry.digest:
        raise IntegrityError(
            f"{entry.path}: received {hasher.size} bytes with digest {hasher.digest()}, "
            f"expected {entry.size} bytes with {entry.digest}",
            details={"path": entry.path, "expected": str(entry.digest)},
        )


class _Downloader:
    def __init__(self, client: ApiClient, package_id: str, dest: Path) -> None:
        self.client = client
        self.package_id = package_id
        self.dest = dest
        self.partial = dest / PARTIAL_DIR
        self.received = 0

    def _count(self, size: int) -> None:
        self.received += size  # one int add under the GIL; only a figure for the report

    def fetch(self, entry: FileEntry) -> bool:
        """Make ``entry`` present under its final name; True when bytes were fetched."""
        target = self.dest.joinpath(*entry.path.split("/"))
        if _present(target, entry):
            target.chmod(file_mode(entry.executable))
            return False
        # The temporary name is unique per path: two paths with one digest are fetched apart.
        temp = self.partial / (Digest.of_bytes(entry.path.encode("utf-8")).hex + ".part")
        try:
            with temp.open("wb") as sink:
                stream_verified(self.client, self.package_id, entry, sink, self._count)
            temp.chmod(file_mode(entry.executable))
            target.parent.mkdir(parents=True, exist_ok=True)
            temp.replace(target)
        finally:
            temp.unlink(missing_ok=True)
        return True


def download_package(
    client: ApiClient,
    package_id: str,
    dest: Path,
    include_globs: Sequence[str] = (),
    concurrency: int = 8,
) -> DownloadResult:
    """Fetch a sealed package's files into ``dest``; files already right are kept."""
    manifest = fetch_manifest(client, package_id)
    wanted = selected(manifest.files, include_globs)
    dest.mkdir(parents=True, exist_ok=True)
    downloader = _Downloader(client, package_id, dest)
    downloader.partial.mkdir(exist_ok=True)
    try:
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            fetched = list(pool.map(downloader.fetch, wanted))
    finally:
        # Leftovers only ever live here, never under a final name; a rerun starts them afresh.
        shutil.rmtree(downloader.partial, ignore_errors=True)
    return DownloadResult(
        package_id=package_id,
        manifest_digest=str(manifest.digest),
        file_count=len(wanted),
        downloaded=sum(fetched),
        already_present=len(fetched) - sum(fetched),
        bytes_received=downloader.received,
    )
