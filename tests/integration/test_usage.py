"""``GET /usage`` (issue 18.5): what the store keeps, per producer, retention class and state,
and what expires soon; admin only. Both backends.

Other tests' packages share the catalog: each test makes its packages under a producer of its
own and asserts that producer's rows exactly, and the store-wide figures as deltas.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.integration.conftest import Configured
from tests.integration.flow import AUTH, Harness, digest_of, run_metadata

pytestmark = pytest.mark.integration


def _create(h: Harness, producer: str, files: dict[str, bytes], retention: str) -> Any:
    key = str(uuid.uuid4())
    created = h.create(
        key, files, producer=producer, retention_class=retention, metadata=run_metadata(key)
    )
    assert created.status_code == 201, created.text
    return created.json()


def _seal(h: Harness, producer: str, files: dict[str, bytes], retention: str) -> str:
    created = _create(h, producer, files, retention)
    by_digest = {digest_of(data): data for data in files.values()}
    for target in created["upload_targets"]:
        h.upload(target, by_digest[target["digest"]])
    h.pump()
    package_id: str = created["package_id"]
    sealed = h.client.post(f"/packages/{package_id}/finalize", headers=AUTH)
    assert sealed.status_code == 200, sealed.text
    return package_id


def _usage(h: Harness, horizon_days: int = 30) -> dict[str, Any]:
    answer = h.client.get("/usage", params={"horizon_days": horizon_days}, headers=AUTH)
    assert answer.status_code == 200, answer.text
    report: dict[str, Any] = answer.json()
    return report


def _rows(report: dict[str, Any], producer: str) -> list[tuple[str, str, int, int, int]]:
    return [
        (r["retention_class"], r["state"], r["packages"], r["files"], r["bytes"])
        for r in report["rows"]
        if r["producer"] == producer
    ]


def _figures(tally: dict[str, Any]) -> tuple[int, int, int]:
    return tally["packages"], tally["files"], tally["bytes"]


def _delta(before: dict[str, Any], after: dict[str, Any]) -> tuple[int, ...]:
    return tuple(a - b for a, b in zip(_figures(after), _figures(before), strict=True))


def _blob(size: int) -> bytes:
    return secrets.token_bytes(size)


def test_usage_counts_each_producer_class_and_state_and_what_expires(
    configured: Configured,
) -> None:
    h = Harness.start(configured)
    svc = configured.svc
    producer = f"usage-{uuid.uuid4().hex[:12]}"
    shared = _blob(10)
    before, before_day = _usage(h), _usage(h, horizon_days=1)

    ephemeral = _seal(h, producer, {"a.bin": shared, "b.bin": _blob(20)}, "ephemeral")
    # Shares a.bin's blob: logical bytes count it in both packages.
    _seal(h, producer, {"a.bin": shared, "c.bin": _blob(7)}, "release-evidence")
    draft = _create(h, producer, {"d.bin": _blob(5)}, "release-evidence")

    report = _usage(h)
    assert report["horizon_days"] == 30
    assert "logical bytes" in report["bytes"]
    as_of = datetime.fromisoformat(report["as_of"])
    assert datetime.fromisoformat(report["expiring"]["until"]) == as_of + timedelta(days=30)
    assert _rows(report, producer) == [
        ("ephemeral", "sealed", 1, 2, 30),
        ("release-evidence", "draft", 1, 1, 5),
        ("release-evidence", "sealed", 1, 2, 17),
    ]
    assert _delta(before["totals"], report["totals"]) == (3, 5, 52)
    by_state = {
        s: _delta(before["totals"]["by_state"][s], t)
        for s, t in report["totals"]["by_state"].items()
    }
    assert by_state == {"draft": (1, 1, 5), "sealed": (2, 4, 47), "expired": (0, 0, 0)}
    # The ephemeral package (14 days) and the draft (72 hours) expire within 30 days...
    expiring = report["expiring"]
    assert _delta(before["expiring"]["sealed"], expiring["sealed"]) == (1, 2, 30)
    assert _delta(before["expiring"]["drafts"], expiring["drafts"]) == (1, 1, 5)
    for group, when in (("sealed", "expiry_due"), ("drafts", "expires_at")):
        earliest = expiring[group]["earliest"]
        assert len(earliest) <= 10
        assert [e[when] for e in earliest] == sorted(e[when] for e in earliest)
    # ... but not within a day.
    day = _usage(h, horizon_days=1)
    assert _delta(before_day["expiring"]["sealed"], day["expiring"]["sealed"]) == (0, 0, 0)
    assert _delta(before_day["expiring"]["drafts"], day["expiring"]["drafts"]) == (0, 0, 0)

    # Past its expiry the ephemeral package reads expired before maintenance records it; the
    # draft past its TTL is still a draft, due at the next round.
    due = datetime.fromisoformat(
        h.client.get(f"/packages/{ephemeral}", headers=AUTH).json()["expiry_due"]
    )
    svc.clock = lambda: due + timedelta(seconds=1)
    moved = _usage(h)
    assert moved["as_of"] == (due + timedelta(seconds=1)).isoformat()
    assert _rows(moved, producer) == [
        ("ephemeral", "expired", 1, 2, 30),
        ("release-evidence", "draft", 1, 1, 5),
        ("release-evidence", "sealed", 1, 2, 17),
    ]
    overdue = [e["package_id"] for e in moved["expiring"]["drafts"]["earliest"]]
    assert draft["package_id"] in overdue or moved["expiring"]["drafts"]["packages"] > 10

    # Once maintenance has recorded both expiries (its two catalog writes, for these packages
    # only: a whole round would also expire every other test's drafts), both are read from
    # the expired state.
    now = svc.clock()
    assert svc.catalog.expire_sealed(ephemeral, now)
    assert svc.catalog.expire(draft["package_id"], now, now)
    assert _rows(_usage(h), producer) == [
        ("ephemeral", "expired", 1, 2, 30),
        ("release-evidence", "sealed", 1, 2, 17),
        ("release-evidence", "expired", 1, 1, 5),
    ]


def test_usage_is_for_admins_and_checks_its_horizon(cfg: Configured) -> None:
    h = Harness.start(cfg)
    for scopes in (["read"], ["write"]):
        issued = h.client.post(
            "/tokens", json={"name": "usage", "scopes": scopes}, headers=AUTH
        ).json()
        answer = h.client.get("/usage", headers={"Authorization": f"Bearer {issued['token']}"})
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"]["code"] == "forbidden"
    assert h.client.get("/usage").status_code == 401
    for horizon in (0, 3651, "soon"):
        answer = h.client.get("/usage", params={"horizon_days": horizon}, headers=AUTH)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["code"] == "invalid_parameter"
    assert _usage(h, horizon_days=3650)["horizon_days"] == 3650
