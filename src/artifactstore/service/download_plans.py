"""Download plans: where to read each file of a sealed package, a page of files per request.

One request answers up to 1,000 files (``include`` globs select a part), each with a
short-lived URL its bytes are read from, so a download makes one API request per page instead
of one per file. The client checks every file against the manifest it verified itself; the
plan only says where the bytes are.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import Any

from artifactstore.domain.cursors import decode_after, encode_after, invalid_cursor
from artifactstore.domain.manifest import FileEntry
from artifactstore.domain.packages import PackageState
from artifactstore.domain.packs import PackPlace, is_whole_pack
from artifactstore.domain.paths import validate_path
from artifactstore.errors import Conflict, InvalidInput
from artifactstore.ports.storage import BlobStorage
from artifactstore.service.context import Services
from artifactstore.service.reading import require_files_readable
from artifactstore.service.targets import PAGE_BUDGET, json_size

PLAN_LIMIT = 1000  # files per page, at most
SCAN_LIMIT = 100_000  # files one request looks at for globs before it answers with a cursor
URL_TTL = 900  # seconds a plan's URLs are valid
MAX_GLOBS = 32
MAX_GLOB_LENGTH = 1024


def download_plan(
    svc: Services,
    package_id: str,
    *,
    include: Sequence[str] = (),
    cursor: str | None = None,
    limit: int = PLAN_LIMIT,
) -> dict[str, Any]:
    """A page of the sealed package's files (those matching any ``include`` glob, ``*``
    crossing ``/``; all without globs), in path order, each with where to read it."""
    globs = _checked_globs(include)
    record = svc.catalog.get_package(package_id)
    require_files_readable(svc, record)
    if record.state is not PackageState.SEALED or record.manifest_digest is None:
        raise Conflict(
            f"package {package_id} is {record.state.value}: only a sealed package has a plan",
            code="not_sealed",
        )
    storage = svc.storage(record.backend)
    answer: dict[str, Any] = {
        "package_id": package_id,
        "manifest_digest": record.manifest_digest,
        "expires_in": URL_TTL,
        "files": [],
        "next_cursor": None,
    }
    room = PAGE_BUDGET - json_size(answer) - len(encode_after(_LONGEST_PATH))
    files: list[dict[str, Any]] = answer["files"]
    last: str | None = None
    wanted = max(1, min(limit, PLAN_LIMIT))
    chosen: list[FileEntry] = []
    for scanned, entry in enumerate(svc.catalog.iter_files(package_id, _decode(cursor))):
        if len(chosen) >= wanted or scanned >= SCAN_LIMIT:
            answer["next_cursor"] = encode_after(last) if last is not None else None
            break
        last = entry.path
        if not globs or any(fnmatch.fnmatchcase(entry.path, g) for g in globs):
            chosen.append(entry)
    # One batched read tells which blobs live in packs; one URL per blob or pack.
    places = {
        h: held.place
        for h, held in svc.catalog.held_records(
            record.backend, {e.digest.hex: e.digest for e in chosen}.values()
        ).items()
    }
    urls: dict[str, str] = {}
    for index, entry in enumerate(chosen):
        place = places.get(entry.digest.hex)
        view = {
            **entry.to_json(),
            "executable": entry.executable,
            "url": _url(storage, urls, entry, place),
            # A whole upload pack is read as a single blob is: one GET, no range.
            "offset": None if place is None or is_whole_pack(entry.size) else place.offset,
        }
        cost = json_size(view) + 1
        if files and cost > room:
            answer["next_cursor"] = encode_after(chosen[index - 1].path)
            break
        files.append(view)
        room -= cost
    return answer


def _url(
    storage: BlobStorage, urls: dict[str, str], entry: FileEntry, place: PackPlace | None
) -> str:
    """The blob's URL, or its pack's: each presigned once per page."""
    name = entry.digest.hex if place is None else f"pack:{place.pack.hex}"
    if name not in urls:
        urls[name] = (
            storage.download_url(entry.digest, URL_TTL)
            if place is None
            else storage.pack_url(place.pack, URL_TTL)
        )
    return urls[name]


_LONGEST_PATH = "x" * 4096


def _checked_globs(include: Sequence[str]) -> list[str]:
    if len(include) > MAX_GLOBS:
        raise InvalidInput(
            f"at most {MAX_GLOBS} include globs per request",
            code="too_many_globs",
            details={"limit": MAX_GLOBS},
        )
    for glob in include:
        if not glob or len(glob) > MAX_GLOB_LENGTH:
            raise InvalidInput(
                f"an include glob is 1..{MAX_GLOB_LENGTH} characters",
                code="invalid_glob",
                details={"glob": glob[:80]},
            )
    return list(include)


def _decode(cursor: str | None) -> str | None:
    """A plan cursor names the last path looked at, a valid package path."""
    after = decode_after(cursor)
    try:
        return None if after is None else validate_path(after)
    except InvalidInput as exc:
        raise invalid_cursor() from exc
