"""Package path rules: relative, '/'-separated, NFC, no tricks, at most 1024 UTF-8 bytes."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from artifactstore.errors import InvalidInput

MAX_PATH_BYTES = 1024
# Unicode category Cc ("NUL or control character") is exactly U+0000-U+001F and U+007F-U+009F,
# and Unicode's stability policy keeps it so; one regex search is ~10x faster than
# unicodedata.category per character (tests compare the two on every code point).
CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Unicode category Cf ("format": bidi overrides such as U+202E, zero-width characters, tags) as of
# Unicode 15.1, a superset of older versions' (tests compare it with unicodedata on every code
# point). They make a name display as another ("gpj.exe" shown as "exe.jpg") or two names look
# identical, which is how a reviewer gets fooled.
FORMAT_CHARACTER = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
    "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
    "\U000e0020-\U000e007f]"
)


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
    # No ASCII character is a format character, and ASCII text is always NFC: both scans (the
    # format search was most of a 100,000-file list's validation) are for other text only.
    if not path.isascii():
        if found := FORMAT_CHARACTER.search(path):
            return f"contains the invisible Unicode format character U+{ord(found[0]):04X}"
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
    """Refuse duplicate paths and a file that is also a folder of another file.

    Linear in the total length of the paths: folders go into a trie of segments, so a path's
    prefixes are never rebuilt one by one (that was quadratic in depth).
    """
    ordered = list(paths)
    seen: set[str] = set()
    duplicates: list[str] = []
    for path in ordered:
        if path in seen:
            duplicates.append(path)
        seen.add(path)
    if duplicates:
        raise InvalidInput(
            f"duplicate path {duplicates[0]!r}",
            code="duplicate_path",
            details={"paths": sorted(set(duplicates))},
        )
    # A folder is a dict of its entries; a file is its full path (a str) in its folder's dict.
    root: dict[str, Any] = {}
    for path in ordered:
        *folders, name = path.split("/")
        node = root
        for segment in folders:
            child = node.setdefault(segment, {})
            if isinstance(child, str):
                raise _prefix_conflict(child, path)
            node = child
        existing = node.setdefault(name, path)
        if isinstance(existing, dict):
            raise _prefix_conflict(path, _any_file(existing))


def _any_file(folder: dict[str, Any]) -> str:
    """One file somewhere under ``folder`` (every folder in the trie holds at least one)."""
    entry: dict[str, Any] | str = folder
    while isinstance(entry, dict):
        entry = next(iter(entry.values()))
    return entry


def _prefix_conflict(file: str, nested: str) -> InvalidInput:
    return InvalidInput(
        f"path {file!r} is a file and also the folder of {nested!r}",
        code="path_prefix_conflict",
        details={"file": file, "nested": nested},
    )
