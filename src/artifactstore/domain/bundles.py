"""Bundles: many small blobs carried by one upload, their bytes concatenated in member order."""

from __future__ import annotations

from collections.abc import Sequence

import blake3

from artifactstore.domain.digests import Digest

BUNDLE_MEMBER_MAX = 1024 * 1024  # a blob this size or smaller may travel in a bundle
BUNDLE_MAX_BYTES = 64 * 1024 * 1024
BUNDLE_MAX_MEMBERS = 2000  # members JSON in one catalog item: about 150 KB of the 400 KB


def bundle_id(members: Sequence[Digest]) -> str:
    """The bundle's name: BLAKE3 of its member digests in order (same members, same id)."""
    return blake3.blake3("\n".join(d.hex for d in members).encode("ascii")).hexdigest()
