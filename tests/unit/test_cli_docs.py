"""docs/cli.md is generated from the Typer app and must match it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REGENERATE = "typer artifactstore.cli.main utils docs --name artifactstore --output docs/cli.md"


def test_cli_reference_is_in_sync(tmp_path: Path) -> None:
    out = tmp_path / "cli.md"
    typer = Path(sys.executable).with_name("typer")
    subprocess.run(
        [
            str(typer),
            "artifactstore.cli.main",
            "utils",
            "docs",
            "--name",
            "artifactstore",
            "--output",
            str(out),
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    assert out.read_text() == (ROOT / "docs" / "cli.md").read_text(), (
        f"docs/cli.md is stale: run `.venv/bin/{REGENERATE}`"
    )
