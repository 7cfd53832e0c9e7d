"""Download a package: every file checked against its digest as it streams, then renamed.

DEST_DIR may hold things the package did not put there, symlinks included: every folder below
DEST_DIR is opened with ``O_NOFOLLOW`` relative to its parent's descriptor (a symlinked folder
is refused as ``unsafe_destination``, never followed), temporaries get unpredictable names and
are created with ``O_EXCL|O_NOFOLLOW``, and a final name that is a symlink is replaced by the
rename, never written through (nor read or chmod-ed through by the resume check, which also
never blocks on a FIFO); a folder at a final name is refused, kept as it is. A body longer than
its file's size is cut off unwritten.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import secrets
import shutil
import stat
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

import httpx

from artifactstore.client.api import ApiClient
from artifactstore.client.manifests import FetchedManifest, fetch_manifest
from artifactstore.domain.digests import StreamingHasher
from artifactstore.domain.manifest import FileEntry
from artifactstore.errors import AuthError, IntegrityError, InvalidInput

PARTIAL_DIR = ".artifactstore-partial"
CHUNK = 1 << 20
_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_PRESENT_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


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


def temporary_name() -> str:
    """A fresh, unpredictable name for a temporary in the partial folder."""
    return f"{secrets.token_hex(16)}.part"


def _unsafe(path: str, what: str, refusal: str = "write through it") -> InvalidInput:
    return InvalidInput(
        f"{path}: {what} in the destination; refusing to {refusal} "
        "(remove it, or download to another folder)",
        code="unsafe_destination",
        details={"path": path},
    )


def _open_folder(parent_fd: int, name: str, shown: str) -> int:
    """The folder ``name`` in ``parent_fd``, made if missing, never through a symlink."""
    for _ in range(3):
        try:
            return os.open(name, _FOLDER_FLAGS, dir_fd=parent_fd)
        except FileNotFoundError:
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o777, dir_fd=parent_fd)
        except OSError as exc:  # ELOOP for a symlink (O_NOFOLLOW), ENOTDIR for a file
            try:
                mode = os.stat(name, dir_fd=parent_fd, follow_symlinks=False).st_mode
            except FileNotFoundError:
                continue
            if stat.S_ISLNK(mode):
                raise _unsafe(shown, "a symlink") from exc
            if not stat.S_ISDIR(mode):
                raise _unsafe(shown, "not a folder") from exc
            raise
    raise _unsafe(shown, "a folder that keeps disappearing")


@contextlib.contextmanager
def _folder_of(dest_fd: int, parts: Sequence[str]) -> Iterator[int]:
    """A descriptor of the folder holding a file at ``parts`` below DEST_DIR (closed after)."""
    fd = os.dup(dest_fd)
    try:
        for depth, name in enumerate(parts[:-1], start=1):
            inner = _open_folder(fd, name, "/".join(parts[:depth]))
            os.close(fd)
            fd = inner
        yield fd
    finally:
        os.close(fd)


def _present(folder_fd: int, name: str, entry: FileEntry) -> bool:
    """A regular file already at its final name with the right bytes (a resumed download).

    Opened ``O_NOFOLLOW`` (a symlink is never read nor chmod-ed through) and ``O_NONBLOCK`` (a
    FIFO planted at the name would block a plain open forever); anything but a regular file is
    not present, and the rename replaces it.
    """
    try:
        fd = os.open(name, _PRESENT_FLAGS, dir_fd=folder_fd)
    except OSError:
        return False
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size != entry.size:  # fdopen refuses folders
        os.close(fd)
        return False
    with os.fdopen(fd, "rb") as handle:
        hasher = StreamingHasher()
        while block := handle.read(CHUNK):
            hasher.update(block)
        if hasher.digest() != entry.digest:
            return False
        os.fchmod(handle.fileno(), file_mode(entry.executable))
    return True


@dataclass(frozen=True, slots=True)
class Planned:
    """One file of a plan page: where its bytes are (``offset`` in the object at ``url`` for
    a file held in a pack; the whole object otherwise)."""

    entry: FileEntry
    url: str | None = None
    offset: int | None = None

    @property
    def span(self) -> tuple[int, int] | None:
        """Its bytes ``[start, end)`` in a pack, or None."""
        return None if self.offset is None else (self.offset, self.offset + self.entry.size)


@contextlib.contextmanager
def _open_bytes(client: ApiClient, package_id: str, planned: Planned) -> Iterator[httpx.Response]:
    """The file's bytes: from the plan's URL (no API request), or through the API when there
    is none, or when storage refuses the URL (it expired: a long page of big files)."""
    with contextlib.ExitStack() as opened:
        response = None
        if planned.url is not None:
            with contextlib.suppress(AuthError):
                response = opened.enter_context(client.open_url(planned.url, planned.span))
        if response is None:
            response = opened.enter_context(client.open_file(package_id, planned.entry.path))
        yield response


def stream_verified(
    client: ApiClient,
    package_id: str,
    planned: Planned,
    sink: BinaryIO,
    received: Callable[[int], None] = lambda _n: None,
) -> None:
    """Write one file's bytes to ``sink`` (read where the plan says), then raise if their
    digest or size is wrong."""
    entry = planned.entry
    hasher = StreamingHasher()
    if planned.offset is not None and entry.size == 0:
        _check(entry, hasher)  # an empty range: nothing to ask storage for
        return
    with _open_bytes(client, package_id, planned) as response:
        for chunk in response.iter_bytes(CHUNK):
            if hasher.size + len(chunk) > entry.size:
                raise IntegrityError(
                    f"{entry.path}: the server sent more than its {entry.size} bytes",
                    details={"path": entry.path, "expected": str(entry.digest)},
                )
            hasher.update(chunk)
            sink.write(chunk)
            received(len(chunk))
    _check(entry, hasher)


def _check(entry: FileEntry, hasher: StreamingHasher) -> None:
    if hasher.size != entry.size or hasher.digest() != entry.digest:
        raise IntegrityError(
            f"{entry.path}: received {hasher.size} bytes with digest {hasher.digest()}, "
            f"expected {entry.size} bytes with {entry.digest}",
            details={"path": entry.path, "expected": str(entry.digest)},
        )


class _Downloader:
    def __init__(self, client: ApiClient, package_id: str, dest_fd: int, partial_fd: int) -> None:
        self.client = client
        self.package_id = package_id
        self.dest_fd = dest_fd
        self.partial_fd = partial_fd
        self.received = 0

    def _count(self, size: int) -> None:
        self.received += size  # one int add under the GIL; only a figure for the report

    def present(self, entry: FileEntry) -> bool:
        """Whether the file is already at its final name with the right bytes."""
        parts = entry.path.split("/")
        with _folder_of(self.dest_fd, parts) as folder_fd:
            return _present(folder_fd, parts[-1], entry)

    def fetch(self, planned: Planned) -> bool:
        """Make a file present under its final name, its bytes read where the plan says;
        True when bytes were fetched."""
        entry = planned.entry
        if self.present(entry):
            return False
        self._place(
            entry,
            lambda sink: stream_verified(self.client, self.package_id, planned, sink, self._count),
        )
        return True

    def read_run(self, run: Run) -> list[tuple[Planned, bytes]] | None:
        """Read one run of neighbouring packed files with a single ranged GET and check each
        file's digest; None when storage refuses the URL (it expired). Storage sending more
        or fewer bytes than the range is an integrity error; nothing past the range is read."""
        size = run.end - run.start
        pieces: list[bytes] = []
        received = 0
        if size == 0:  # empty files only: nothing to ask storage for
            return [(planned, b"") for planned in run.files if _checked_empty(planned.entry)]
        try:
            with self.client.open_url(run.url, (run.start, run.end)) as response:
                for chunk in response.iter_bytes(CHUNK):
                    received += len(chunk)
                    if received > size:
                        break
                    pieces.append(chunk)
        except AuthError:
            return None
        if received != size:
            sent = f"more than {size}" if received > size else str(received)
            raise IntegrityError(
                f"storage sent {sent} bytes for a range of {size}",
                details={"url": run.url.split("?")[0]},
            )
        self._count(size)
        body = b"".join(pieces)
        checked = []
        for planned in run.files:
            start = cast(int, planned.offset) - run.start
            data = body[start : start + planned.entry.size]
            hasher = StreamingHasher()
            hasher.update(data)
            _check(planned.entry, hasher)
            checked.append((planned, data))
        return checked

    def place(self, item: tuple[Planned, bytes]) -> None:
        """Write one checked file's bytes under its final name."""
        planned, data = item
        self._place(planned.entry, _writer(data))

    def _place(self, entry: FileEntry, write: Callable[[BinaryIO], object]) -> None:
        """Write a file through a fresh temporary, then rename it to its final name."""
        parts = entry.path.split("/")
        with _folder_of(self.dest_fd, parts) as folder_fd:
            temp = temporary_name()
            try:
                fd = os.open(temp, _TEMP_FLAGS, 0o600, dir_fd=self.partial_fd)
            except FileExistsError as exc:  # 128 random bits taken: something raced us there
                raise _unsafe(f"{PARTIAL_DIR}/{temp}", "an entry at a fresh random name") from exc
            try:
                with os.fdopen(fd, "wb") as sink:
                    write(sink)
                    os.fchmod(sink.fileno(), file_mode(entry.executable))
                # rename replaces whatever has the final name (a symlink too), never follows it
                try:
                    os.replace(temp, parts[-1], src_dir_fd=self.partial_fd, dst_dir_fd=folder_fd)
                except IsADirectoryError as exc:
                    raise _unsafe(entry.path, "a folder", "replace it with a file") from exc
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp, dir_fd=self.partial_fd)


def _checked_empty(entry: FileEntry) -> bool:
    _check(entry, StreamingHasher())
    return True


def _writer(data: bytes) -> Callable[[BinaryIO], object]:
    return lambda sink: sink.write(data)


@dataclass(frozen=True, slots=True)
class Run:
    """Neighbouring files of one pack, read with one ranged GET of ``[start, end)``."""

    url: str
    start: int
    end: int
    files: tuple[Planned, ...]


RUN_GAP = 256 * 1024  # bytes between two wanted files read and dropped rather than a new GET
RUN_MAX = 16 * 1024 * 1024  # the most one ranged GET reads
RUNS_AT_ONCE = 8  # runs read at once: at most 128 MiB of bodies held


def coalesce(packed: Sequence[Planned], gap: int = RUN_GAP, most: int = RUN_MAX) -> list[Run]:
    """Group packed files into runs: per pack URL, by offset, a run extended while the next
    file starts at most ``gap`` bytes after it ends and the run stays within ``most``."""
    by_url: dict[str, list[Planned]] = {}
    for planned in packed:
        by_url.setdefault(cast(str, planned.url), []).append(planned)
    runs: list[Run] = []
    for url, files in by_url.items():
        files.sort(key=lambda p: cast(int, p.offset))
        current: list[Planned] = []
        start = end = 0
        for planned in files:
            first, last = cast(tuple[int, int], planned.span)
            if current and (first > end + gap or max(end, last) - start > most):
                runs.append(Run(url, start, end, tuple(current)))
                current = []
            if not current:
                start, end = first, last
            current.append(planned)
            end = max(end, last)
        if current:
            runs.append(Run(url, start, end, tuple(current)))
    return runs


def planned_pages(
    client: ApiClient, package_id: str, wanted: Sequence[FileEntry], include: Sequence[str]
) -> Iterator[list[Planned]]:
    """``wanted`` (from the verified manifest) with where each file is, a plan page at a
    time: one API request per page of up to 1,000 files, none per file. The plan only says
    where bytes are: a file it names that the manifest does not (or with another digest), or a
    file it leaves out, stops the download."""
    by_path = {f.path: f for f in wanted}
    seen = 0
    cursor: str | None = None
    while True:
        plan = client.download_plan(package_id, include, cursor)
        page: list[Planned] = []
        for item in plan["files"]:
            entry = by_path.get(item.get("path"))
            if entry is None or item.get("digest") != str(entry.digest):
                raise IntegrityError(
                    f"the download plan names {item.get('path')!r} with {item.get('digest')},"
                    " which the verified manifest does not",
                    details={"path": item.get("path")},
                )
            offset = item.get("offset")
            page.append(
                Planned(entry, str(item["url"]), offset if isinstance(offset, int) else None)
            )
        seen += len(page)
        yield page
        cursor = plan.get("next_cursor")
        if not cursor:
            break
    if seen != len(wanted):
        raise IntegrityError(
            f"the download plan listed {seen} files, the manifest selects {len(wanted)}",
            details={"planned": seen, "selected": len(wanted)},
        )


def _fetch_page(pool: ThreadPoolExecutor, downloader: _Downloader, page: list[Planned]) -> int:
    """Fetch a page's files: whole objects one GET each, packed files a ranged GET per run of
    neighbours (files already present left out first); returns how many were fetched."""
    singles = [p for p in page if p.offset is None]
    packed = [p for p in page if p.offset is not None]
    missing = [
        p
        for p, here in zip(
            packed, pool.map(lambda p: downloader.present(p.entry), packed), strict=True
        )
        if not here
    ]
    fetched = sum(pool.map(downloader.fetch, singles))
    runs = coalesce(missing)
    # A few runs at a time: their bodies (up to RUN_MAX each) are held until placed.
    for first in range(0, len(runs), RUNS_AT_ONCE):
        batch = runs[first : first + RUNS_AT_ONCE]
        for run, checked in zip(batch, pool.map(downloader.read_run, batch), strict=True):
            if checked is None:  # the URL expired: through the API, a file at a time
                fetched += sum(pool.map(downloader.fetch, [Planned(p.entry) for p in run.files]))
                continue
            list(pool.map(downloader.place, checked))
            fetched += len(checked)
    return fetched


def download_package(
    client: ApiClient,
    package_id: str,
    dest: Path,
    include_globs: Sequence[str] = (),
    concurrency: int = 8,
    check_manifest: Callable[[FetchedManifest], object] | None = None,
) -> DownloadResult:
    """Fetch a sealed package's files into ``dest``; files already right are kept.

    ``check_manifest`` (the attestation check, when trusted keys are configured) sees the
    verified manifest before anything is written, and raises to stop the download.
    """
    manifest = fetch_manifest(client, package_id)
    if check_manifest is not None:
        check_manifest(manifest)
    wanted = selected(manifest.files, include_globs)
    dest.mkdir(parents=True, exist_ok=True)  # DEST_DIR itself may be a symlink: the user's pick
    dest_fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        partial_fd = _open_folder(dest_fd, PARTIAL_DIR, PARTIAL_DIR)
        downloader = _Downloader(client, package_id, dest_fd, partial_fd)
        try:
            fetched = 0
            with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
                for page in planned_pages(client, package_id, wanted, include_globs):
                    fetched += _fetch_page(pool, downloader, page)
        finally:
            os.close(partial_fd)
            # Leftovers only ever live here, never under a final name; a rerun starts afresh.
            # (rmtree never follows symlinks; the folder was just checked not to be one.)
            shutil.rmtree(dest / PARTIAL_DIR, ignore_errors=True)
    finally:
        os.close(dest_fd)
    return DownloadResult(
        package_id=package_id,
        manifest_digest=str(manifest.digest),
        file_count=len(wanted),
        downloaded=fetched,
        already_present=len(wanted) - fetched,
        bytes_received=downloader.received,
    )
