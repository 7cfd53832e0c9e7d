"""``artifactstore tokens ...``: issue, list and revoke API tokens (needs an admin token)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from artifactstore.cli.output import cli_errors, emit_json

app = typer.Typer(
    help="Issue, list and revoke API tokens (admin).", no_args_is_help=True, rich_markup_mode=None
)


@app.command("create")
def create_command(
    name: Annotated[str, typer.Argument(help="Who or what the token is for.")],
    scope: Annotated[
        list[str], typer.Option("--scope", help="A scope to grant (repeatable).", min=1)
    ],
    producer: Annotated[
        list[str] | None,
        typer.Option("--producer", help="Limit writes to this producer (repeatable)."),
    ] = None,
) -> None:
    """Issue a token.

    Its secret is printed once, in the JSON on stdout.
    """
    from artifactstore.cli.context import make_client

    body: dict[str, Any] = {"name": name, "scopes": scope, "producers": producer or None}
    with cli_errors(), make_client() as client:
        _status, answer = client.post_json("/tokens", body)
    emit_json(answer)


@app.command("list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Issued tokens (never their secrets)."""
    from artifactstore.cli.context import make_client

    with cli_errors(), make_client() as client:
        answer = client.get_json("/tokens")
    if as_json:
        emit_json(answer)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("token_id", "name", "scopes", "producers", "revoked")
    for t in answer.get("items") or []:
        table.add_row(
            str(t.get("token_id")),
            str(t.get("name")),
            ",".join(t.get("scopes") or []),
            ",".join(t.get("producers") or []) or "*",
            "yes" if t.get("revoked") else "",
        )
    Console().print(table)


@app.command("revoke")
def revoke_command(token_id: Annotated[str, typer.Argument(help="The token's id.")]) -> None:
    """Revoke a token (it stops working at once)."""
    from artifactstore.cli.context import make_client

    with cli_errors(), make_client() as client:
        client.request("DELETE", f"/tokens/{token_id}")
