"""Ingest progress drawn with rich on stderr: files, bytes, rate and time left."""

from __future__ import annotations

import threading
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


class RichIngestProgress:
    """Implements ``IngestProgress``; thread-safe, as uploads report from worker threads."""

    def __init__(self, console: Console | None = None) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description:<10}"),
            BarColumn(),
            TextColumn("{task.fields[files_done]}/{task.fields[files_total]} files"),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console or Console(stderr=True),
        )
        self._lock = threading.Lock()
        self._task = self._progress.add_task("starting", total=None, files_done=0, files_total=0)
        self._files_done = 0
        self._files_total = 0

    def __enter__(self) -> RichIngestProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def phase(self, name: str) -> None:
        """Show the current phase (hashing, uploading, sealing)."""
        with self._lock:
            self._progress.update(self._task, description=name)

    def add_total(self, blobs: int, size: int) -> None:
        """Grow the totals as pages of upload targets arrive."""
        with self._lock:
            self._files_total += blobs
            total = (self._progress.tasks[0].total or 0) + size
            self._progress.update(self._task, total=total, files_total=self._files_total)

    def advance(self, size: int) -> None:
        """Bytes went out."""
        with self._lock:
            self._progress.advance(self._task, size)

    def blob_done(self) -> None:
        """One more blob is stored."""
        with self._lock:
            self._files_done += 1
            self._progress.update(self._task, files_done=self._files_done)
