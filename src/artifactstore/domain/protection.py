"""How a stored blob is kept, and what a retention class asks of a blob a package relies on.

A blob is stored once per backend and shared by every package that lists its digest, so its
protection must be the union of what their classes ask: no expiry if any of them keeps it, and a
lock at least as long as the longest. Rules and their reasons: ``docs/architecture.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from artifactstore.domain.retention import LockMode, RetentionClass

# A lock that ends at most this long before what a class would give today counts as enough:
# re-using a blob every day must not extend its lock (one storage request) every day.
LOCK_SLACK = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Protection:
    """What keeps one stored blob: whether it expires, and its lock (mode and end)."""

    expiring: bool
    lock_mode: LockMode | None = None
    retain_until: datetime | None = None

    @classmethod
    def asked(cls, retention: RetentionClass, now: datetime) -> Protection:
        """What ``retention`` asks of a blob stored, or relied on, at ``now``."""
        expiring = retention.expire_days is not None
        if retention.lock_mode is None or retention.lock_days is None:
            return cls(expiring)
        return cls(expiring, retention.lock_mode, now + timedelta(days=retention.lock_days))

    @property
    def weakest(self) -> bool:
        """Asks nothing beyond being stored: any stored blob gives it."""
        return self.expiring and self.retain_until is None

    def covers(self, asked: Protection) -> bool:
        """Whether this keeps a blob at least as ``asked`` (lock end within ``LOCK_SLACK``).

        The lock mode is not compared: see ``upgraded``.
        """
        if self.expiring and not asked.expiring:
            return False
        if asked.retain_until is None:
            return True
        return (
            self.retain_until is not None and self.retain_until >= asked.retain_until - LOCK_SLACK
        )

    def upgraded(self, asked: Protection) -> Protection:
        """The union of this and ``asked``: what to apply so the blob keeps both promises.

        An existing lock keeps its mode: S3 never lets COMPLIANCE change, and turning
        GOVERNANCE into COMPLIANCE takes the right to bypass governance locks, which would also
        let the service shorten or delete them; only the date is extended.
        """
        expiring = self.expiring and asked.expiring
        if asked.retain_until is None or self.covers(replace(asked, expiring=True)):
            return replace(self, expiring=expiring)
        return Protection(expiring, self.lock_mode or asked.lock_mode, asked.retain_until)


def lock_mode_of(value: object) -> LockMode | None:
    """A lock mode as storage or the catalog reports it (anything else: no lock)."""
    if value == "GOVERNANCE":
        return "GOVERNANCE"
    if value == "COMPLIANCE":
        return "COMPLIANCE"
    return None


def needs_upgrade(known: Protection | None, asked: Protection) -> bool:
    """Whether a held blob (``known``: its recorded protection, None when unrecorded) must be
    protected further before a package of the class that ``asked`` relies on it."""
    if asked.weakest:
        return False
    return known is None or not known.covers(asked)
