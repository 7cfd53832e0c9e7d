"""The one writer that completes a file list sent in parts: claimed, finished or released on
the package item (``list_writer``, ``list_writer_at``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Or

from artifactstore.adapters.dynamodb.models import item_key
from artifactstore.adapters.dynamodb.support import CONDITION_FAILED, PKG_SK, error_code

if TYPE_CHECKING:
    from artifactstore.adapters.dynamodb.binding import TableModels


def claim_file_list(
    models: TableModels, package_id: str, writer: str, now: datetime, stale_before: datetime
) -> bool:
    """Become the one writer that completes the list (a stale claim may be taken over)."""
    packages = models.PackageModel
    try:
        packages(item_key("PKG", package_id), PKG_SK).update(
            actions=[
                packages.list_writer.set(writer),
                packages.list_writer_at.set(now),
            ],
            condition=(packages.files_complete == False)  # noqa: E712 - DynamoDB condition
            & Or(
                packages.list_writer.does_not_exist(),
                packages.list_writer_at < stale_before,
            ),
        )
        return True
    except UpdateError as exc:
        if error_code(exc) == CONDITION_FAILED:
            return False
        raise


def finish_file_list(
    models: TableModels,
    package_id: str,
    writer: str,
    *,
    blob_count: int,
    verified_count: int,
    total_bytes: int,
) -> bool:
    """Mark the list complete with its counters, if ``writer`` still holds the claim."""
    packages = models.PackageModel
    try:
        packages(item_key("PKG", package_id), PKG_SK).update(
            actions=[
                packages.files_complete.set(True),
                packages.blob_count.set(blob_count),
                packages.verified_count.set(verified_count),
                packages.total_bytes.set(total_bytes),
                packages.list_writer.remove(),
                packages.list_writer_at.remove(),
            ],
            condition=(packages.files_complete == False)  # noqa: E712
            & (packages.list_writer == writer),
        )
        return True
    except UpdateError as exc:
        if error_code(exc) == CONDITION_FAILED:
            return False
        raise


def release_file_list(models: TableModels, package_id: str, writer: str) -> None:
    """Give up the claim (the list failed its checks); nothing else changes."""
    packages = models.PackageModel
    try:
        packages(item_key("PKG", package_id), PKG_SK).update(
            actions=[
                packages.list_writer.remove(),
                packages.list_writer_at.remove(),
            ],
            condition=packages.list_writer == writer,
        )
    except UpdateError as exc:
        if error_code(exc) != CONDITION_FAILED:
            raise
