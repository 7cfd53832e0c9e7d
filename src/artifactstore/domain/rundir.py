"""Scanning a finalized guide-board run directory into files and metadata (the run contract)."""

from __future__ import annotations

import json
import os
import re
import stat
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from artifactstore.domain.digests import hash_files
from artifactstore.domain.manifest import FileEntry, Manifest, canonical_json
from artifactstore.domain.paths import FORMAT_CHARACTER, MAX_PATH_BYTES, validate_path
from artifactstore.errors import InvalidInput, RunDirectoryError

PRODUCER = "guide-board"
DEFAULT_RETENTION_CLASS = "release-evidence"
RUN_FILE = "run.json"
# Unicode category Cc is exactly U+0000-U+001F and U+007F-U+009F.
_SUSPECT = re.compile(rf"[\\\x00-\x1f\x7f-\x9f]|{FORMAT_CHARACTER.pattern}")
REQUIRED_RUN_FIELDS = ("run_id", "target_profile_ref", "assessment_profile_ref", "result_status")


@dataclass(frozen=True, slots=True)
class ScannedFile:
    """A regular file found under the run directory (before hashing)."""

    path: str
    location: str  # the file on disk (a str: a Path per file costs more than hashing it)
    size: int
    executable: bool

    @property
    def absolute(self) -> Path:
        """The file on disk."""
        return Path(self.location)


@dataclass(slots=True)
class RunScan:
    """What a run directory holds: its files, its metadata and the warnings met on the way."""

    root: Path
    metadata: dict[str, Any]
    files: list[ScannedFile]
    warnings: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        """The producer's run id: the package's idempotency key."""
        return str(self.metadata["run_id"])

    def hash(self) -> list[FileEntry]:
        """Hash every file (in parallel) and return the manifest entries."""
        digests = hash_files(f.location for f in self.files)
        return [
            FileEntry(f.path, f.size, digest, f.executable)
            for f, digest in zip(self.files, digests, strict=True)
        ]

    def manifest(self, schema: str) -> Manifest:
        """The package manifest for this run under the given schema slug."""
        return Manifest.build(PRODUCER, self.run_id, schema, self.metadata, self.hash())


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISLNK, "symlink"),
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
    ):
        if test(mode):
            return name
    return "special file"


class _Walker:
    """Depth-first walk over bytes paths, so names that are not UTF-8 can be named and refused."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: list[ScannedFile] = []
        self.problems: list[str] = []
        self.empty_dirs: list[str] = []

    def walk(self, directory: bytes, prefix: str) -> None:
        names: dict[str, str] = {}
        holds_file = False
        with os.scandir(directory) as entries:
            listing = sorted(entries, key=lambda e: e.name)
        for entry in listing:
            shown = prefix + os.fsdecode(entry.name)
            try:
                decoded = entry.name.decode("utf-8")
            except UnicodeDecodeError:
                self.problems.append(f"{shown!r}: file name is not valid UTF-8")
                continue
            name = unicodedata.normalize("NFC", decoded)
            rel = prefix + name
            if name in names:
                self.problems.append(
                    f"{rel}: two names are equal after NFC normalization "
                    f"({names[name]!r} and {decoded!r})"
                )
                continue
            names[name] = decoded
            holds_file |= self._visit(entry, rel)
        if not holds_file and prefix:
            self.empty_dirs.append(prefix.rstrip("/"))

    def _visit(self, entry: os.DirEntry[bytes], rel: str) -> bool:
        """Record one entry; True when it is (or holds) a regular file."""
        info = entry.stat(follow_symlinks=False)
        if stat.S_ISDIR(info.st_mode):
            before = len(self.files)
            self.walk(entry.path, rel + "/")
            return len(self.files) > before
        if not stat.S_ISREG(info.st_mode):
            self.problems.append(f"{rel}: is a {_kind(info.st_mode)}")
            return False
        if len(rel.encode("utf-8")) > MAX_PATH_BYTES:
            self.problems.append(f"{rel[:60]}...: path longer than {MAX_PATH_BYTES} UTF-8 bytes")
            return False
        # Names Linux allows but the path contract forbids (backslash, control characters);
        # the rest of the contract holds by construction (NFC names from a directory listing).
        # The full check, for its message, only for the rare suspect name: it is slow per file.
        if _SUSPECT.search(rel):
            try:
                validate_path(rel)
            except InvalidInput as exc:
                self.problems.append(exc.message)
                return False
        executable = bool(info.st_mode & 0o111)
        self.files.append(ScannedFile(rel, os.fsdecode(entry.path), info.st_size, executable))
        return True


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # JCS takes I-JSON (RFC 7493): a repeated key would make "the metadata as parsed" ambiguous.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def read_run_metadata(root: Path) -> dict[str, Any]:
    """Parse ``run.json`` and check the fields that make a run finalized."""
    run_file = root / RUN_FILE
    if run_file.is_symlink():
        raise RunDirectoryError(
            f"{root} cannot be packaged: {RUN_FILE}: is a symlink",
            code="run_directory_refused",
            details={"problems": [f"{RUN_FILE}: is a symlink"]},
        )
    if not run_file.is_file():
        raise RunDirectoryError(
            f"{root} is not a finalized guide-board run: {RUN_FILE} is missing",
            code="run_not_finalized",
            details={"missing": [RUN_FILE]},
        )
    try:
        # Strict UTF-8 first: json.loads on bytes would also take UTF-16 and UTF-32.
        metadata = json.loads(
            run_file.read_bytes().decode("utf-8"),
            parse_constant=_reject_constant,
            object_pairs_hook=_unique_keys,
        )
    except (ValueError, UnicodeDecodeError) as exc:
        raise RunDirectoryError(
            f"{run_file} is not valid JSON: {exc}", code="run_not_finalized"
        ) from exc
    if not isinstance(metadata, dict):
        raise RunDirectoryError(f"{run_file} must hold a JSON object", code="run_not_finalized")
    missing = [k for k in REQUIRED_RUN_FIELDS if not isinstance(metadata.get(k), str)]
    if missing:
        raise RunDirectoryError(
            f"{root} is not a finalized guide-board run: {RUN_FILE} lacks string field(s) "
            + ", ".join(missing),
            code="run_not_finalized",
            details={"missing": missing},
        )
    try:
        # Refuse here, naming run.json, what the manifest could not carry (1e400, 2**60).
        canonical_json(metadata)
    except InvalidInput as exc:
        raise RunDirectoryError(f"{run_file}: {exc.message}", code="run_not_finalized") from exc
    return metadata


def scan_run_directory(root: Path | str) -> RunScan:
    """Scan a run directory per the contract; refuse it whole on any problem (nothing uploaded)."""
    root = Path(root)
    if not root.is_dir():
        raise RunDirectoryError(f"{root} is not a directory", code="run_directory_not_found")
    metadata = read_run_metadata(root)
    walker = _Walker(root)
    walker.walk(os.fsencode(root), "")
    if walker.problems:
        raise RunDirectoryError(
            f"{root} cannot be packaged: " + "; ".join(walker.problems),
            code="run_directory_refused",
            details={"problems": walker.problems},
        )
    warnings = [f"empty folder {d!r} is not kept in the package" for d in walker.empty_dirs]
    warnings += case_collisions(f.path for f in walker.files)
    return RunScan(root, metadata, walker.files, warnings)


def case_collisions(paths: Iterable[str]) -> list[str]:
    """Warnings for paths equal under case folding: one file overwrites the other on a
    case-insensitive checkout (macOS, Windows), though the package keeps both."""
    first: dict[str, str] = {}
    warnings: list[str] = []
    for path in paths:
        folded = path.casefold()
        if (other := first.setdefault(folded, path)) != path:
            one, two = sorted((other, path))
            warnings.append(
                f"{one!r} and {two!r} differ only in case: they collide when downloaded "
                "to a case-insensitive file system (macOS, Windows)"
            )
    return warnings
