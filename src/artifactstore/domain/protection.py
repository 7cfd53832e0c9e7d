"""How a stored blob is kept, and what a retention class asks of a blob a package relies on.

A blob is stored once per backend and shared by every package that lists its digest, so its
protection must be the union of what their classes ask: no expiry if any of them keeps it, a
lock at least as long as the longest, and an expiring blob kept at least ``expire_days`` past
the latest time an expiring package came to rely on it. Rules and their reasons:
``docs/architecture.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from artifactstore.domain.retention import LockMode, RetentionClass

# A lock that ends at most this long before what a class would give today counts as enough:
# re-using a blob every day must not extend its lock (one storage request) every day.
LOCK_SLACK = timedelta(days=30)
# Likewise for an expiring blob: one that expires at most this long before what the class
# would give today is not refreshed (a copy of the blob) for that re-use.
EXPIRY_SLACK = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Protection:
    """What keeps one stored blob: whether it expires and when, and its lock (mode and end).

    ``expires_at`` is when the expiry of an expiring blob's current version falls due at the
    earliest (its creation plus the lifecycle's days; None: unknown). ``expire_days`` is set
    on what an expiring class asks only: the days a copy made now would live, which storage
    needs to tell when a blob whose expiry was never recorded expires.
    """

    expiring: bool
    lock_mode: LockMode | None = None
    retain_until: datetime | None = None
    expires_at: datetime | None = None
    expire_days: int | None = None

    @classmethod
    def asked(cls, retention: RetentionClass, now: datetime) -> Protection:
        """What ``retention`` asks of a blob stored, or relied on, at ``now``."""
        days = retention.expire_days
        expires_at = None if days is None else now + timedelta(days=days)
        lock_mode, retain_until = None, None
        if retention.lock_mode is not None and retention.lock_days is not None:
            lock_mode, retain_until = retention.lock_mode, now + timedelta(days=retention.lock_days)
        return cls(days is not None, lock_mode, retain_until, expires_at, days)

    def covers(self, asked: Protection) -> bool:
        """Whether this keeps a blob at least as ``asked`` (lock end within ``LOCK_SLACK``,
        expiry within ``EXPIRY_SLACK``).

        The lock mode is not compared: see ``upgraded``.
        """
        if self.expiring and not (asked.expiring and self._lives_long_enough(asked)):
            return False
        if asked.retain_until is None:
            return True
        return (
            self.retain_until is not None and self.retain_until >= asked.retain_until - LOCK_SLACK
        )

    def _lives_long_enough(self, asked: Protection) -> bool:
        if asked.expires_at is None:
            return True
        return self.expires_at is not None and self.expires_at >= asked.expires_at - EXPIRY_SLACK

    def upgraded(self, asked: Protection) -> Protection:
        """The union of this and ``asked``: what to apply so the blob keeps both promises.

        An expiring blob that would expire too soon for ``asked`` gets ``asked.expires_at``:
        storage renews it (a new current version, created now). An existing lock keeps its
        mode: S3 never lets COMPLIANCE change, and turning GOVERNANCE into COMPLIANCE takes
        the right to bypass governance locks, which would also let the service shorten or
        delete them; only the date is extended.
        """
        expiring = self.expiring and asked.expiring
        expires_at = None
        if expiring:
            long_enough = self._lives_long_enough(asked)
            expires_at = self.expires_at if long_enough else asked.expires_at
        lock_mode, retain_until = self.lock_mode, self.retain_until
        if asked.retain_until is not None and not self.covers(
            replace(asked, expiring=True, expires_at=None)
        ):
            lock_mode, retain_until = self.lock_mode or asked.lock_mode, asked.retain_until
        return Protection(expiring, lock_mode, retain_until, expires_at)


def lock_mode_of(value: object) -> LockMode | None:
    """A lock mode as storage or the catalog reports it (anything else: no lock)."""
    if value == "GOVERNANCE":
        return "GOVERNANCE"
    if value == "COMPLIANCE":
        return "COMPLIANCE"
    return None


def needs_upgrade(known: Protection | None, asked: Protection) -> bool:
    """Whether a held blob (``known``: its recorded protection, None when unrecorded) must be
    protected further, or checked, before a package of the class that ``asked`` relies on it."""
    return known is None or not known.covers(asked)
