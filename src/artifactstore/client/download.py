"""Download a package: every file checked against its digest as it streams, then placed in
DEST_DIR through a fresh temporary (``client.destination`` says how DEST_DIR is kept safe). A
body longer than its file's size is cut off unwritten.
"""

from __future__ import annotations

import contextlib
import fnmatch
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TypeVar, cast

import httpx

from artifactstore.client.api import ApiClient
from artifactstore.client.destination import CHUNK, PARTIAL_DIR, Destination, check_digest
from artifactstore.client.manifests import FetchedManifest, fetch_manifest
from artifactstore.domain.digests import StreamingHasher
from artifactstore.domain.manifest import FileEntry
from artifactstore.errors import AuthError, IntegrityError

__all__ = ["PARTIAL_DIR", "DownloadResult", "Planned", "download_package", "stream_verified"]


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
        check_digest(entry, hasher)  # an empty range: nothing to ask storage for
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
    check_digest(entry, hasher)


class _Downloader:
    def __init__(self, client: ApiClient, package_id: str, destination: Destination) -> None:
        self.client = client
        self.package_id = package_id
        self.destination = destination
        self.received = 0

    def _count(self, size: int) -> None:
        self.received += size  # one int add under the GIL; only a figure for the report

    def missing(self, packed: Sequence[Planned]) -> list[Planned]:
        """The files not yet at their final names with the right bytes."""
        return [planned for planned in packed if not self.destination.present(planned.entry)]

    def fetch(self, planned: Planned) -> bool:
        """Make a file present under its final name, its bytes read where the plan says;
        True when bytes were fetched."""
        entry = planned.entry
        if self.destination.present(entry):
            return False
        self.destination.place(
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
            check_digest(planned.entry, hasher)
            checked.append((planned, data))
        return checked

    def place(self, checked: Sequence[tuple[Planned, bytes]]) -> None:
        """Write checked files' bytes under their final names."""
        for planned, data in checked:
            self.destination.place(planned.entry, _writer(data))


def _checked_empty(entry: FileEntry) -> bool:
    check_digest(entry, StreamingHasher())
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


_T = TypeVar("_T")
FILES_PER_TASK = 64  # small files one pool task checks or writes (a task each cost as much)


def _slices(items: Sequence[_T], size: int = FILES_PER_TASK) -> list[Sequence[_T]]:
    return [items[first : first + size] for first in range(0, len(items), size)]


def _fetch_page(pool: ThreadPoolExecutor, downloader: _Downloader, page: list[Planned]) -> int:
    """Fetch a page's files: whole objects one GET each, packed files a ranged GET per run of
    neighbours (files already present left out first); returns how many were fetched."""
    singles = [p for p in page if p.offset is None]
    packed = [p for p in page if p.offset is not None]
    missing = [p for part in pool.map(downloader.missing, _slices(packed)) for p in part]
    fetched = sum(pool.map(downloader.fetch, singles))
    runs = coalesce(missing)
    # A few runs at a time: their bodies (up to RUN_MAX each) are held until placed.
    for first in range(0, len(runs), RUNS_AT_ONCE):
        batch = runs[first : first + RUNS_AT_ONCE]
        for run, checked in zip(batch, pool.map(downloader.read_run, batch), strict=True):
            if checked is None:  # the URL expired: through the API, a file at a time
                fetched += sum(pool.map(downloader.fetch, [Planned(p.entry) for p in run.files]))
                continue
            list(pool.map(downloader.place, _slices(checked)))
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
    with Destination(dest) as destination:
        downloader = _Downloader(client, package_id, destination)
        fetched = 0
        pages = planned_pages(client, package_id, wanted, include_globs)
        with (
            ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="plan") as planner,
        ):
            # The next page is planned while this one's files are written (one request ahead).
            coming = planner.submit(next, pages, None)
            while (page := coming.result()) is not None:
                coming = planner.submit(next, pages, None)
                fetched += _fetch_page(pool, downloader, page)
                destination.forget_folders()  # the next page's files are in other folders
    return DownloadResult(
        package_id=package_id,
        manifest_digest=str(manifest.digest),
        file_count=len(wanted),
        downloaded=fetched,
        already_present=len(wanted) - fetched,
        bytes_received=downloader.received,
    )
