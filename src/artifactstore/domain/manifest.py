"""The manifest contract: a JCS (RFC 8785) object whose BLAKE3 digest identifies a package."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import rfc8785

from artifactstore.domain.digests import Digest
from artifactstore.domain.paths import check_path_set, utf8_sort_key, validate_path
from artifactstore.errors import InvalidInput

MANIFEST_VERSION = 1
MAX_FILE_SIZE = 5 * 1024**4  # 5 TiB, S3's largest object


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One file of a package: its path, size, digest and whether it is executable."""

    path: str
    size: int
    digest: Digest
    executable: bool = False

    def to_json(self) -> dict[str, Any]:
        """The manifest form: ``executable`` only when true, as Git keeps only 644 or 755."""
        entry: dict[str, Any] = {"path": self.path, "size": self.size, "digest": str(self.digest)}
        if self.executable:
            entry["executable"] = True
        return entry

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> FileEntry:
        """Validate one file entry as a client sends it."""
        size = raw.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_FILE_SIZE:
            raise InvalidInput(
                f"invalid size {size!r} for {raw.get('path')!r}: expected 0..{MAX_FILE_SIZE}",
                code="invalid_size",
                details={"path": raw.get("path"), "size": size},
            )
        executable = raw.get("executable", False)
        if not isinstance(executable, bool):
            raise InvalidInput("executable must be a boolean", code="invalid_file")
        return cls(
            validate_path(raw.get("path")), size, Digest.parse(raw.get("digest")), executable
        )


def sorted_files(files: Iterable[FileEntry]) -> list[FileEntry]:
    """Files sorted by path as UTF-8 bytes, after checking each path and the set."""
    ordered = sorted(files, key=lambda f: utf8_sort_key(f.path))
    for entry in ordered:
        validate_path(entry.path)
    check_path_set(f.path for f in ordered)
    return ordered


def check_digest_sizes(files: Iterable[FileEntry]) -> None:
    """One digest, one size: BLAKE3 bytes determine their length, so a list giving one digest
    two sizes states a size no byte can match (``digest_size_conflict``)."""
    sizes: dict[str, int] = {}
    for entry in files:
        known = sizes.setdefault(entry.digest.hex, entry.size)
        if known != entry.size:
            raise InvalidInput(
                f"digest {entry.digest} is listed with two sizes, {known} and {entry.size} "
                f"(at {entry.path!r}); one digest has one size",
                code="digest_size_conflict",
                details={
                    "digest": str(entry.digest),
                    "sizes": sorted((known, entry.size)),
                    "path": entry.path,
                },
            )


def canonical_json(value: Any) -> bytes:
    """RFC 8785 canonical bytes of a JSON value; values JCS cannot carry are ``invalid_json``."""
    try:
        return bytes(rfc8785.dumps(value))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise InvalidInput(
            f"value cannot be canonicalized (RFC 8785): {exc}", code="invalid_json"
        ) from exc


@dataclass(frozen=True, slots=True)
class Manifest:
    """A package manifest; ``canonical_bytes`` and ``digest`` are the contract."""

    producer: str
    idempotency_key: str
    schema: str
    metadata: Mapping[str, Any]
    files: tuple[FileEntry, ...]

    @classmethod
    def build(
        cls,
        producer: str,
        idempotency_key: str,
        schema: str,
        metadata: Mapping[str, Any],
        files: Iterable[FileEntry],
    ) -> Manifest:
        """Build a manifest with files in contract order (UTF-8 byte order of paths); one
        digest listed at two sizes is refused (``check_digest_sizes``)."""
        ordered = sorted_files(files)
        check_digest_sizes(ordered)
        return cls(producer, idempotency_key, schema, metadata, tuple(ordered))

    def to_json(self) -> dict[str, Any]:
        """The manifest as a JSON object."""
        return {
            "manifest_version": MANIFEST_VERSION,
            "producer": self.producer,
            "idempotency_key": self.idempotency_key,
            "schema": self.schema,
            "metadata": self.metadata,
            "files": [f.to_json() for f in self.files],
        }

    def canonical_bytes(self) -> bytes:
        """The RFC 8785 serialization of the manifest object."""
        return canonical_json(self.to_json())

    def digest(self) -> Digest:
        """BLAKE3 of the canonical bytes: the package's content identity."""
        return Digest.of_bytes(self.canonical_bytes())

    @property
    def total_bytes(self) -> int:
        """Sum of file sizes."""
        return sum(f.size for f in self.files)
