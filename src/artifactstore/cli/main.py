"""The ``artifactstore`` Typer application: sub-apps and top-level commands."""

from __future__ import annotations

from typing import Annotated

import typer

from artifactstore import __version__
from artifactstore.cli import attestation, diff, guide_board, packages, remote, tokens, usage

# Click rewraps each paragraph, so a paragraph is one string without line breaks.
HELP = "\n\n".join(
    (
        "Store and fetch immutable, BLAKE3-addressed artifact packages.",
        "Talks to ARTIFACTSTORE_API_URL (default http://127.0.0.1:8000) with the bearer token "
        "in ARTIFACTSTORE_API_TOKEN.",
        "Exit codes: 0 ok; 1 verification failed (bytes do not match their digest); "
        "2 usage, invalid input or credentials; 3 not found or conflict; "
        "4 server or network error. `diff` follows diff(1) instead: 0 same, 1 different, "
        "2 trouble.",
    )
)

# Plain click help on every Typer app (rich_markup_mode=None): Typer's Rich help imports
# rich.markdown and markdown_it, which more than doubled the time of `artifactstore --help`.
# Each command's summary is its docstring's first sentence, kept short so that click never
# shortens it with "..." in a listing; rich still draws the ingest progress bars.
app = typer.Typer(
    help=HELP, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None
)
app.add_typer(guide_board.app, name="guide-board")
app.add_typer(packages.packages_app, name="packages")
app.add_typer(packages.schemas_app, name="schemas")
app.add_typer(tokens.app, name="tokens")
remote.register(app)
diff.register(app)
attestation.register(app)
usage.register(app)


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
