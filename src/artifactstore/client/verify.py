"""Compare a directory with a manifest: which paths changed, are missing, or are extra."""

from __future__ import annotations

import os
import stat
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from artifactstore.domain.digests import hash_files
from artifactstore.domain.manifest import FileEntry
from artifactstore.domain.paths import utf8_sort_key


@dataclass(frozen=True, slots=True)
class OnDisk:
    """What stands at one path of the directory."""

    absolute: Path
    kind: str  # "file" or what else it is ("symlink", "FIFO", ...)
    size: int
    executable: bool


@dataclass(slots=True)
class VerifyReport:
    """The differences; ``ok`` only when there are none."""

    changed: list[dict[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the directory holds exactly the manifest's files, byte for byte."""
        return not (self.changed or self.missing or self.extra)

    def to_json(self) -> dict[str, Any]:
        """The report for machines (``--json``)."""
        return {
            "ok": self.ok,
            "changed": self.changed,
            "missing": self.missing,
            "extra": self.extra,
        }

    def lines(self) -> list[str]:
        """One line per difference, for people."""
        return (
            [f"changed: {c['path']} ({c['reason']})" for c in self.changed]
            + [f"missing: {p}" for p in self.missing]
            + [f"extra: {p}" for p in self.extra]
        )


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "file"
    for test, name in (
        (stat.S_ISLNK, "symlink"),
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISSOCK, "socket"),
    ):
        if test(mode):
            return name
    return "special file"


def scan_tree(root: Path) -> dict[str, OnDisk]:
    """Everything under ``root`` but folders, keyed by NFC '/'-path (names not UTF-8 shown as repr).

    Like the run scanner, nothing is followed through a symlink; unlike it, nothing is refused:
    what the package could not hold simply shows up as a difference.
    """
    found: dict[str, OnDisk] = {}
    stack: list[tuple[bytes, str]] = [(os.fsencode(root), "")]
    while stack:
        directory, prefix = stack.pop()
        with os.scandir(directory) as entries:
            for entry in entries:
                try:
                    name = unicodedata.normalize("NFC", entry.name.decode("utf-8"))
                except UnicodeDecodeError:
                    name = repr(entry.name)
                rel = prefix + name
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(info.st_mode):
                    stack.append((entry.path, rel + "/"))
                    continue
                absolute = Path(os.fsdecode(entry.path))
                executable = bool(info.st_mode & 0o111)
                found[rel] = OnDisk(absolute, _kind(info.st_mode), info.st_size, executable)
    return found


def compare(root: Path, files: Iterable[FileEntry]) -> VerifyReport:
    """Compare ``root`` with the manifest's files; contents are hashed only when sizes agree."""
    on_disk = scan_tree(root)
    report = VerifyReport()
    to_hash: list[tuple[FileEntry, OnDisk]] = []
    for entry in files:
        disk = on_disk.pop(entry.path, None)
        if disk is None:
            report.missing.append(entry.path)
        elif disk.kind != "file":
            report.changed.append({"path": entry.path, "reason": f"is a {disk.kind}"})
        elif disk.size != entry.size:
            report.changed.append(
                {"path": entry.path, "reason": f"size {disk.size}, expected {entry.size}"}
            )
        else:
            to_hash.append((entry, disk))
    digests = hash_files(disk.absolute for _entry, disk in to_hash)
    for (entry, disk), digest in zip(to_hash, digests, strict=True):
        if digest != entry.digest:
            report.changed.append({"path": entry.path, "reason": f"digest {digest}"})
        elif disk.executable != entry.executable:
            expected = "executable" if entry.executable else "not executable"
            report.changed.append({"path": entry.path, "reason": f"mode: expected {expected}"})
    report.extra.extend(on_disk)
    report.changed.sort(key=lambda c: utf8_sort_key(c["path"]))
    report.missing.sort(key=utf8_sort_key)
    report.extra.sort(key=utf8_sort_key)
    return report
