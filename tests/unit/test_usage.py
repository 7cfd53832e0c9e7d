"""``usage_report`` on a listing-only catalog, and ``artifactstore usage`` against a fake API."""

from __future__ import annotations

import dataclasses
import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from artifactstore.client.api import ApiClient
from artifactstore.domain.packages import PackageRecord, PackageState, Page
from artifactstore.errors import InvalidInput
from artifactstore.ports.catalog import Catalog
from artifactstore.service import usage
from artifactstore.service.context import Services
from artifactstore.service.usage import usage_report
from tests.fakes.services import START, fake_services
from tests.unit.cli_fake_api import TOKEN, FakeApi, serve
from tests.unit.test_cli_commands import cli

NOW = START
DAY = timedelta(days=1)


def record(
    n: int,
    producer: str,
    retention_class: str,
    state: PackageState,
    *,
    total_bytes: int = 10,
    file_count: int = 1,
    expiry_due: datetime | None = None,
    expires_at: datetime = NOW + 3 * DAY,
) -> PackageRecord:
    return PackageRecord(
        package_id=f"00000000-0000-4000-8000-{n:012d}",
        producer=producer,
        idempotency_key=f"k{n}",
        retention_class=retention_class,
        schema="guide-board.run.v1",
        metadata={},
        backend="memory",
        fingerprint="f",
        file_count=file_count,
        total_bytes=total_bytes,
        blob_count=file_count,
        created_at=NOW - DAY,
        expires_at=expires_at,
        state=state,
        sealed_at=None if state is PackageState.DRAFT else NOW - DAY,
        expiry_due=expiry_due,
    )


class ListingCatalog:
    """Only what the report uses: ``list_packages`` by state, paged by an offset cursor."""

    def __init__(self, records: list[PackageRecord]) -> None:
        self.records = records
        self.calls: list[tuple[str | None, int, str | None]] = []

    def list_packages(
        self,
        *,
        producer: str | None,
        state: str | None,
        key: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page[PackageRecord]:
        assert producer is None and key is None
        self.calls.append((state, limit, cursor))
        matching = [r for r in self.records if r.state.value == state]
        start = int(cursor or 0)
        end = start + limit
        return Page(matching[start:end], str(end) if end < len(matching) else None)


def services_on(records: list[PackageRecord]) -> tuple[Services, ListingCatalog]:
    catalog = ListingCatalog(records)
    svc = dataclasses.replace(fake_services().svc, catalog=cast(Catalog, catalog))
    return svc, catalog


SEALED, DRAFT, EXPIRED = PackageState.SEALED, PackageState.DRAFT, PackageState.EXPIRED
RECORDS = [
    # alpha/ephemeral: due in 5 days (expiring), due now (expired), due in 40 days (later)
    record(
        1, "alpha", "ephemeral", SEALED, total_bytes=100, file_count=2, expiry_due=NOW + 5 * DAY
    ),
    record(2, "alpha", "ephemeral", SEALED, total_bytes=7, expiry_due=NOW),
    record(3, "alpha", "ephemeral", SEALED, total_bytes=1000, expiry_due=NOW + 40 * DAY),
    record(4, "alpha", "ephemeral", SEALED, total_bytes=3, expiry_due=NOW + 30 * DAY),
    record(5, "alpha", "release-evidence", DRAFT, total_bytes=50, expires_at=NOW + 3 * DAY),
    record(6, "beta", "release-evidence", EXPIRED, total_bytes=20, file_count=4),
    # a draft past its TTL, not yet expired by maintenance: still a draft, expiring
    record(7, "beta", "release-evidence", DRAFT, total_bytes=5, expires_at=NOW - DAY),
    record(8, "beta", "release-evidence", SEALED, total_bytes=1 << 20),
    record(9, "beta", "release-evidence", DRAFT, total_bytes=9, expires_at=NOW + 31 * DAY),
]


def test_rows_totals_and_what_expires() -> None:
    svc, catalog = services_on(RECORDS)
    report = usage_report(svc, NOW)
    assert report["as_of"] == NOW.isoformat()
    assert report["horizon_days"] == 30
    assert "logical bytes" in report["bytes"]
    rows = [
        (r["producer"], r["retention_class"], r["state"], r["packages"], r["files"], r["bytes"])
        for r in report["rows"]
    ]
    assert rows == [
        ("alpha", "ephemeral", "sealed", 3, 4, 1103),
        ("alpha", "ephemeral", "expired", 1, 1, 7),  # due at now: expired (state_at)
        ("alpha", "release-evidence", "draft", 1, 1, 50),
        ("beta", "release-evidence", "draft", 2, 2, 14),
        ("beta", "release-evidence", "sealed", 1, 1, 1 << 20),
        ("beta", "release-evidence", "expired", 1, 4, 20),
    ]
    assert report["totals"] == {
        "packages": 9,
        "files": 13,
        "bytes": 1194 + (1 << 20),
        "by_state": {
            "draft": {"packages": 3, "files": 3, "bytes": 64},
            "sealed": {"packages": 4, "files": 5, "bytes": 1103 + (1 << 20)},
            "expired": {"packages": 2, "files": 5, "bytes": 27},
        },
    }
    expiring = report["expiring"]
    assert expiring["until"] == (NOW + 30 * DAY).isoformat()
    sealed = expiring["sealed"]
    assert (sealed["packages"], sealed["files"], sealed["bytes"]) == (2, 3, 103)
    assert [(e["package_id"][-1], e["expiry_due"], e["bytes"]) for e in sealed["earliest"]] == [
        ("1", (NOW + 5 * DAY).isoformat(), 100),
        ("4", (NOW + 30 * DAY).isoformat(), 3),  # the horizon's end is in
    ]
    drafts = expiring["drafts"]
    assert (drafts["packages"], drafts["bytes"]) == (2, 55)
    assert [(e["package_id"][-1], e["producer"], e["expires_at"]) for e in drafts["earliest"]] == [
        ("7", "beta", (NOW - DAY).isoformat()),
        ("5", "alpha", (NOW + 3 * DAY).isoformat()),
    ]
    json.dumps(report)  # JSON-ready
    # Every state is read, expired first (a package moving on is never read twice).
    assert [c[0] for c in catalog.calls] == ["expired", "sealed", "draft"]
    assert {c[1] for c in catalog.calls} == {usage.PAGE}


def test_every_page_is_read_and_the_ids_listed_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(usage, "PAGE", 4)
    hours = list(range(25))
    random.Random(7).shuffle(hours)
    records = [
        record(i, "alpha", "ephemeral", SEALED, total_bytes=i, expiry_due=NOW + timedelta(hours=h))
        for i, h in enumerate(hours, start=1)
    ]
    svc, catalog = services_on(records)
    report = usage_report(svc, NOW, horizon_days=1)
    sealed = report["expiring"]["sealed"]
    live = sum(r.total_bytes for r in records if r.expiry_due and r.expiry_due > NOW)
    assert (sealed["packages"], sealed["bytes"]) == (24, live)  # due at now: expired
    assert len(sealed["earliest"]) == usage.EARLIEST
    dues = [e["expiry_due"] for e in sealed["earliest"]]
    assert dues == [(NOW + timedelta(hours=h)).isoformat() for h in range(1, 11)]
    assert [c[2] for c in catalog.calls if c[0] == "sealed"] == [None, *map(str, range(4, 25, 4))]
    assert report["totals"]["packages"] == 25


@pytest.mark.parametrize("horizon", [0, -1, usage.MAX_HORIZON_DAYS + 1])
def test_a_horizon_out_of_range_is_refused(horizon: int) -> None:
    svc, _ = services_on([])
    with pytest.raises(InvalidInput) as refused:
        usage_report(svc, NOW, horizon_days=horizon)
    assert refused.value.code == "invalid_parameter"


# -- the CLI and the client ---------------------------------------------------------------


@dataclass
class UsageApi(FakeApi):
    """The fake API with ``GET /usage`` answering ``report`` (or 403 for a non-admin)."""

    report: dict[str, Any] = field(default_factory=dict)
    admin: bool = True
    asked: list[str | None] = field(default_factory=list)

    def _routes(self) -> list[tuple[str, str, Any]]:
        return [("GET", r"/usage", self._usage), *super()._routes()]

    def _usage(self, request: httpx.Request) -> httpx.Response:
        self.asked.append(request.url.params.get("horizon_days"))
        if not self.admin:
            error = {"code": "forbidden", "message": "this token lacks the admin scope"}
            return httpx.Response(403, json={"error": {**error, "details": None}})
        return httpx.Response(200, json=self.report)


def report_of_records() -> dict[str, Any]:
    svc, _ = services_on(RECORDS)
    return usage_report(svc, NOW)


def test_client_usage_asks_for_the_horizon() -> None:
    api = UsageApi(report=report_of_records())
    with ApiClient(api.base_url, TOKEN, transport=api.transport(), retries=0) as client:
        assert client.usage(7) == api.report
    assert api.asked == ["7"]


def test_usage_command_prints_json_and_a_table(tmp_path: Path) -> None:
    api = UsageApi(report=report_of_records())
    with serve(api) as url:
        env = {"ARTIFACTSTORE_API_URL": url, "ARTIFACTSTORE_API_TOKEN": TOKEN, "COLUMNS": "200"}
        as_json = cli("usage", "--json", "--horizon-days", "7", cwd=tmp_path, env=env)
        table = cli("usage", cwd=tmp_path, env=env)
        bad = cli("usage", "--horizon-days", "0", cwd=tmp_path, env=env)
        api.admin = False
        refused = cli("usage", cwd=tmp_path, env=env)
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == api.report
    assert api.asked == ["7", "30", "30"]  # the bad horizon never left the CLI
    assert table.returncode == 0, table.stderr
    text = table.stdout
    for shown in ("alpha", "beta", "ephemeral", "release-evidence", "expired", "total"):
        assert shown in text
    assert "logical bytes" in text
    assert "1.0 MiB" in text and "1.1 KiB" in text  # beta's sealed row; alpha's sealed row
    assert "Expiring within 30 days" in text
    assert "00000000-0000-4000-8000-000000000007" in text  # the overdue draft is listed
    assert bad.returncode == 2
    assert refused.returncode == 2
    assert refused.stderr.strip() == "error: this token lacks the admin scope"
