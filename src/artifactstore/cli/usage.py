"""``artifactstore usage``: what the store keeps and what expires soon (needs an admin token)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from artifactstore.cli.output import cli_errors, emit_json

UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def usage_command(
    horizon_days: Annotated[
        int,
        typer.Option(
            "--horizon-days", min=1, max=3650, help="List what expires within this many days."
        ),
    ] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Show what the store keeps (admin).

    Packages, files and logical bytes per producer, retention class and state, their totals,
    and the sealed packages and drafts that expire within --horizon-days (the earliest few
    listed). Logical bytes are the sum of each package's file sizes: a blob shared by files or
    packages counts once for each, so storage holds less; expired rows show what they held.
    """
    from artifactstore.cli.context import make_client

    with cli_errors(), make_client() as client:
        report = client.usage(horizon_days)
    if as_json:
        emit_json(report)
        return
    from rich.console import Console

    console = Console()
    for table in tables(report):
        console.print(table)


def human_bytes(n: int) -> str:
    """``n`` bytes in binary units, one decimal above a KiB."""
    size = float(n)
    for unit in UNITS:
        if size < 1024 or unit == UNITS[-1]:
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover - the loop always returns


def tables(report: dict[str, Any]) -> list[Any]:
    """The report as rich tables: the rows with their totals, then what expires soon."""
    from rich.table import Table

    kept = Table(
        title=f"Kept as of {report.get('as_of')}",
        caption="logical bytes: a blob shared by files or packages counts once for each",
    )
    for name in ("producer", "retention class", "state"):
        kept.add_column(name)
    for name in ("packages", "files", "logical bytes"):
        kept.add_column(name, justify="right")
    for row in report.get("rows") or []:
        kept.add_row(
            str(row.get("producer")),
            str(row.get("retention_class")),
            str(row.get("state")),
            *_figures(row),
        )
    totals = report.get("totals") or {}
    kept.add_section()
    kept.add_row("total", "", "", *_figures(totals))
    for state, tally in (totals.get("by_state") or {}).items():
        kept.add_row("", "", str(state), *_figures(tally))

    expiring = report.get("expiring") or {}
    soon = Table(
        title=f"Expiring within {report.get('horizon_days')} days (by {expiring.get('until')})"
    )
    soon.add_column("what")
    for name in ("packages", "files", "logical bytes"):
        soon.add_column(name, justify="right")
    first = Table(title="Earliest to expire")
    for name in ("what", "package_id", "producer", "retention class", "expires"):
        first.add_column(name)
    first.add_column("logical bytes", justify="right")
    groups = (
        ("sealed packages", "sealed", "sealed", "expiry_due"),
        ("drafts", "draft", "drafts", "expires_at"),
    )
    for summary, label, key, when in groups:
        group = expiring.get(key) or {}
        soon.add_row(summary, *_figures(group))
        for e in group.get("earliest") or []:
            first.add_row(
                label,
                str(e.get("package_id")),
                str(e.get("producer")),
                str(e.get("retention_class")),
                str(e.get(when)),
                human_bytes(int(e.get("bytes", 0))),
            )
    return [kept, soon, first] if first.row_count else [kept, soon]


def _figures(tally: dict[str, Any]) -> tuple[str, str, str]:
    return (
        str(tally.get("packages", 0)),
        str(tally.get("files", 0)),
        human_bytes(int(tally.get("bytes", 0))),
    )


def register(app: typer.Typer) -> None:
    """Add ``usage`` to the top-level app."""
    app.command("usage")(usage_command)
