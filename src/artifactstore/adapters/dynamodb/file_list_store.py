"""The file-list part of the catalog port, over the item layout of ``file_list_items``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from artifactstore.adapters.dynamodb import file_list_items as items
from artifactstore.adapters.dynamodb import list_writer
from artifactstore.adapters.dynamodb.models import draft_ttl
from artifactstore.adapters.dynamodb.support import CatalogTable
from artifactstore.domain.manifest import FileEntry


class FileListStore(CatalogTable):
    """Lists sent in parts (``PART#`` items), claimed by one writer, completed into chunks
    (``FILE#``) and blob buckets (``BLOB#``) that carry their draft's TTL until it seals; a
    large list's items spread over a few partition keys (``shards.py``)."""

    def add_list_part(
        self,
        package_id: str,
        files: Sequence[FileEntry],
        declared: int,
        stale_before: datetime,
        expires_at: datetime,
    ) -> None:
        """Keep one part of a list sent in parts (the same part twice writes the same items)."""
        items.add_part_items(
            self.models, package_id, files, declared, stale_before, draft_ttl(expires_at)
        )

    def read_list_parts(self, package_id: str) -> list[FileEntry]:
        """Every file of every part received, in no particular order (duplicates included)."""
        return items.read_parts(self.models, package_id)

    def delete_list_parts(self, package_id: str) -> None:
        """Drop the parts received, so a list sent again does not count twice."""
        items.delete_parts(self.models, package_id)

    def claim_file_list(
        self, package_id: str, writer: str, now: datetime, stale_before: datetime
    ) -> bool:
        """Become the one writer that completes the list (a stale claim may be taken over)."""
        return list_writer.claim_file_list(self.models, package_id, writer, now, stale_before)

    def add_file_chunks(
        self, package_id: str, files: Sequence[FileEntry], expires_at: datetime
    ) -> None:
        """Write a complete list (sorted by path) of a draft expiring at ``expires_at``."""
        items.add_file_chunks(self.models, package_id, files, draft_ttl(expires_at))

    def add_blob_buckets(
        self,
        package_id: str,
        blobs: Mapping[str, int],
        verified_hex: set[str],
        expires_at: datetime,
    ) -> None:
        """Write the distinct blobs (hex → size); those in ``verified_hex`` start verified."""
        items.add_blob_buckets(self.models, package_id, blobs, verified_hex, draft_ttl(expires_at))

    def finish_file_list(
        self,
        package_id: str,
        writer: str,
        *,
        blob_count: int,
        verified_count: int,
        total_bytes: int,
    ) -> bool:
        """Mark the list complete with its counters, if ``writer`` still holds the claim."""
        return list_writer.finish_file_list(
            self.models,
            package_id,
            writer,
            blob_count=blob_count,
            verified_count=verified_count,
            total_bytes=total_bytes,
        )

    def release_file_list(self, package_id: str, writer: str) -> None:
        """Give up the claim (the list failed its checks); nothing else changes."""
        list_writer.release_file_list(self.models, package_id, writer)

    def keep_file_list(self, package_id: str) -> None:
        """The package is sealing: remove the TTL from its chunk items."""
        items.keep_file_chunks(self.models, package_id)
