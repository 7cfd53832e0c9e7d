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

from artifactstore.domain.cursors import decode_after, encode_after
from artifactstore.domain.packages import PackageState
from artifactstore.domain.paths import validate_path
from artifactstore.errors import Conflict, InvalidInput
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
    urls: dict[str, str] = {}  # one URL per blob, however many files share it
    scanned = 0
    last: str | None = None
    for entry in svc.catalog.iter_files(package_id, _decode(cursor)):
        if len(files) >= max(1, min(limit, PLAN_LIMIT)) or scanned >= SCAN_LIMIT:
            answer["next_cursor"] = encode_after(last) if last is not None else None
            break
        scanned += 1
        if globs and not any(fnmatch.fnmatchcase(entry.path, g) for g in globs):
            last = entry.path
            continue
        url = urls.get(entry.digest.hex)
        if url is None:
            url = urls[entry.digest.hex] = storage.download_url(entry.digest, URL_TTL)
        view = {**entry.to_json(), "executable": entry.executable, "url": url}
        cost = json_size(view) + 1
        if files and cost > room:
            answer["next_cursor"] = encode_after(last) if last is not None else None
            break
        files.append(view)
        room -= cost
        last = entry.path
    return answer


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
        raise InvalidInput("invalid pagination cursor", code="invalid_cursor") from exc
