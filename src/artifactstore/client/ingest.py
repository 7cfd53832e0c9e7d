"""Ingest a guide-board run: scan, hash, register the schema, create, upload, finalize, seal."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from artifactstore.client.api import ApiClient
from artifactstore.client.bundles import EXPIRED_TARGET
from artifactstore.client.schemas import ensure_registered, load_schema_file
from artifactstore.client.uploader import IngestProgress, NoProgress, Page, Uploader
from artifactstore.client.uploads import LocalBlob
from artifactstore.domain.digests import Digest
from artifactstore.domain.manifest import FileEntry, Manifest
from artifactstore.domain.rundir import (
    DEFAULT_RETENTION_CLASS,
    PRODUCER,
    ScannedFile,
    scan_run_directory,
)
from artifactstore.errors import (
    ArtifactStoreError,
    Conflict,
    IntegrityError,
    InvalidInput,
    ServerError,
)

DEFAULT_CONCURRENCY = 16
DEFAULT_TIMEOUT = 600.0
UPLOAD_ROUNDS = 3


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What one ingest did; ``to_json`` is the CLI's one line of stdout."""

    package_id: str
    manifest_digest: str
    file_count: int
    reused_existing: bool
    bytes_sent: int

    def to_json(self) -> dict[str, Any]:
        """The four fields the seed's output contract names, nothing else."""
        return {
            "package_id": self.package_id,
            "manifest_digest": self.manifest_digest,
            "file_count": self.file_count,
            "reused_existing": self.reused_existing,
        }


def state_hub_links(environ: Mapping[str, str]) -> dict[str, Any]:
    """The package's State Hub link when both ids are set in the environment."""
    workstream = environ.get("STATE_HUB_WORKSTREAM_ID")
    task = environ.get("STATE_HUB_TASK_ID")
    if workstream and task:
        return {"state_hub": {"workstream_id": workstream, "task_id": task}}
    return {}


def creation_body(
    run_id: str,
    retention_class: str,
    schema_slug: str,
    metadata: Mapping[str, Any],
    entries: Iterable[FileEntry],
    run_dir: Path,
    links: Mapping[str, Any],
) -> dict[str, Any]:
    """The ``POST /packages`` body for a scanned run."""
    body: dict[str, Any] = {
        "producer": PRODUCER,
        "idempotency_key": run_id,
        "retention_class": retention_class,
        "schema": schema_slug,
        "metadata": dict(metadata),
        "files": [
            {"path": e.path, "size": e.size, "digest": str(e.digest), "executable": e.executable}
            for e in entries
        ],
        "run_dir": str(run_dir.resolve()),
    }
    if links:
        body["links"] = dict(links)
    return body


def _wait_sealed(client: ApiClient, package_id: str, timeout: float) -> dict[str, Any]:
    """Finalize, then poll until the package is sealed (or rejected, expired, timed out)."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    polls = 0
    while True:
        if polls % 8 == 0:
            # Finalize is idempotent; repeating it now and then surfaces `files_rejected`.
            status, answer = client.post_json(f"/packages/{package_id}/finalize", {})
            if status == 200 and answer.get("state") == "sealed":
                return dict(answer)
        package = client.get_json(f"/packages/{package_id}", {"files_limit": 1})
        if package.get("state") == "sealed":
            return dict(package)
        if package.get("state") == "expired":
            raise Conflict(f"package {package_id} expired before it was sealed", code="expired")
        if time.monotonic() >= deadline:
            raise ServerError(
                f"package {package_id} was not sealed within {timeout:g}s; run the same ingest "
                "again to resume it",
                code="seal_timeout",
            )
        polls += 1
        time.sleep(delay)
        delay = min(delay * 1.5, 1.0)


def event_size(value: object) -> int:
    """Bytes ``value`` takes inside a Lambda invocation event as part of a request body: its
    JSON, escaped once more as the event's ``body`` string (quotes, backslashes, non-ASCII).
    Never less than its bytes in the body itself."""
    return len(json.dumps(json.dumps(value, ensure_ascii=False, separators=(",", ":"))))


def split_files(
    files: Sequence[Mapping[str, Any]], per_request: int, room: int, first_room: int
) -> list[list[Mapping[str, Any]]]:
    """Cut a file list into parts of at most ``per_request`` entries and ``room`` bytes (as
    ``event_size`` counts them; the first part ``first_room``, as it shares its request with
    the package's metadata). Every part holds at least one entry."""
    parts: list[list[Mapping[str, Any]]] = []
    current: list[Mapping[str, Any]] = []
    used = 0
    limit = first_room
    for entry in files:
        cost = event_size(entry) + 1
        if current and (len(current) >= per_request or used + cost > limit):
            parts.append(current)
            current, used, limit = [], 0, room
        current.append(entry)
        used += cost
    if current or not parts:
        parts.append(current)
    return parts


def _create(client: ApiClient, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
    """``POST /packages``; a list too big for one request goes in parts (docs/api.md), each
    request within ``client.files_per_request`` entries and ``client.request_bytes`` bytes."""
    files = list(body["files"])
    per_request = client.files_per_request
    if len(files) <= per_request and event_size(body) <= client.request_bytes:
        return _post_package(client, body)
    manifest = Manifest.build(
        body["producer"],
        body["idempotency_key"],
        body["schema"],
        body["metadata"],
        (FileEntry.from_json(f) for f in files),
    )
    envelope = {
        **body,
        "files": [],
        "file_count": len(files),
        "manifest_digest": str(manifest.digest()),
    }
    # What a further part carries besides its files: {"files": [...], "complete": true, ...}.
    part_room = client.request_bytes - PART_ENVELOPE
    first_room = client.request_bytes - event_size(envelope)
    if first_room < PART_ENVELOPE:
        first_room = PART_ENVELOPE  # metadata this big is refused by the service anyway
    parts = split_files(files, per_request, part_room, first_room)
    status, answer = _post_package(client, {**envelope, "files": parts[0]})
    if answer.get("files_complete", True):
        return status, answer
    url = f"/packages/{answer['package_id']}/files"
    rest = parts[1:]
    for part in rest[:-1]:
        client.post_json(url, {"files": part})
    # The last part closes the list; a big list takes the server a while to check, and
    # meanwhile another attempt (ours, retried) is answered 503 busy: wait for it. Its answer
    # carries the first upload targets, so it also asks for bundles.
    last: dict[str, Any] = {"files": rest[-1] if rest else [], "complete": True}
    if "bundle_below" in body:
        last["bundle_below"] = body["bundle_below"]
    return status, _complete(client, url, last)


PART_ENVELOPE = 1024  # bytes of a further part's body besides its file entries


def _complete(client: ApiClient, url: str, last: Mapping[str, Any]) -> dict[str, Any]:
    """Send the last part (with ``complete``); wait out ``busy`` while the list is checked."""
    deadline = time.monotonic() + COMPLETE_WAIT
    while True:
        try:
            _, answer = client.post_json(url, last)
            return dict(answer)
        except ServerError as exc:
            if exc.code not in ("busy", "api_unreachable") or time.monotonic() > deadline:
                raise
            time.sleep(5)


COMPLETE_WAIT = 1800.0  # seconds to wait for a long file list to be checked


def _post_package(client: ApiClient, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
    try:
        status, answer = client.post_json("/packages", body)
    except Conflict as exc:
        if exc.code == "idempotency_conflict":
            details = exc.details if isinstance(exc.details, dict) else {}
            raise Conflict(
                f"run {body['idempotency_key']} was already stored as package "
                f"{details.get('package_id', '?')} with different content",
                code=exc.code,
                details=exc.details,
            ) from exc
        raise
    return status, dict(answer)


def _rejected(exc: Conflict, package_id: str) -> ArtifactStoreError:
    details = exc.details if isinstance(exc.details, dict) else {}
    paths = [str(r.get("path")) for r in details.get("rejected") or [] if isinstance(r, dict)]
    return IntegrityError(
        f"package {package_id}: storage saw other bytes than declared for "
        f"{', '.join(paths) or 'some files'}; nothing was sealed (did the run change?)",
        code="files_rejected",
        details=exc.details,
    )


def _local_blobs(
    files: Iterable[ScannedFile], entries: Iterable[FileEntry]
) -> dict[str, LocalBlob]:
    """One local file per declared digest (files with equal bytes share one blob)."""
    absolute = {f.path: f.absolute for f in files}
    return {str(e.digest): LocalBlob(e.path, absolute[e.path], e.size, e.digest) for e in entries}


def _without_bundles(exc: InvalidInput) -> bool:
    """Whether a service refused ``bundle_below`` as an unknown field (it predates bundles)."""
    details = exc.details if isinstance(exc.details, list) else []
    return exc.code == "unknown_field" and any(
        isinstance(d, dict) and list(d.get("loc") or [])[-1:] == ["bundle_below"] for d in details
    )


def _store(
    client: ApiClient,
    body: Mapping[str, Any],
    blobs: Mapping[str, LocalBlob],
    concurrency: int,
    progress: IngestProgress,
    warn: Callable[[str], None],
) -> tuple[str, dict[str, Any], int]:
    """Create (or resume) the package and upload what it asks for; ``(id, answer, bytes)``.

    Storage refusing a target (an expired presigned URL after a long upload) is cured by asking
    for fresh targets, which the same creation request gives for exactly what is still missing.
    """
    sent = 0
    for attempt in range(UPLOAD_ROUNDS):
        try:
            _status, answer = _create(client, body)
        except InvalidInput as exc:
            if "bundle_below" not in body or not _without_bundles(exc):
                raise
            body = {k: v for k, v in body.items() if k != "bundle_below"}
            _status, answer = _create(client, body)
        package_id = str(answer["package_id"])
        if answer.get("state") == "sealed":
            return package_id, answer, sent
        progress.phase("uploading")
        bundle_below = int(body.get("bundle_below", 0))
        uploader = Uploader(client, package_id, blobs, concurrency, progress, bundle_below)
        try:
            uploader.run(Page(answer, "upload_targets", "next_upload_targets_cursor"))
        except ServerError as exc:
            if exc.code not in EXPIRED_TARGET or attempt == UPLOAD_ROUNDS - 1:
                raise
            warn(f"{exc.message}; asking for fresh upload targets")
            continue
        finally:
            sent += uploader.bytes_sent
        return package_id, answer, sent
    raise AssertionError("unreachable")  # pragma: no cover - the last round returns or raises


def ingest_run(
    client: ApiClient,
    run_dir: Path,
    schema_file: Path,
    retention_class: str = DEFAULT_RETENTION_CLASS,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: IngestProgress | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    environ: Mapping[str, str] | None = None,
    warn: Callable[[str], None] = lambda _message: None,
) -> IngestResult:
    """Store a finalized run as one package (or find it stored); idempotent by its run id."""
    progress = progress or NoProgress()
    scan = scan_run_directory(run_dir)
    for message in scan.warnings:
        warn(message)
    schema = load_schema_file(schema_file)
    schema.validate(scan.metadata)
    progress.phase("hashing")
    entries = scan.hash()
    ensure_registered(client, schema)
    links = state_hub_links(os.environ if environ is None else environ)
    body = creation_body(
        scan.run_id, retention_class, schema.slug, scan.metadata, entries, run_dir, links
    )
    if client.bundle_below:
        body["bundle_below"] = client.bundle_below
    blobs = _local_blobs(scan.files, entries)
    package_id, answer, sent = _store(client, body, blobs, concurrency, progress, warn)
    if answer.get("state") != "sealed":
        progress.phase("sealing")
        try:
            answer = _wait_sealed(client, package_id, timeout)
        except Conflict as exc:
            if exc.code == "files_rejected":
                raise _rejected(exc, package_id) from exc
            raise
    return IngestResult(
        package_id=package_id,
        manifest_digest=str(Digest.parse(answer.get("manifest_digest"))),
        file_count=len(entries),
        reused_existing=bool(answer.get("reused_existing", False)),
        bytes_sent=sent,
    )
