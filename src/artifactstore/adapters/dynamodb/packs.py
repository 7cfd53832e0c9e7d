"""Packs in the catalog: packed blobs' items (``BlobModel.pack``) and each pack's live blobs
(``PackModel``), written together so the set never misses a blob that points at the pack."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from pynamodb.exceptions import DeleteError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from artifactstore.adapters.dynamodb.blobs import expiry_partition, expiry_sort
from artifactstore.adapters.dynamodb.models import item_key
from artifactstore.adapters.dynamodb.support import (
    CONDITION_FAILED,
    TRANSACTION_CANCELED,
    CatalogTable,
    error_code,
)
from artifactstore.domain.digests import Digest
from artifactstore.domain.packs import PackedBlob
from artifactstore.domain.protection import Protection

if TYPE_CHECKING:  # the templates: every read and write goes through ``self.models``
    from artifactstore.adapters.dynamodb.models import BlobModel, PackModel

# Items per transaction: DynamoDB takes 100, one of them the pack's item.
MEMBERS_PER_WRITE = 99


def _pack_item(packs: type[PackModel], backend: str, pack: Digest) -> PackModel:
    return packs(item_key("PACK", backend, pack.hex), "PACK")


class PackStore(CatalogTable):
    """Record blobs held in packs and let packs go with their last blob."""

    def record_packed_blobs(
        self,
        backend: str,
        pack: Digest,
        members: Sequence[PackedBlob],
        package_id: str,
        now: datetime,
        protection: Protection,
        producer: str,
    ) -> set[str]:
        """Create each member's item (``attribute_not_exists``) and add it to the pack's live
        blobs, 99 members per transaction; a member recorded already (by a concurrent
        verifier, or being swept) is dropped from its transaction, which is sent again."""
        recorded: set[str] = set()
        for start in range(0, len(members), MEMBERS_PER_WRITE):
            pending = list(members[start : start + MEMBERS_PER_WRITE])
            while pending:
                taken = self._record_some(
                    backend, pack, pending, package_id, now, protection, producer
                )
                if taken is None:
                    recorded.update(m.digest.hex for m in pending)
                    break
                pending = [m for m in pending if m.digest.hex not in taken]
        return recorded

    def _record_some(
        self,
        backend: str,
        pack: Digest,
        members: Sequence[PackedBlob],
        package_id: str,
        now: datetime,
        protection: Protection,
        producer: str,
    ) -> set[str] | None:
        """One transaction; None when it went through, else the hex of members already held."""
        m = self.models
        try:
            with TransactWrite(connection=self._connection()) as tx:
                for member in members:
                    tx.save(
                        _packed_item(
                            m.BlobModel,
                            backend,
                            pack,
                            member,
                            package_id,
                            now,
                            protection,
                            producer,
                        ),
                        condition=m.BlobModel.pk.does_not_exist(),
                    )
                tx.update(
                    _pack_item(m.PackModel, backend, pack),
                    actions=[
                        m.PackModel.live.add({member.digest.hex for member in members}),
                        m.PackModel.created_at.set(m.PackModel.created_at | now),
                    ],
                )
        except TransactWriteError as exc:
            if error_code(exc) != TRANSACTION_CANCELED:
                raise
            taken = {
                members[i].digest.hex
                for i, reason in enumerate(exc.cancellation_reasons[: len(members)])
                if reason is not None and reason.code == "ConditionalCheckFailed"
            }
            if not taken:
                raise
            return taken
        return None

    def release_packed_blob(self, backend: str, pack: Digest, digest: Digest) -> bool:
        """Delete the blob from the pack's live set (idempotent); True when the set is empty
        (DynamoDB removes an emptied set), read from the update's own answer."""
        m = self.models
        item = _pack_item(m.PackModel, backend, pack)
        try:
            item.update(
                actions=[m.PackModel.live.delete({digest.hex})], condition=m.PackModel.pk.exists()
            )
        except UpdateError as exc:
            if error_code(exc) != CONDITION_FAILED:
                raise
            return True  # forgotten already: a round that died after deleting the pack
        return not item.attribute_values.get("live")

    def forget_pack(self, backend: str, pack: Digest) -> None:
        """Drop a pack's item once its live set is empty."""
        m = self.models
        try:
            _pack_item(m.PackModel, backend, pack).delete(
                condition=m.PackModel.live.does_not_exist()
            )
        except DeleteError as exc:
            if error_code(exc) != CONDITION_FAILED:
                raise


def _packed_item(
    blobs: type[BlobModel],
    backend: str,
    pack: Digest,
    member: PackedBlob,
    package_id: str,
    now: datetime,
    protection: Protection,
    producer: str,
) -> BlobModel:
    item = blobs(
        item_key("BLOB", backend, member.digest.hex),
        "BLOB",
        size=member.size,
        verified_at=now,
        first_package_id=package_id,
        producers={producer},
        expiring=protection.expiring,
        lock_mode=protection.lock_mode,
        retain_until=protection.retain_until,
        expires_at=protection.expires_at,
        pack=pack.hex,
        pack_offset=member.offset,
    )
    if protection.expiring and protection.expires_at is not None:
        item.gsi4pk = expiry_partition(backend)
        item.gsi4sk = expiry_sort(protection.expires_at, member.digest.hex)
    return item
