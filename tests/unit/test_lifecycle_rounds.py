"""A maintenance round in bounded, resumable steps, on the in-memory fakes (issue 18.3)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from artifactstore.domain.digests import Digest
from artifactstore.domain.lifecycle import sweep_grace
from artifactstore.domain.retention import RetentionClass
from artifactstore.service import lifecycle
from artifactstore.service.lifecycle import Budget, run_maintenance
from tests.fakes.services import Fakes, fake_services

EPHEMERAL = RetentionClass("ephemeral", expire_days=14)
LOCKED = RetentionClass("locked", lock_mode="GOVERNANCE", lock_days=400, expire_days=1)


def _stored(fx: Fakes, data: bytes, retention: RetentionClass) -> Digest:
    """A verified blob as the verifier leaves it: stored, recorded with its protection."""
    digest = Digest.of_bytes(data)
    kept = fx.storage.put_blob(digest, data, retention)
    fx.catalog.record_blob("memory", digest, len(data), "pkg", fx.clock(), kept)
    return digest


def test_blobs_kept_ahead_in_the_expiry_order_never_block_the_ones_behind_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(lifecycle, "PAGE", 3)
    fx = fake_services()
    # Seven blobs locked for 400 days but expiring after 1 (first in the expiry order), then
    # two plain ephemeral ones: every page the sweep reads starts with blobs it must keep.
    locked = [_stored(fx, f"locked {i}".encode(), LOCKED) for i in range(7)]
    fx.clock.advance(timedelta(minutes=1))
    free = [_stored(fx, f"free {i}".encode(), EPHEMERAL) for i in range(2)]
    fx.clock.advance(timedelta(days=14) + sweep_grace(fx.svc.draft_ttl) + timedelta(hours=1))

    figures = run_maintenance(fx.svc)

    assert (figures.blobs_deleted, figures.finished) == (2, True)
    assert figures.bytes_reclaimed == sum(len(f"free {i}".encode()) for i in range(2))
    assert [d for d in free if fx.storage.has_blob(d)] == []
    assert all(fx.storage.has_blob(d) for d in locked)
    assert fx.catalog.held_records("memory", locked).keys() == {d.hex for d in locked}


def test_a_round_out_of_time_stops_and_the_next_one_finishes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(lifecycle, "PAGE", 2)
    fx = fake_services()
    blobs = [_stored(fx, f"blob {i}".encode(), EPHEMERAL) for i in range(5)]
    fx.clock.advance(timedelta(days=14) + sweep_grace(fx.svc.draft_ttl) + timedelta(hours=1))
    ticks = iter(range(100))
    # A budget of three items: the clock it reads moves one step per item looked at.
    first = run_maintenance(fx.svc, Budget(3.5, clock=lambda: float(next(ticks))))
    assert first.finished is False
    assert 0 < first.blobs_deleted < 5
    second = run_maintenance(fx.svc)
    assert (first.blobs_deleted + second.blobs_deleted, second.finished) == (5, True)
    assert [d for d in blobs if fx.storage.has_blob(d)] == []
