"""The end of packages and blobs: one maintenance round, in bounded steps.

A round expires drafts past their TTL, expires sealed packages whose class's time is up,
sweeps blobs nothing may rely on any more, and re-publishes unconfirmed seal events. Each step
works through an index ordered by time and takes what it handled out of it, so a round that
runs out of time (``Budget``) leaves the rest to the next one, and a round that dies midway is
finished by the next (a blob tombstoned but not deleted is deleted then). Every step is
idempotent. Why it is safe against packages that come to rely on a blob while it is swept:
``docs/architecture.md`` ("The end of a package").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from aws_lambda_powertools import Logger

from artifactstore.domain.digests import Digest
from artifactstore.domain.keys import upload_key
from artifactstore.domain.lifecycle import SweepCandidate, sweep_grace
from artifactstore.domain.packages import BlobStatus
from artifactstore.errors import Conflict
from artifactstore.service.context import Services
from artifactstore.service.sealing import sweep_outbox

logger = Logger(service="artifactstore", child=True)
ABANDONED_AFTER = timedelta(minutes=15)
PAGE = 100  # items one query of a step reads
# A blob storage refuses to delete (a lock the catalog did not know) is looked at again then.
RECHECK_LOCKED_AFTER = timedelta(days=1)


class Budget:
    """Time left for a round: every step stops when it runs out (the rest waits for the
    next round)."""

    def __init__(self, seconds: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._until = None if seconds is None else clock() + seconds

    def left(self) -> bool:
        """Whether there is time for one more item."""
        return self._until is None or self._clock() < self._until


@dataclass(slots=True)
class RoundFigures:
    """What one round did (the maintenance function logs it and emits each as a metric)."""

    drafts_expired: int = 0
    packages_expired: int = 0
    blobs_deleted: int = 0
    bytes_reclaimed: int = 0
    blobs_kept_locked: int = 0
    seal_events_published: int = 0
    finished: bool = True  # False: the budget ran out; the next round goes on

    def as_dict(self) -> dict[str, int | bool]:
        """The figures as one JSON object."""
        return asdict(self)


def run_maintenance(svc: Services, budget: Budget | None = None) -> RoundFigures:
    """One round: expire drafts and sealed packages, sweep blobs, sweep the outbox."""
    budget = budget or Budget(None)
    figures = RoundFigures()
    figures.drafts_expired = expire_drafts(svc, budget)
    figures.packages_expired = expire_packages(svc, budget)
    sweep_blobs(svc, budget, figures)
    figures.seal_events_published = sweep_outbox(svc)
    figures.finished = budget.left()
    return figures


def expire_drafts(svc: Services, budget: Budget) -> int:
    """Drafts past their TTL become ``expired``; their pending uploads, and the parts of a
    list sent in parts that never completed, are deleted.

    A draft whose creator died before its file list was complete is expired after
    ``ABANDONED_AFTER``, so the producer's next attempt gets a fresh draft under the same key.
    """
    now = svc.clock()
    abandoned_before = now - ABANDONED_AFTER
    count = 0
    for record in svc.catalog.expired_drafts(now, abandoned_before, PAGE):
        if not budget.left():
            break
        if not svc.catalog.expire(record.package_id, now, abandoned_before):
            continue
        count += 1
        if record.files_in_parts and not record.files_complete:
            svc.catalog.delete_list_parts(record.package_id)  # a list that never opened
        storage = svc.storages.get(record.backend)
        if storage is None:  # the routes no longer name it: its uploads expire by lifecycle
            logger.warning(
                "draft expired; its backend is not configured, uploads left to lifecycle",
                extra={"package_id": record.package_id, "backend": record.backend},
            )
            continue
        for blob in svc.catalog.blob_states(record.package_id):
            if blob.status is not BlobStatus.VERIFIED:
                storage.delete_upload(upload_key(record.package_id, blob.digest))
        logger.info("draft expired", extra={"package_id": record.package_id})
    return count


def expire_packages(svc: Services, budget: Budget) -> int:
    """Sealed packages whose expiry is due become ``expired``: their record and manifest stay
    (evidence that they existed and what they held); their files answer 410. Their blobs end
    on their own clock (``sweep_blobs``), shared ones not before every user lets them go."""
    now = svc.clock()
    count = 0
    while budget.left():
        due = svc.catalog.due_packages(now, PAGE)
        expired = 0
        for record in due:
            if not budget.left():
                break
            if svc.catalog.expire_sealed(record.package_id, now):
                expired += 1
                logger.info(
                    "package expired",
                    extra={"package_id": record.package_id, "expiry_due": str(record.expiry_due)},
                )
        count += expired
        # Each expired one leaves the index: the next query starts after them.
        if len(due) < PAGE or not expired:
            break
    return count


def sweep_blobs(svc: Services, budget: Budget, figures: RoundFigures) -> None:
    """Delete blobs nothing may rely on any more, on every configured backend.

    A blob goes in three steps: a conditional tombstone (it must still be expiring, expired
    more than ``sweep_grace`` ago, and neither locked nor leased: from then on no package may
    count it as held), the bytes deleted from storage, and the record dropped. A round that
    dies between them leaves a tombstone the next round finds and finishes.
    """
    now = svc.clock()
    expired_before = now - sweep_grace(svc.draft_ttl)
    for backend in sorted(svc.storages):
        after: str | None = None  # past candidates kept (locked, leased, relied on again)
        while budget.left():
            candidates = svc.catalog.sweepable_blobs(backend, expired_before, PAGE, after)
            for candidate in candidates:
                if not budget.left():
                    break
                if not _sweep_one(svc, backend, candidate, expired_before, figures):
                    after = candidate.position
            if len(candidates) < PAGE:
                break


def _release_from_pack(svc: Services, backend: str, pack: Digest, digest: Digest) -> bool:
    """Take a tombstoned blob out of its pack; the pack goes with its last blob. Idempotent:
    a round that died midway finds the blob still tombstoned and does it again."""
    if not svc.catalog.release_packed_blob(backend, pack, digest):
        return True  # its bytes stay in the pack other blobs keep; none is readable as it
    try:
        svc.storage(backend).delete_pack(pack)
    except Conflict as exc:  # a lock none of its blobs recorded: the pack outlives them
        logger.warning("pack kept by storage", extra={"pack": str(pack), "code": exc.code})
        return True
    svc.catalog.forget_pack(backend, pack)
    logger.info("pack deleted", extra={"pack": str(pack)})
    return True


def _sweep_one(
    svc: Services,
    backend: str,
    candidate: SweepCandidate,
    expired_before: datetime,
    figures: RoundFigures,
) -> bool:
    """Tombstone, delete and forget one blob; False when it is kept (relied on again, locked
    or leased meanwhile)."""
    now = svc.clock()
    digest = candidate.digest
    if not candidate.tombstoned and not svc.catalog.tombstone_blob(
        backend, digest, expired_before, now
    ):
        return False
    if candidate.place is not None:
        removed = _release_from_pack(svc, backend, candidate.place.pack, digest)
    else:
        try:
            removed = svc.storage(backend).delete_blob(digest)
        except Conflict as exc:  # storage keeps it: a lock the catalog did not know
            svc.catalog.restore_blob(backend, digest, now + RECHECK_LOCKED_AFTER)
            figures.blobs_kept_locked += 1
            logger.warning("blob kept by storage", extra={"digest": str(digest), "code": exc.code})
            return True
    svc.catalog.forget_blob(backend, digest)
    figures.blobs_deleted += 1
    figures.bytes_reclaimed += candidate.size if removed else 0
    logger.info("blob deleted", extra={"digest": str(digest), "size": candidate.size})
    return True
