"""Packs: small blobs kept together in one immutable object, each at its byte offset.

A verified bundle's members that the backend did not hold yet become one pack: their bytes
concatenated in bundle order. The pack is named by a BLAKE3 digest over its package, its bundle
and its bytes: a retried verifier of that bundle writes the very same object again, and no
other bundle ever names it, so a pack the sweep is deleting is never written anew under its
name. The catalog records each packed blob's place (pack, offset; its size is the blob's), and
the pack's live members: the sweep deletes a pack once none is left (``docs/architecture.md``,
"Packs"). A large blob's upload may be its own pack, an upload pack (``upload_pack_name``): one
member at offset 0, verified where the client wrote it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from artifactstore.domain.bundles import BUNDLE_MEMBER_MAX
from artifactstore.domain.digests import Digest


@dataclass(frozen=True, slots=True)
class PackPlace:
    """Where a packed blob's bytes are: ``size`` bytes from ``offset`` in pack ``pack``."""

    pack: Digest
    offset: int


@dataclass(frozen=True, slots=True)
class PackedBlob:
    """One member of a pack being written."""

    digest: Digest
    size: int
    offset: int


@dataclass(frozen=True, slots=True)
class Pack:
    """A pack's name, bytes and members, in order."""

    digest: Digest  # its name (``pack_name``), not the digest of its bytes
    data: bytes
    members: tuple[PackedBlob, ...]

    @property
    def size(self) -> int:
        """Bytes in the pack."""
        return len(self.data)


def pack_name(scope: str, data: bytes) -> Digest:
    """The name of a pack of ``data`` made for ``scope`` (``<package id>/<bundle id>``)."""
    return Digest.of_bytes(b"artifactstore pack\0" + scope.encode() + b"\0" + data)


def upload_pack_name(package_id: str, digest: Digest) -> Digest:
    """The name of the pack a large blob of ``package_id`` is uploaded straight into.

    Such a pack holds exactly that one blob, at offset 0 (``docs/architecture.md``, "Large
    files"): the storage that takes multipart uploads lets the client write it where it will
    stay, so the verifier hashes it in place and nothing copies it. Its name covers the
    package, so no other package's upload, nor a bundle's pack, ever lands under it.
    """
    return Digest.of_bytes(
        b"artifactstore upload pack\0" + package_id.encode() + b"\0" + digest.hex.encode()
    )


def is_whole_pack(size: int) -> bool:
    """Whether a packed blob of ``size`` bytes is its pack's only content (an upload pack).

    A bundle carries members of at most ``BUNDLE_MEMBER_MAX`` bytes, so a bigger packed blob
    can only be an upload pack's: read the whole object, never a range of it into memory.
    (An upload pack at or under that size is read as a range from 0: the same bytes.)
    """
    return size > BUNDLE_MEMBER_MAX


def build_pack(scope: str, blobs: Sequence[tuple[Digest, bytes]]) -> Pack:
    """The pack of ``blobs`` (each digest already checked against its bytes), in order, made
    for ``scope`` (``pack_name``); a digest named twice is packed once."""
    members: list[PackedBlob] = []
    pieces: list[bytes] = []
    seen: set[str] = set()
    offset = 0
    for digest, data in blobs:
        if digest.hex in seen:
            continue
        seen.add(digest.hex)
        members.append(PackedBlob(digest, len(data), offset))
        pieces.append(data)
        offset += len(data)
    data = b"".join(pieces)
    return Pack(pack_name(scope, data), data, tuple(members))
