"""How packages and blobs end: when a sealed package expires, and when a blob may be swept.

A package expires ``expire_days`` after it sealed (classes without ``expire_days`` never do).
A blob is stored once and shared, so it ends on its own clock: the catalog records, for an
expiring blob, the earliest time its users let it go (``expires_at``: at least ``expire_days``
past the latest moment an expiring package came to rely on it; ``domain/protection.py``), and
a blob any non-expiring package relies on is not expiring at all. The sweep takes a blob only
``sweep_grace`` after its ``expires_at``: a package relies on a blob from the request that
finds it held, but expires from its seal, at most a draft's lifetime later. Reasons:
``docs/architecture.md`` ("The end of a package").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from artifactstore.domain.digests import Digest
from artifactstore.domain.packs import PackPlace
from artifactstore.domain.retention import RetentionClass

# Beyond the longest a draft lives: clocks of different functions, and a day of slack in how
# protection counts "long enough" (``EXPIRY_SLACK``).
SWEEP_MARGIN = timedelta(days=2)
# A verifier about to rely on a stored blob holds it this long (longer than any Lambda runs).
LEASE = timedelta(hours=1)


def package_expiry(sealed_at: datetime, retention: RetentionClass) -> datetime | None:
    """When a package of ``retention`` sealed at ``sealed_at`` expires (None: never)."""
    if retention.expire_days is None:
        return None
    return sealed_at + timedelta(days=retention.expire_days)


def sweep_grace(draft_ttl: timedelta) -> timedelta:
    """How long past its ``expires_at`` a blob is still kept."""
    return draft_ttl + SWEEP_MARGIN


@dataclass(frozen=True, slots=True)
class SweepCandidate:
    """A blob whose recorded expiry has passed: maybe nothing relies on it any more."""

    digest: Digest
    size: int
    expires_at: datetime
    tombstoned: bool = False  # a sweep began deleting it and did not finish
    place: PackPlace | None = None  # in a pack: the pack goes when its last member does
    # Where the catalog's expiry order has it, opaque: the next page starts after it.
    position: str = field(default="", compare=False)
