"""The one writer that completes a file list sent in parts: claimed, finished or released on
the package item (``list_writer``, ``list_writer_at``)."""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Or

from artifactstore.adapters.dynamodb.models import PackageModel, item_key
from artifactstore.adapters.dynamodb.support import CONDITION_FAILED, PKG_SK, error_code


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
