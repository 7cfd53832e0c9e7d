"""Package path rules: relative, '/'-separated, NFC, no tricks, at most 1024 UTF-8 bytes."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from artifactstore.errors import InvalidInput

MAX_PATH_BYTES = 1024
# Unicode category Cc ("NUL or control character") is exactly U+0000-U+001F and U+007F-U+009F,
# and Unicode's stability policy keeps it so; one regex search is ~10x faster than
# unicodedata.category per character (tests compare the two on every code point).
CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _refuse(path: str, why: str) -> InvalidInput:
    return InvalidInput(
        f"invalid path {path!r}: {why}", code="invalid_path", details={"path": path}
    )


def validate_path(path: object) -> str:
    """Return ``path`` unchanged if it is a valid package path, else raise ``invalid_path``."""
    if not isinstance(path, str):
        raise InvalidInput(f"path must be a string, not {type(path).__name__}", code="invalid_path")
    why = _encoding_problem(path) or _shape_problem(path)
    if why:
        raise _refuse(path, why)
    return path


def _encoding_problem(path: str) -> str | None:
    if not path:
        return "empty"
    try:
        encoded = path.encode("utf-8")
    except UnicodeEncodeError:
        return "not valid UTF-8"
    if len(encoded) > MAX_PATH_BYTES:
        return f"longer than {MAX_PATH_BYTES} UTF-8 bytes"
    return None


def _shape_problem(path: str) -> str | None:
    if path.startswith("/"):
        return "absolute (leading '/')"
    if "\\" in path:
        return "contains a backslash"
    if CONTROL_CHARACTER.search(path):
        return "contains a NUL or control character"
    if not unicodedata.is_normalized("NFC", path):
        return "not in Unicode NFC form"
    for segment in path.split("/"):
        if segment in ("", ".", ".."):
            return f"has an empty, '.' or '..' segment ({segment!r})"
    return None


def utf8_sort_key(path: str) -> bytes:
    """Sort key that orders paths by their UTF-8 bytes, as the manifest contract says."""
    return path.encode("utf-8")


def check_path_set(paths: Iterable[str]) -> None:
    """Refuse duplicate paths and a file that is also a folder of another file."""
    seen: set[str] = set()
    duplicates: list[str] = []
    for path in paths:
        if path in seen:
            duplicates.append(path)
        seen.add(path)
    if duplicates:
        raise InvalidInput(
            f"duplicate path {duplicates[0]!r}",
            code="duplicate_path",
            details={"paths": sorted(set(duplicates))},
        )
    for path in seen:
        parts = path.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder in seen:
                raise InvalidInput(
                    f"path {folder!r} is a file and also the folder of {path!r}",
                    code="path_prefix_conflict",
                    details={"file": folder, "nested": path},
                )
