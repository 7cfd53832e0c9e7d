"""The ``artifactstore`` Typer application: sub-apps and top-level commands."""

from __future__ import annotations

from typing import Annotated

import typer

from artifactstore import __version__
from artifactstore.cli import guide_board

HELP = """Store and fetch immutable, BLAKE3-addressed artifact packages.

Exit codes: 0 ok; 1 verification failed; 2 usage or invalid input; 3 not found or conflict;
4 server or network error.
"""

app = typer.Typer(help=HELP, no_args_is_help=True, pretty_exceptions_enable=False)
app.add_typer(guide_board.app, name="guide-board")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"artifactstore {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Store and fetch immutable, BLAKE3-addressed artifact packages."""
