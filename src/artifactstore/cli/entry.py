"""Console-script entry point: imports nothing heavy until a command needs it."""

from __future__ import annotations

import sys


def run() -> None:
    """Run the CLI, or say how to install it when the ``cli`` extra is missing."""
    try:
        from artifactstore.cli.main import app
    except ImportError as exc:  # pragma: no cover - only without the cli extra
        sys.stderr.write(
            f"artifactstore: the command line needs the 'cli' extra ({exc.name} missing): "
            "pip install 'artifactstore[cli]'\n"
        )
        raise SystemExit(2) from exc
    app()
