"""``artifactstore guide-board ...``: commands for guide-board run directories."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from artifactstore.cli.output import cli_errors, emit_json, warn

app = typer.Typer(help="Work with guide-board run directories.", no_args_is_help=True)

RunDirArg = Annotated[
    Path, typer.Argument(help="A finalized guide-board run directory (holds run.json).")
]
SchemaOpt = Annotated[
    Path | None,
    typer.Option("--schema", help="JSON Schema file the run's metadata must satisfy."),
]


def load_schema_file(path: Path) -> tuple[str, dict[str, object]]:
    """Read a schema file; its slug comes from ``$id`` (``artifactstore:schemas:<slug>``)."""
    from artifactstore.domain.schemas import ID_PREFIX, MetadataSchema
    from artifactstore.errors import InvalidInput

    try:
        body = json.loads(path.read_bytes())
    except ValueError as exc:
        raise InvalidInput(f"{path} is not valid JSON: {exc}", code="invalid_json_schema") from exc
    schema_id = body.get("$id") if isinstance(body, dict) else None
    if not isinstance(schema_id, str) or not schema_id.startswith(ID_PREFIX):
        raise InvalidInput(
            f"{path}: $id must be '{ID_PREFIX}<slug>' so the schema's slug is known",
            code="invalid_json_schema",
        )
    schema = MetadataSchema.create(schema_id[len(ID_PREFIX) :], body)
    return schema.slug, dict(schema.json_schema)


@app.command("manifest")
def manifest_command(run_dir: RunDirArg, schema: SchemaOpt = None) -> None:
    """Print a run's manifest and digest, offline: nothing is uploaded."""
    from artifactstore.domain.rundir import scan_run_directory
    from artifactstore.domain.schemas import MetadataSchema

    with cli_errors():
        scan = scan_run_directory(run_dir)
        slug = "guide-board.run.v1"
        if schema is not None:
            slug, body = load_schema_file(schema)
            MetadataSchema(slug, body).validate(scan.metadata)
        for message in scan.warnings:
            warn(message)
        manifest = scan.manifest(slug)
        emit_json(
            {
                "manifest_digest": str(manifest.digest()),
                "file_count": len(manifest.files),
                "total_bytes": manifest.total_bytes,
                "manifest": manifest.to_json(),
            }
        )
