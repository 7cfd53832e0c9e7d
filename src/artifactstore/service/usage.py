"""What the store keeps (``GET /usage``, ``artifactstore usage``): packages and logical bytes
per producer, retention class and state, and what expires within a horizon.

The report reads every package record once, by state (the catalog's ``by_state`` index), one
page of ``PAGE`` at a time; what it keeps while it reads is bounded by the number of (producer,
retention class, state) rows and ``EARLIEST`` ids per expiring group. Bytes are logical: the
sum of each package's file sizes, so a blob that several files or packages share counts once
for each of them (what storage holds is less), and an expired package's row still shows what
it held.

It is not a snapshot: a package that changes state while the report reads may be left out.
The states are read against the direction packages move (expired, then sealed, then draft),
so none is ever counted twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from artifactstore.domain.packages import PackageRecord, PackageState
from artifactstore.errors import InvalidInput
from artifactstore.service.context import Services

PAGE = 1000  # packages per catalog query
EARLIEST = 10  # ids listed per expiring group, the earliest first
MAX_HORIZON_DAYS = 3650
# Against the arrows draft → sealed → expired: a package read in one state can only move to a
# state read already, so it is never read twice.
READ_ORDER = (PackageState.EXPIRED, PackageState.SEALED, PackageState.DRAFT)
STATE_RANK = {PackageState.DRAFT: 0, PackageState.SEALED: 1, PackageState.EXPIRED: 2}
BYTES_NOTE = (
    "logical bytes: the sum of each package's file sizes; a blob shared by files or packages "
    "counts once for each, and expired packages show what they held"
)


@dataclass(slots=True)
class _Tally:
    packages: int = 0
    files: int = 0
    bytes: int = 0

    def add(self, record: PackageRecord) -> None:
        self.packages += 1
        self.files += record.file_count
        self.bytes += record.total_bytes

    def as_dict(self) -> dict[str, int]:
        return {"packages": self.packages, "files": self.files, "bytes": self.bytes}


@dataclass(slots=True)
class _Expiring:
    """Packages that expire by the horizon: counted, and the earliest few kept."""

    when: str  # the field that says when: expiry_due or expires_at
    tally: _Tally = field(default_factory=_Tally)
    earliest: list[tuple[datetime, str, dict[str, Any]]] = field(default_factory=list)

    def add(self, record: PackageRecord, due: datetime) -> None:
        self.tally.add(record)
        self.earliest.append(
            (
                due,
                record.package_id,
                {
                    "package_id": record.package_id,
                    "producer": record.producer,
                    "retention_class": record.retention_class,
                    self.when: due.isoformat(),
                    "bytes": record.total_bytes,
                },
            )
        )
        if len(self.earliest) > 2 * EARLIEST:
            self._trim()

    def _trim(self) -> None:
        self.earliest.sort(key=lambda e: (e[0], e[1]))
        del self.earliest[EARLIEST:]

    def as_dict(self) -> dict[str, Any]:
        self._trim()
        return {**self.tally.as_dict(), "earliest": [e[2] for e in self.earliest]}


def usage_report(svc: Services, now: datetime, horizon_days: int = 30) -> dict[str, Any]:
    """Packages, files and logical bytes per (producer, retention class, state as of ``now``),
    their totals, and what expires after ``now`` and by ``now + horizon_days``: sealed
    packages by their ``expiry_due``, drafts by their ``expires_at`` (a draft past it is
    listed too: it is still a draft until the next maintenance round expires it)."""
    if not 1 <= horizon_days <= MAX_HORIZON_DAYS:
        raise InvalidInput(f"horizon_days must be 1..{MAX_HORIZON_DAYS}", code="invalid_parameter")
    until = now + timedelta(days=horizon_days)
    rows: dict[tuple[str, str, PackageState], _Tally] = {}
    totals = _Tally()
    by_state = {state: _Tally() for state in STATE_RANK}
    sealed_soon = _Expiring("expiry_due")
    drafts_soon = _Expiring("expires_at")
    for listed in READ_ORDER:
        cursor: str | None = None
        while True:
            page = svc.catalog.list_packages(
                producer=None, state=listed.value, key=None, limit=PAGE, cursor=cursor
            )
            for record in page.items:
                state = record.state_at(now)
                rows.setdefault((record.producer, record.retention_class, state), _Tally()).add(
                    record
                )
                totals.add(record)
                by_state[state].add(record)
                if (
                    state is PackageState.SEALED
                    and record.expiry_due
                    and record.expiry_due <= until
                ):
                    sealed_soon.add(record, record.expiry_due)  # after now: state_at says so
                elif state is PackageState.DRAFT and record.expires_at <= until:
                    drafts_soon.add(record, record.expires_at)
            cursor = page.next_cursor
            if cursor is None:
                break
    ordered = sorted(
        rows.items(), key=lambda item: (item[0][0], item[0][1], STATE_RANK[item[0][2]])
    )
    return {
        "as_of": now.isoformat(),
        "horizon_days": horizon_days,
        "bytes": BYTES_NOTE,
        "rows": [
            {
                "producer": producer,
                "retention_class": retention_class,
                "state": state.value,
                **tally.as_dict(),
            }
            for (producer, retention_class, state), tally in ordered
        ],
        "totals": {
            **totals.as_dict(),
            "by_state": {state.value: tally.as_dict() for state, tally in by_state.items()},
        },
        "expiring": {
            "until": until.isoformat(),
            "sealed": sealed_soon.as_dict(),
            "drafts": drafts_soon.as_dict(),
        },
    }
