"""Golden-vector helpers for the domain tests: run directories and their expected manifests.

The expected side is computed here with ``blake3`` and ``rfc8785`` directly, never with the
project's code, so a test that compares the two checks the contract, not the code against itself.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import blake3
import rfc8785

SCHEMA_SLUG = "guide-board.run.v1"
BASE_METADATA: dict[str, Any] = {
    "run_id": "run-0001",
    "target_profile_ref": "targets/kontextual-cmis-compat.json",
    "assessment_profile_ref": "assessments/cmis-browser-baseline.json",
    "result_status": "passed",
}


@dataclass
class RunVector:
    """A run directory to write, and what its manifest must be.

    ``files`` maps the name written on disk (maybe NFD) to ``(expected path, bytes, mode)``;
    ``run.json`` is added from ``metadata`` (or ``run_json`` when the exact bytes matter).
    """

    metadata: dict[str, Any]
    files: dict[str, tuple[str, bytes, int]] = field(default_factory=dict)
    empty_dirs: tuple[str, ...] = ()
    run_json: bytes | None = None

    def run_json_bytes(self) -> bytes:
        """The bytes written as run.json: a producer's ordinary, non-canonical JSON."""
        if self.run_json is not None:
            return self.run_json
        return json.dumps(self.metadata, ensure_ascii=False, indent=2).encode("utf-8")

    def write(self, root: Path) -> Path:
        """Create the run directory under ``root``; returns it."""
        root.mkdir(parents=True, exist_ok=True)
        (root / "run.json").write_bytes(self.run_json_bytes())
        for disk_name, (_, data, mode) in self.files.items():
            target = root / disk_name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            target.chmod(mode)
        for folder in self.empty_dirs:
            (root / folder).mkdir(parents=True, exist_ok=True)
        return root

    def expected_manifest(self) -> dict[str, Any]:
        """The contract's manifest object, files sorted by UTF-8 bytes of their paths."""
        entries = [("run.json", self.run_json_bytes(), 0o644), *self.files.values()]
        files = []
        for path, data, mode in sorted(entries, key=lambda e: e[0].encode("utf-8")):
            entry: dict[str, Any] = {
                "path": path,
                "size": len(data),
                "digest": "blake3:" + blake3.blake3(data).hexdigest(),
            }
            if mode & 0o111:
                entry["executable"] = True
            files.append(entry)
        return {
            "manifest_version": 1,
            "producer": "guide-board",
            "idempotency_key": self.metadata["run_id"],
            "schema": SCHEMA_SLUG,
            "metadata": self.metadata,
            "files": files,
        }

    def expected_digest(self) -> str:
        """``blake3:`` + BLAKE3 of the RFC 8785 bytes of the expected manifest."""
        return manifest_digest(self.expected_manifest())

    def expected_total_bytes(self) -> int:
        """Sum of every file's size, run.json included."""
        return len(self.run_json_bytes()) + sum(len(d) for _, d, _ in self.files.values())


def manifest_digest(manifest: Mapping[str, Any]) -> str:
    """The contract digest of a manifest object."""
    return "blake3:" + blake3.blake3(rfc8785.dumps(manifest)).hexdigest()


def rich_vector() -> RunVector:
    """Floats, nested objects, non-ASCII, NFD on disk, empty file, hidden folder, executables."""
    metadata = {
        **BASE_METADATA,
        "run_id": "run-2026-05-16T10:00:00Z-Größe",
        "score": 0.1 + 0.2,
        "whole": 3.0,
        "huge": 1e21,
        "tiny": 1e-7,
        "negative": -12.5,
        "summary": {"passed": 41, "failed": 0, "nested": {"deeper": [1, 2.5, {"ü": "日本 😀"}]}},
        "labels": ["Prüfung", "✓", "tab\there", 'quote"and\\slash'],
        "\uff21": "fullwidth key",
        "😀": "emoji key",
        "é": "accent key",
        "Z": None,
        "a": True,
        "empty": {},
    }
    big = bytes(range(256)) * 4200  # > 1 MiB: takes the memory-mapped, threaded hashing path
    return RunVector(
        metadata,
        files={
            "Cafe\u0301.txt": ("Caf\u00e9.txt", b"coffee\n", 0o644),
            "logs/empty.log": ("logs/empty.log", b"", 0o644),
            "logs/run.log": ("logs/run.log", big, 0o644),
            ".guide-board/state/progress.json": (
                ".guide-board/state/progress.json",
                b'{"step": 3}\n',
                0o644,
            ),
            "tools/rerun.sh": ("tools/rerun.sh", b"#!/bin/sh\necho rerun\n", 0o755),
            "tools/group-only-x": ("tools/group-only-x", b"x", 0o610),
            **{f"names/{n}": (f"names/{n}", n.encode(), 0o644) for n in UTF8_ORDER_NAMES},
        },
    )


# Contract order of these names (UTF-8 bytes). UTF-16 order (JavaScript, Java, and JCS's own
# key order) puts the emoji before U+FF21; case-folding or locale order puts "a" before "Z".
UTF8_ORDER_NAMES = ("Z", "a", "é", "\uff21", "\U0001f600")


def tree_snapshot(root: Path) -> list[tuple[bytes, int, int, int]]:
    """Every entry under ``root`` (bytes names, not followed): mode, size, mtime in ns."""
    info = os.lstat(root)
    snapshot = [(os.fsencode(root), info.st_mode, info.st_size, info.st_mtime_ns)]
    for folder, dirs, files in os.walk(os.fsencode(root)):
        for name in sorted(dirs + files):
            info = os.lstat(os.path.join(folder, name))
            snapshot.append(
                (os.path.join(folder, name), info.st_mode, info.st_size, info.st_mtime_ns)
            )
    return snapshot
