"""What changed between two manifests: files added, removed and changed, and metadata fields.

Pure functions over manifest JSON bodies (``docs/manifest.md``), shared by the service (the
``GET /diff`` route and the ``/ui/diff`` page) and the CLI (``artifactstore diff``, which
diffs manifests it has checked against their digests itself).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from artifactstore.domain.manifest import FileEntry
from artifactstore.domain.paths import utf8_sort_key
from artifactstore.domain.schemas import json_pointer

_ABSENT = object()


@dataclass(frozen=True, slots=True)
class FileChange:
    """A path present on both sides whose digest (or only its executable bit) differs."""

    old: FileEntry
    new: FileEntry

    @property
    def path(self) -> str:
        """The path, the same on both sides."""
        return self.new.path

    @property
    def size_delta(self) -> int:
        """New size minus old size."""
        return self.new.size - self.old.size

    def to_json(self) -> dict[str, Any]:
        """``{"path", "from": {...}, "to": {...}, "size_delta"}``."""
        old, new = self.old.to_json(), self.new.to_json()
        del old["path"], new["path"]
        return {"path": self.path, "from": old, "to": new, "size_delta": self.size_delta}


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One metadata field that differs, named by its RFC 6901 JSON pointer.

    ``change`` is ``added`` (no ``from``), ``removed`` (no ``to``) or ``changed``.
    """

    pointer: str
    old: Any = _ABSENT
    new: Any = _ABSENT

    @property
    def change(self) -> str:
        """``added``, ``removed`` or ``changed``."""
        if self.old is _ABSENT:
            return "added"
        if self.new is _ABSENT:
            return "removed"
        return "changed"

    def to_json(self) -> dict[str, Any]:
        """``{"pointer", "change", "from"?, "to"?}``: a side that does not exist is left out."""
        view: dict[str, Any] = {"pointer": self.pointer, "change": self.change}
        if self.old is not _ABSENT:
            view["from"] = self.old
        if self.new is not _ABSENT:
            view["to"] = self.new
        return view


@dataclass(frozen=True, slots=True)
class ManifestDiff:
    """Everything that differs between two manifests (``old`` → ``new``)."""

    added: list[FileEntry] = field(default_factory=list)
    removed: list[FileEntry] = field(default_factory=list)
    changed: list[FileChange] = field(default_factory=list)
    mode_changed: list[FileChange] = field(default_factory=list)
    metadata: list[FieldChange] = field(default_factory=list)
    schema: tuple[str, str] | None = None
    old_bytes: int = 0
    new_bytes: int = 0
    unchanged: int = 0

    @property
    def same(self) -> bool:
        """No file, executable bit, metadata field or schema differs."""
        return not (
            self.added
            or self.removed
            or self.changed
            or self.mode_changed
            or self.metadata
            or self.schema
        )

    @property
    def size_delta(self) -> int:
        """Total bytes of ``new`` minus those of ``old``."""
        return self.new_bytes - self.old_bytes

    def summary(self) -> dict[str, int]:
        """Counts and byte totals, as ``--stat`` and the pages show them."""
        return {
            "added": len(self.added),
            "removed": len(self.removed),
            "changed": len(self.changed),
            "mode_changed": len(self.mode_changed),
            "unchanged": self.unchanged,
            "metadata": len(self.metadata),
            "bytes_added": sum(f.size for f in self.added),
            "bytes_removed": sum(f.size for f in self.removed),
            "size_delta": self.size_delta,
        }

    def to_json(self) -> dict[str, Any]:
        """The diff as ``artifactstore diff`` and ``GET /diff`` answer it."""
        return {
            "same": self.same,
            "added": [f.to_json() for f in self.added],
            "removed": [f.to_json() for f in self.removed],
            "changed": [c.to_json() for c in self.changed],
            "mode_changed": [c.to_json() for c in self.mode_changed],
            "metadata": [c.to_json() for c in self.metadata],
            "schema": {"from": self.schema[0], "to": self.schema[1]} if self.schema else None,
            "size_delta": self.size_delta,
            "total_bytes": {"from": self.old_bytes, "to": self.new_bytes},
            "summary": self.summary(),
        }


def _sides(manifest: Mapping[str, Any]) -> dict[str, FileEntry]:
    return {f["path"]: FileEntry.from_json(f) for f in manifest.get("files") or []}


def diff_manifests(old: Mapping[str, Any], new: Mapping[str, Any]) -> ManifestDiff:
    """Compare two manifest bodies (``files`` by path and digest, ``metadata`` by pointer)."""
    before, after = _sides(old), _sides(new)
    added = [after[p] for p in after.keys() - before.keys()]
    removed = [before[p] for p in before.keys() - after.keys()]
    changed: list[FileChange] = []
    mode_changed: list[FileChange] = []
    unchanged = 0
    for path in before.keys() & after.keys():
        a, b = before[path], after[path]
        if a.digest != b.digest:
            changed.append(FileChange(a, b))
        elif a.executable != b.executable:
            mode_changed.append(FileChange(a, b))
        else:
            unchanged += 1
    old_schema, new_schema = str(old.get("schema")), str(new.get("schema"))
    return ManifestDiff(
        added=sorted(added, key=lambda f: utf8_sort_key(f.path)),
        removed=sorted(removed, key=lambda f: utf8_sort_key(f.path)),
        changed=sorted(changed, key=lambda c: utf8_sort_key(c.path)),
        mode_changed=sorted(mode_changed, key=lambda c: utf8_sort_key(c.path)),
        metadata=list(diff_metadata(old.get("metadata", {}), new.get("metadata", {}))),
        schema=(old_schema, new_schema) if old_schema != new_schema else None,
        old_bytes=sum(f.size for f in before.values()),
        new_bytes=sum(f.size for f in after.values()),
        unchanged=unchanged,
    )


def diff_metadata(old: Any, new: Any) -> Iterator[FieldChange]:
    """Fields that differ, depth first, keys in sorted order; objects are compared key by key,
    anything else (arrays included) as a whole value. ``1`` and ``1.0`` are equal, ``1`` and
    ``true`` are not."""
    pending: list[tuple[list[str | int], Any, Any]] = [([], old, new)]
    while pending:
        path, a, b = pending.pop()
        if isinstance(a, dict) and isinstance(b, dict):
            keys = sorted(a.keys() | b.keys(), reverse=True)  # popped back in sorted order
            for key in keys:
                pending.append(([*path, key], a.get(key, _ABSENT), b.get(key, _ABSENT)))
            continue
        if not _equal(a, b):
            yield FieldChange(json_pointer(path), a, b)


def _equal(a: Any, b: Any) -> bool:
    if a is _ABSENT or b is _ABSENT:
        return a is b
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if a != b:
        return False
    return type(a) is type(b) or (_number(a) and _number(b))


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
