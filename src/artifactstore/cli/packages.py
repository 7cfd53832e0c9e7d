"""``artifactstore packages ...`` and ``artifactstore schemas ...``: the catalog, as tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from artifactstore.cli.output import cli_errors, emit_json

packages_app = typer.Typer(
    help="List and inspect packages.", no_args_is_help=True, rich_markup_mode=None
)
schemas_app = typer.Typer(
    help="Register metadata schemas.", no_args_is_help=True, rich_markup_mode=None
)

JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object on stdout instead.")]


def _console() -> Any:
    from rich.console import Console

    return Console()


@packages_app.command("list")
def list_command(
    producer: Annotated[str | None, typer.Option("--producer", help="Only this producer.")] = None,
    state: Annotated[
        str | None, typer.Option("--state", help="Only this state: draft, sealed, expired.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Packages, newest first."""
    from artifactstore.cli.context import make_client

    items: list[dict[str, Any]] = []
    cursor: str | None = None
    with cli_errors(), make_client() as client:
        while len(items) < limit:
            params = {
                "producer": producer,
                "state": state,
                "cursor": cursor,
                "limit": min(limit - len(items), 1000),
            }
            page = client.get_json("/packages", params)
            items.extend(page.get("items") or [])
            cursor = page.get("next_cursor")
            if not cursor:
                break
    items = items[:limit]
    if as_json:
        emit_json({"items": items, "next_cursor": cursor})
        return
    from rich.table import Table

    table = Table("package_id", "producer", "key", "state", "files", "bytes", "created_at")
    for item in items:
        table.add_row(
            *(
                str(item.get(k) if item.get(k) is not None else "")
                for k in (
                    "package_id",
                    "producer",
                    "idempotency_key",
                    "state",
                    "file_count",
                    "total_bytes",
                    "created_at",
                )
            )
        )
    _console().print(table)


@packages_app.command("show")
def show_command(
    package_id: Annotated[str, typer.Argument(help="The package id.")],
    as_json: JsonOpt = False,
) -> None:
    """Show one package.

    Its identity, state, digest, links and the first page of its files.
    """
    from artifactstore.cli.context import make_client

    with cli_errors(), make_client() as client:
        package = client.get_json(f"/packages/{package_id}")
    if as_json:
        emit_json(package)
        return
    from rich.table import Table

    about = Table(show_header=False)
    for key, value in package.items():
        if key not in ("files", "metadata"):
            about.add_row(key, "" if value is None else str(value))
    files = Table("path", "size", "digest", "exec", "status")
    for f in package.get("files") or []:
        files.add_row(
            str(f.get("path")),
            str(f.get("size")),
            str(f.get("digest")),
            "x" if f.get("executable") else "",
            str(f.get("status", "")),
        )
    console = _console()
    console.print(about)
    console.print(files)


@schemas_app.command("register")
def register_command(
    file: Annotated[Path, typer.Argument(help="JSON Schema file; its $id names the slug.")],
) -> None:
    """Register a metadata schema.

    A no-op when the identical body is already registered under its slug.
    """
    from artifactstore.cli.context import make_client
    from artifactstore.client.schemas import load_schema_file, register_schema

    with cli_errors(), make_client() as client:
        answer = register_schema(client, load_schema_file(file))
    emit_json({k: answer.get(k) for k in ("slug", "digest", "created")})
