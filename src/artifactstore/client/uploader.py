"""Uploading a draft's missing blobs: single PUTs, multipart parts and bundles, in one pool."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from artifactstore.client.api import ApiClient
from artifactstore.client.bundles import BundleGrouper, BundleSender
from artifactstore.client.uploads import (
    LocalBlob,
    Multipart,
    checked_stream,
    range_stream,
    start_multipart,
)
from artifactstore.errors import ServerError


class IngestProgress(Protocol):
    """What ingest reports while it works (the CLI draws it on stderr)."""

    def phase(self, name: str) -> None:
        """A new phase starts: hashing, uploading, sealing."""

    def add_total(self, blobs: int, size: int) -> None:
        """More blobs (and bytes) to upload became known."""

    def advance(self, size: int) -> None:
        """Bytes went out."""

    def blob_done(self) -> None:
        """One blob finished uploading."""


class NoProgress:
    """Progress that shows nothing."""

    def phase(self, name: str) -> None:
        """Ignore."""

    def add_total(self, blobs: int, size: int) -> None:
        """Ignore."""

    def advance(self, size: int) -> None:
        """Ignore."""

    def blob_done(self) -> None:
        """Ignore."""


class Page:
    """One page of what a draft still misses: upload targets, and small blobs to bundle."""

    def __init__(self, answer: Mapping[str, Any], targets_key: str, cursor_key: str) -> None:
        self.targets: list[Mapping[str, Any]] = list(answer.get(targets_key) or [])
        # An answer without the key comes from a service that does not bundle: all singles.
        self.bundle_blobs: list[Mapping[str, Any]] = list(answer.get("bundle_blobs") or [])
        cursor = answer.get(cursor_key)
        self.cursor: str | None = None if cursor is None else str(cursor)

    def entries(self) -> list[Mapping[str, Any]]:
        """Every blob the page names."""
        return [*self.targets, *self.bundle_blobs]


@dataclass(slots=True)
class _MoreParts:
    """A multipart target whose further parts are still to be fetched from its cursor."""

    upload: Multipart
    headers: dict[str, str]
    cursor: str | None


class Uploader:
    """Uploads every missing blob of a draft in parallel, one page of targets ahead."""

    def __init__(
        self,
        client: ApiClient,
        package_id: str,
        blobs: Mapping[str, LocalBlob],
        concurrency: int,
        progress: IngestProgress,
        bundle_below: int = 0,
    ) -> None:
        self.client = client
        self.package_id = package_id
        self.blobs = blobs
        self.concurrency = concurrency
        self.progress = progress
        self.bundle_below = bundle_below
        self.bytes_sent = 0
        self._lock = threading.Lock()
        self._bundles = BundleSender(client, package_id, self._sent, self._bundle_done)
        self._more_parts: deque[_MoreParts] = deque()  # big targets whose parts are paged

    def _sent(self, size: int) -> None:
        self.progress.advance(size)

    def _blob_for(self, target: Mapping[str, Any]) -> LocalBlob:
        blob = self.blobs.get(str(target.get("digest")))
        if blob is None or blob.size != target.get("size"):
            raise ServerError(
                f"the service asked for a blob this run does not declare: {target.get('digest')}",
                code="unexpected_upload_target",
            )
        return blob

    def _put_whole(self, blob: LocalBlob, target: Mapping[str, Any]) -> None:
        self.client.put_upload(
            str(target["url"]),
            dict(target.get("headers") or {}),
            blob.size,
            lambda: checked_stream(blob, self._sent),
        )
        self._done(blob.size)

    def _put_part(
        self, upload: Multipart, part: Mapping[str, Any], headers: dict[str, str]
    ) -> None:
        offset, size = int(part["offset"]), int(part["size"])
        response = self.client.put_upload(
            str(part["url"]),
            headers,
            size,
            lambda: range_stream(upload.blob, offset, size, self._sent),
        )
        etag = response.headers.get("etag")
        if not etag:
            raise ServerError(
                f"storage gave no ETag for part {part['part_number']} of {upload.blob.path}",
                code="missing_etag",
            )
        with self._lock:
            self.bytes_sent += size
        if upload.part_done(self.client, int(part["part_number"]), etag):
            self.progress.blob_done()

    def _done(self, size: int) -> None:
        with self._lock:
            self.bytes_sent += size
        self.progress.blob_done()

    def _bundle_done(self, members: Sequence[LocalBlob], put: int) -> None:
        with self._lock:
            self.bytes_sent += put
        # Members the service dropped (stored meanwhile) were not sent, but count as done.
        self.progress.advance(sum(b.size for b in members) - put)
        for _ in members:
            self.progress.blob_done()

    def _submit(self, pool: ThreadPoolExecutor, target: Mapping[str, Any]) -> list[Future[None]]:
        blob = self._blob_for(target)
        if "parts" not in target:
            return [pool.submit(self._put_whole, blob, target)]
        upload = start_multipart(self.package_id, blob, target)
        headers = dict(target.get("headers") or {})
        cursor = target.get("next_parts_cursor")
        if cursor is not None:
            self._more_parts.append(_MoreParts(upload, headers, str(cursor)))
        return [pool.submit(self._put_part, upload, part, headers) for part in target["parts"]]

    def _parts_page(self, more: _MoreParts) -> list[Mapping[str, Any]]:
        """The next page of a big target's parts; moves ``more.cursor`` on (None at the end)."""
        digest = quote(str(more.upload.blob.digest), safe="")
        answer = self.client.get_json(
            f"/packages/{self.package_id}/upload-targets/{digest}/parts",
            {"upload_id": more.upload.upload_id, "cursor": more.cursor},
        )
        parts: list[Mapping[str, Any]] = list(answer.get("parts") or [])
        cursor = answer.get("next_cursor")
        if not parts or int(answer.get("part_count", 0)) != more.upload.part_count:
            raise ServerError(
                f"the service gave no further parts for {more.upload.blob.path} "
                f"(cursor {more.cursor})",
                code="unexpected_upload_target",
            )
        more.cursor = None if cursor is None else str(cursor)
        return parts

    def _follow_parts(
        self, pool: ThreadPoolExecutor, signed: set[Future[None]], ahead: int
    ) -> set[Future[None]]:
        """Fetch the remaining parts of this page's big targets, a page of parts at a time,
        each page once the uploads ahead of it are down to the previous page's size."""
        try:
            while self._more_parts:
                more = self._more_parts[0]
                signed = self._drain(signed, keep=ahead)
                parts = self._parts_page(more)
                submitted = [
                    pool.submit(self._put_part, more.upload, p, more.headers) for p in parts
                ]
                signed.update(submitted)
                ahead = len(submitted)
                if more.cursor is None:
                    self._more_parts.popleft()
        except BaseException:
            for future in signed:
                future.cancel()
            raise
        return signed

    def _next_page(self, cursor: str) -> Page:
        params: dict[str, Any] = {"cursor": cursor}
        if self.bundle_below:
            params["bundle_below"] = self.bundle_below
        answer = self.client.get_json(f"/packages/{self.package_id}/upload-targets", params)
        return Page(answer, "upload_targets", "next_cursor")

    def run(self, first: Page) -> None:
        """Upload the first page, fetching each next page while the previous one uploads."""
        signed: set[Future[None]] = set()  # uploads holding presigned URLs
        bundles: set[Future[None]] = set()  # bundles ask for their URL when a worker takes them
        grouper = BundleGrouper()
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            page = first
            try:
                while True:
                    entries = page.entries()
                    self.progress.add_total(len(entries), sum(int(e["size"]) for e in entries))
                    submitted: list[Future[None]] = []
                    for target in page.targets:
                        submitted += self._submit(pool, target)
                    signed.update(submitted)
                    signed = self._follow_parts(pool, signed, ahead=len(submitted))
                    full = grouper.add(self._blob_for(entry) for entry in page.bundle_blobs)
                    if page.cursor is None:
                        full.append(grouper.flush())
                    bundles.update(pool.submit(self._bundles.send, m) for m in full if m)
                    if page.cursor is None:
                        break
                    # One page of lookahead: presigned URLs expire, so do not fetch them all now.
                    signed = self._drain(signed, keep=len(submitted))
                    bundles = self._collect(bundles)
                    page = self._next_page(page.cursor)
                self._drain(signed | bundles, keep=0)
            except BaseException:
                for future in signed | bundles:
                    future.cancel()
                raise

    @staticmethod
    def _drain(pending: set[Future[None]], keep: int) -> set[Future[None]]:
        """Wait until at most ``keep`` uploads are unfinished; the first failure is raised."""
        while len(pending) > keep:
            done, not_done = wait(pending, return_when=FIRST_EXCEPTION)
            for future in done:
                future.result()
            pending = set(not_done)
        return pending

    @staticmethod
    def _collect(pending: set[Future[None]]) -> set[Future[None]]:
        """The uploads not finished yet, without waiting; a finished one's failure is raised."""
        done = {future for future in pending if future.done()}
        for future in done:
            future.result()
        return pending - done
