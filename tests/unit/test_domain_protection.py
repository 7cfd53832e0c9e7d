"""The protection rules of a shared blob: locks only lengthen, expiry only moves later."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from artifactstore.domain.protection import EXPIRY_SLACK, LOCK_SLACK, Protection, needs_upgrade
from artifactstore.domain.retention import RetentionClass

NOW = datetime(2030, 1, 1, tzinfo=UTC)
TEN_YEARS = timedelta(days=3650)
TWO_WEEKS = timedelta(days=14)
EVIDENCE = RetentionClass("release-evidence", lock_mode="GOVERNANCE", lock_days=3650)
EPHEMERAL = RetentionClass("ephemeral", expire_days=14)


def test_a_lock_is_extended_only_beyond_the_slack_and_keeps_its_mode() -> None:
    asked = Protection.asked(EVIDENCE, NOW)
    recent = Protection(False, "GOVERNANCE", NOW + TEN_YEARS - LOCK_SLACK)
    assert not needs_upgrade(recent, asked)  # re-used within the slack: no request
    old = Protection(False, "COMPLIANCE", NOW + TEN_YEARS - LOCK_SLACK - timedelta(days=1))
    assert needs_upgrade(old, asked)
    # COMPLIANCE is never turned into GOVERNANCE; only the end moves, and only later.
    assert old.upgraded(asked) == Protection(False, "COMPLIANCE", NOW + TEN_YEARS)
    longer = Protection(True, "GOVERNANCE", NOW + 2 * TEN_YEARS, NOW + TWO_WEEKS)
    assert longer.upgraded(asked) == Protection(False, "GOVERNANCE", NOW + 2 * TEN_YEARS)


def test_an_expiring_class_asks_its_days_from_now_and_renews_only_beyond_the_slack() -> None:
    asked = Protection.asked(EPHEMERAL, NOW)
    assert asked == Protection(True, expires_at=NOW + TWO_WEEKS, expire_days=14)
    fresh = Protection(True, expires_at=NOW + TWO_WEEKS - EXPIRY_SLACK)
    assert not needs_upgrade(fresh, asked)  # re-used within the slack: no request
    stale = Protection(True, expires_at=NOW + TWO_WEEKS - EXPIRY_SLACK - timedelta(seconds=1))
    assert needs_upgrade(stale, asked)
    assert stale.upgraded(asked) == Protection(True, expires_at=NOW + TWO_WEEKS)
    # A blob whose expiry was never recorded, or that is not known at all, has to be checked.
    assert needs_upgrade(Protection(True), asked)
    assert needs_upgrade(None, asked)


def test_a_kept_blob_covers_an_expiring_ask_and_a_renewal_keeps_the_lock() -> None:
    asked = Protection.asked(EPHEMERAL, NOW)
    assert not needs_upgrade(Protection(False), asked)
    assert not needs_upgrade(Protection(False, "GOVERNANCE", NOW + TEN_YEARS), asked)
    locked = Protection(True, "COMPLIANCE", NOW + TEN_YEARS, NOW)
    assert locked.upgraded(asked) == Protection(
        True, "COMPLIANCE", NOW + TEN_YEARS, asked.expires_at
    )
    # A kept class takes the expiry away altogether, whatever its date.
    assert locked.upgraded(Protection.asked(EVIDENCE, NOW)).expires_at is None
