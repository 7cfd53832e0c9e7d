"""File lists of packages: file items, blob items, and completing a list sent in parts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Or
from pynamodb.models import Model

from artifactstore.catalog.models import PackageBlobModel, PackageFileModel, PackageModel, item_key
from artifactstore.catalog.support import CONDITION_FAILED, PKG_SK, error_code
from artifactstore.domain.manifest import FileEntry
from artifactstore.domain.packages import BlobStatus

SLICE = 500


def batch_save(items: Sequence[Model], writers: int = 8) -> None:
    """Batch-write many items, slices in parallel (each slice in 25-item requests)."""
    slices = [items[i : i + SLICE] for i in range(0, len(items), SLICE)]

    def write(chunk: Sequence[Model]) -> None:
        with type(chunk[0]).batch_write() as batch:
            for item in chunk:
                batch.save(item)

    if len(slices) <= 1:
        for chunk in slices:
            write(chunk)
        return
    with ThreadPoolExecutor(min(writers, len(slices))) as pool:
        list(pool.map(write, slices))


def add_file_items(package_id: str, files: Sequence[FileEntry]) -> None:
    """Write file items (re-writing the same file is harmless)."""
    pk = item_key("PKG", package_id)
    batch_save(
        [
            PackageFileModel(
                pk,
                "FILE#" + f.path,
                path=f.path,
                size=f.size,
                digest=str(f.digest),
                executable=f.executable,
            )
            for f in files
        ]
    )


def add_blob_items(package_id: str, blobs: Mapping[str, int], verified_hex: set[str]) -> None:
    """Write one item per distinct blob; those already held start out verified.

    Only the writer of the file list calls this, before ``files_complete`` is set: the verifier
    touches no blob item of an incomplete list, so batch writes cannot reset a verified one.
    """
    pk = item_key("PKG", package_id)
    batch_save(
        [
            PackageBlobModel(
                pk,
                "BLOB#" + hex_digest,
                digest="blake3:" + hex_digest,
                size=size,
                status=(
                    BlobStatus.VERIFIED if hex_digest in verified_hex else BlobStatus.PENDING
                ).value,
            )
            for hex_digest, size in blobs.items()
        ]
    )


def claim_file_list(package_id: str, writer: str, now: datetime, stale_before: datetime) -> bool:
    """Become the one writer that completes the list (a stale claim may be taken over)."""
    try:
        PackageModel(item_key("PKG", package_id), PKG_SK).update(
            actions=[
                PackageModel.list_writer.set(writer),
                PackageModel.list_writer_at.set(now),
            ],
            condition=(PackageModel.files_complete == False)  # noqa: E712 - DynamoDB condition
            & Or(
                PackageModel.list_writer.does_not_exist(),
                PackageModel.list_writer_at < stale_before,
            ),
        )
        return True
    except UpdateError as exc:
        if error_code(exc) == CONDITION_FAILED:
            return False
        raise


def finish_file_list(
    package_id: str, writer: str, *, blob_count: int, verified_count: int, total_bytes: int
) -> bool:
    """Mark the list complete with its counters, if ``writer`` still holds the claim."""
    try:
        PackageModel(item_key("PKG", package_id), PKG_SK).update(
            actions=[
                PackageModel.files_complete.set(True),
                PackageModel.blob_count.set(blob_count),
                PackageModel.verified_count.set(verified_count),
                PackageModel.total_bytes.set(total_bytes),
                PackageModel.list_writer.remove(),
                PackageModel.list_writer_at.remove(),
            ],
            condition=(PackageModel.files_complete == False)  # noqa: E712
            & (PackageModel.list_writer == writer),
        )
        return True
    except UpdateError as exc:
        if error_code(exc) == CONDITION_FAILED:
            return False
        raise


def release_file_list(package_id: str, writer: str) -> None:
    """Give up the claim (the list failed its checks); nothing else changes."""
    try:
        PackageModel(item_key("PKG", package_id), PKG_SK).update(
            actions=[PackageModel.list_writer.remove(), PackageModel.list_writer_at.remove()],
            condition=PackageModel.list_writer == writer,
        )
    except UpdateError as exc:
        if error_code(exc) != CONDITION_FAILED:
            raise
