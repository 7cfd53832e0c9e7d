"""Blobs each backend holds (``pk=BLOB#<backend>#<hex>``, ``sk=BLOB``): size, protection,
producers, and their end: a lease while a verifier relies on one, a tombstone while the sweep
deletes one. Protocol and reasons: ``docs/architecture.md`` ("The end of a package")."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from pynamodb.exceptions import DeleteError, PutError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from artifactstore.adapters.dynamodb.models import item_key
from artifactstore.adapters.dynamodb.support import CONDITION_FAILED, CatalogTable, error_code
from artifactstore.domain.digests import Digest
from artifactstore.domain.lifecycle import SweepCandidate
from artifactstore.domain.packages import HeldBlob
from artifactstore.domain.packs import PackPlace
from artifactstore.domain.protection import Protection, lock_mode_of
from artifactstore.workers import parallel_map

if TYPE_CHECKING:  # the template: every read and write goes through ``self.models``
    from artifactstore.adapters.dynamodb.models import BlobModel

VERIFIED_SLICE = 1000  # keys per parallel reader (BatchGetItem takes 100 at a time)


def _key(blobs: type[BlobModel], backend: str, digest: Digest) -> BlobModel:
    return blobs(item_key("BLOB", backend, digest.hex), "BLOB")


def expiry_partition(backend: str) -> str:
    """The expiry index's partition of one backend's expiring blobs."""
    return item_key("EXPIRY", "BLOB", backend)


def expiry_sort(when: datetime, hex_digest: str) -> str:
    return f"{when.isoformat()}#{hex_digest}"


class HeldBlobStore(CatalogTable):
    """Read, record, protect, lease and retire held blobs; every write is conditional."""

    def verified_blobs(self, backend: str, digests: Iterable[Digest]) -> set[str]:
        """Which of ``digests`` (hex) the backend holds, verified (slices read in parallel)."""
        return set(self.held_blobs(backend, digests))

    def held_blobs(self, backend: str, digests: Iterable[Digest]) -> dict[str, Protection | None]:
        """The verified blobs among ``digests`` the backend holds: hex → recorded protection
        (None for a blob recorded before protections were)."""
        return {h: held.protection for h, held in self.held_records(backend, digests).items()}

    def held_records(self, backend: str, digests: Iterable[Digest]) -> dict[str, HeldBlob]:
        """The verified blobs among ``digests`` the backend holds: hex → its record (size,
        protection, producers that proved possession). A blob the sweep is deleting is not
        held."""
        m = self.models
        return {
            item.pk.rsplit("#", 1)[1]: HeldBlob(
                int(item.size), _protection(item), frozenset(item.producers or ()), _place(item)
            )
            for item in _blob_items(m.BlobModel, backend, digests)
            if not _tombstoned(item)
        }

    def swept_blobs(self, backend: str, digests: Iterable[Digest]) -> set[str]:
        """Which of ``digests`` (hex) the sweep is deleting (tombstoned)."""
        m = self.models
        return {
            item.pk.rsplit("#", 1)[1]
            for item in _blob_items(m.BlobModel, backend, digests, ["pk", "tombstoned_at"])
            if _tombstoned(item)
        }

    def record_blob(
        self,
        backend: str,
        digest: Digest,
        size: int,
        package_id: str,
        now: datetime,
        protection: Protection | None = None,
        producer: str | None = None,
    ) -> bool:
        """Record a verified blob, how it is kept, and the producer whose upload proved
        possession. The first writer creates the item; a later one only adds protection it
        applied (``raise_blob_protection``) and its producer. False when the sweep is
        deleting the blob (tombstoned): the caller must not rely on it."""
        m = self.models
        item = _key(m.BlobModel, backend, digest)
        item.size = size
        item.verified_at = now
        item.first_package_id = package_id
        item.producers = {producer} if producer else None
        if protection is not None:
            item.expiring = protection.expiring
            item.lock_mode = protection.lock_mode
            item.retain_until = protection.retain_until
            item.expires_at = protection.expires_at
            if protection.expiring and protection.expires_at is not None:
                item.gsi4pk = expiry_partition(backend)
                item.gsi4sk = expiry_sort(protection.expires_at, digest.hex)
        try:
            item.save(condition=m.BlobModel.pk.does_not_exist())
            return True
        except PutError as exc:
            if error_code(exc) != CONDITION_FAILED:
                raise
        if protection is not None and not self.raise_blob_protection(backend, digest, protection):
            return False
        if producer:
            return self.add_blob_producer(backend, digest, producer)
        return self._alive(backend, digest)

    def add_blob_producer(self, backend: str, digest: Digest, producer: str) -> bool:
        """Record that ``producer`` proved possession of a held blob (the verifier hashed its
        upload); False (nothing written) when the backend does not hold it, or the sweep is
        deleting it."""
        m = self.models
        return _update(
            _key(m.BlobModel, backend, digest),
            [m.BlobModel.producers.add({producer})],
            _alive_condition(m.BlobModel),
        )

    def raise_blob_protection(self, backend: str, digest: Digest, protection: Protection) -> bool:
        """Record protection applied to a held blob; never weakens what the item records.
        False when the blob is not held, or the sweep is deleting it: nothing may rely on it.

        The record may lag storage (it is written after the storage request) but never runs
        ahead of it, so a blob is never taken for better kept than it is. Conditional writes:
        the lock end and the expiry date only move later, and ``expiring`` only from true (or
        unknown) to false. One write when only one of them moves.
        """
        m = self.models
        item = _key(m.BlobModel, backend, digest)
        expiring: list[Action] = (
            [
                m.BlobModel.expiring.set(False),
                m.BlobModel.gsi4pk.remove(),
                m.BlobModel.gsi4sk.remove(),
            ]
            if not protection.expiring
            # An unrecorded item learns it may expire: weaker than unknown, never wrong.
            else [m.BlobModel.expiring.set(m.BlobModel.expiring | True)]
        )
        moves: list[tuple[list[Action], Condition]] = []
        if protection.retain_until is not None:
            moves.append(
                (
                    [
                        m.BlobModel.lock_mode.set(protection.lock_mode or ""),
                        m.BlobModel.retain_until.set(protection.retain_until),
                    ],
                    m.BlobModel.retain_until.does_not_exist()
                    | (m.BlobModel.retain_until < protection.retain_until),
                )
            )
        if protection.expires_at is not None:
            later: list[Action] = [m.BlobModel.expires_at.set(protection.expires_at)]
            if protection.expiring:
                later.append(m.BlobModel.gsi4sk.set(expiry_sort(protection.expires_at, digest.hex)))
            moves.append(
                (
                    later,
                    m.BlobModel.expires_at.does_not_exist()
                    | (m.BlobModel.expires_at < protection.expires_at),
                )
            )
        recorded = False
        for actions, condition in moves:
            recorded |= _update(
                item, [*expiring, *actions], _alive_condition(m.BlobModel) & condition
            )
        # Nothing moved (recorded already): one write still says whether the blob is alive.
        return recorded or _update(item, expiring, _alive_condition(m.BlobModel))

    def _alive(self, backend: str, digest: Digest) -> bool:
        m = self.models
        return _update(
            _key(m.BlobModel, backend, digest),
            [m.BlobModel.size.set(m.BlobModel.size)],
            _alive_condition(m.BlobModel),
        )

    # -- the end of a blob -------------------------------------------------------------------

    def lease_blob(self, backend: str, digest: Digest, until: datetime) -> bool:
        """Hold a blob a verifier is about to rely on until ``until``: the sweep leaves a leased
        blob alone. True when it is leased, or not recorded at all (nothing to hold against:
        the sweep forgets a blob only after deleting its bytes); False while the sweep is
        deleting it (the verifier waits and tries again)."""
        m = self.models
        try:
            item = m.BlobModel.get(
                item_key("BLOB", backend, digest.hex), "BLOB", consistent_read=True
            )
        except m.BlobModel.DoesNotExist:
            return True
        if _tombstoned(item):
            return False
        return _update(
            item,
            [m.BlobModel.lease_until.set(until)],
            m.BlobModel.tombstoned_at.does_not_exist()
            & (m.BlobModel.lease_until.does_not_exist() | (m.BlobModel.lease_until < until)),
        ) or self._alive(backend, digest)

    def sweepable_blobs(
        self, backend: str, before: datetime, limit: int, after: str | None = None
    ) -> list[SweepCandidate]:
        """Expiring blobs of ``backend`` whose recorded expiry is before ``before``, oldest
        first, those the sweep already tombstoned included (it finishes them); after the
        candidate at ``after`` when given."""
        m = self.models
        start = None
        if after is not None:
            start = {
                "gsi4pk": {"S": expiry_partition(backend)},
                "gsi4sk": {"S": after},
                "pk": {"S": item_key("BLOB", backend, after.rsplit("#", 1)[-1])},
                "sk": {"S": "BLOB"},
            }
        found = m.BlobModel.expiry.query(
            expiry_partition(backend),
            m.BlobModel.gsi4sk < before.isoformat(),
            limit=limit,
            last_evaluated_key=start,
        )
        return [
            SweepCandidate(
                Digest(item.pk.rsplit("#", 1)[1]),
                int(item.size),
                item.expires_at or before,
                tombstoned=_tombstoned(item),
                place=_place(item),
                position=item.gsi4sk,
            )
            for item in found
        ]

    def tombstone_blob(
        self, backend: str, digest: Digest, expired_before: datetime, now: datetime
    ) -> bool:
        """Mark a blob as being deleted, if nothing may rely on it any more: still expiring,
        its expiry before ``expired_before``, no lock and no lease beyond ``now``."""
        m = self.models
        return _update(
            _key(m.BlobModel, backend, digest),
            [m.BlobModel.tombstoned_at.set(now)],
            m.BlobModel.pk.exists()
            & m.BlobModel.tombstoned_at.does_not_exist()
            & (m.BlobModel.expiring == True)  # noqa: E712 - a DynamoDB condition
            & (m.BlobModel.expires_at < expired_before)
            & (m.BlobModel.retain_until.does_not_exist() | (m.BlobModel.retain_until < now))
            & (m.BlobModel.lease_until.does_not_exist() | (m.BlobModel.lease_until < now)),
        )

    def forget_blob(self, backend: str, digest: Digest) -> None:
        """Drop a tombstoned blob's record, its bytes deleted."""
        m = self.models
        try:
            _key(m.BlobModel, backend, digest).delete(condition=m.BlobModel.tombstoned_at.exists())
        except DeleteError as exc:
            if error_code(exc) != CONDITION_FAILED:
                raise

    def restore_blob(self, backend: str, digest: Digest, until: datetime) -> None:
        """Take a tombstone back (storage refused to delete: a lock the catalog did not know),
        and look at the blob again only after ``until``."""
        m = self.models
        _update(
            _key(m.BlobModel, backend, digest),
            [
                m.BlobModel.tombstoned_at.remove(),
                m.BlobModel.gsi4sk.set(expiry_sort(until, digest.hex)),
            ],
            m.BlobModel.tombstoned_at.exists(),
        )


def _blob_items(
    blobs: type[BlobModel],
    backend: str,
    digests: Iterable[Digest],
    attributes: list[str] | None = None,
) -> list[BlobModel]:
    """The recorded items of ``digests``, in parallel slices of batched reads. Consistent: a
    blob recorded by the verifier a moment ago is seen."""
    keys = sorted({(item_key("BLOB", backend, d.hex), "BLOB") for d in digests})
    slices = [keys[i : i + VERIFIED_SLICE] for i in range(0, len(keys), VERIFIED_SLICE)]

    def read(chunk: list[tuple[str, str]]) -> list[BlobModel]:
        return list(blobs.batch_get(chunk, consistent_read=True, attributes_to_get=attributes))

    return [item for part in parallel_map(read, slices) for item in part]


def _alive_condition(blobs: type[BlobModel]) -> Condition:
    alive: Condition = blobs.pk.exists() & blobs.tombstoned_at.does_not_exist()
    return alive


def _tombstoned(item: BlobModel) -> bool:
    # PynamoDB types a nullable attribute as never None.
    return item.attribute_values.get("tombstoned_at") is not None


def _update(item: BlobModel, actions: list[Action], condition: Condition) -> bool:
    """One conditional update; False when its condition failed."""
    try:
        item.update(actions=actions, condition=condition)
        return True
    except UpdateError as exc:
        if error_code(exc) != CONDITION_FAILED:
            raise
        return False


def _place(item: BlobModel) -> PackPlace | None:
    """Where a packed blob's bytes are; None for a blob stored as its own object."""
    pack = item.attribute_values.get("pack")
    if pack is None:
        return None
    return PackPlace(Digest(pack), int(item.pack_offset))


def _protection(item: BlobModel) -> Protection | None:
    """A blob item's recorded protection; None when recorded before protections were."""
    expiring = item.attribute_values.get("expiring")  # PynamoDB types it as never None
    if expiring is None:
        return None
    return Protection(
        bool(expiring), lock_mode_of(item.lock_mode), item.retain_until, item.expires_at
    )
