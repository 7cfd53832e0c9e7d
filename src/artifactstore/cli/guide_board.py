"""``artifactstore guide-board ...``: commands for guide-board run directories."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from artifactstore.cli.output import cli_errors, emit_json, emit_json_with, warn

app = typer.Typer(
    help="Work with guide-board run directories.", no_args_is_help=True, rich_markup_mode=None
)

RunDirArg = Annotated[
    Path, typer.Argument(help="A finalized guide-board run directory (holds run.json).")
]
SchemaOpt = Annotated[
    Path | None,
    typer.Option("--schema", help="JSON Schema file the run's metadata must satisfy."),
]


def load_schema_file(path: Path) -> tuple[str, dict[str, object]]:
    """Read a schema file; its slug comes from ``$id`` (``artifactstore:schemas:<slug>``)."""
    from artifactstore.client.schemas import load_schema_file as load

    schema = load(path)
    return schema.slug, dict(schema.json_schema)


@app.command("manifest")
def manifest_command(run_dir: RunDirArg, schema: SchemaOpt = None) -> None:
    """Print a run's manifest and digest, offline.

    Nothing is uploaded and no service is needed.
    """
    from artifactstore.domain.digests import Digest
    from artifactstore.domain.rundir import scan_run_directory

    with cli_errors():
        scan = scan_run_directory(run_dir)
        slug = "guide-board.run.v1"
        if schema is not None:
            # jsonschema costs ~80 ms to import: only when there is something to validate.
            from artifactstore.domain.schemas import MetadataSchema

            slug, body = load_schema_file(schema)
            MetadataSchema(slug, body).validate(scan.metadata)
        for message in scan.warnings:
            warn(message)
        manifest = scan.manifest(slug)
        canonical = manifest.canonical_bytes()
        summary = {
            "manifest_digest": str(Digest.of_bytes(canonical)),
            "file_count": len(manifest.files),
            "total_bytes": manifest.total_bytes,
        }
        emit_json_with(summary, "manifest", canonical)


RetentionOpt = Annotated[
    str,
    typer.Option("--retention-class", help="Retention class of the package."),
]
ConcurrencyOpt = Annotated[
    int,
    typer.Option("--concurrency", min=1, max=256, help="Parallel uploads."),
]
TimeoutOpt = Annotated[
    float,
    typer.Option("--timeout", min=1, help="Seconds to wait for the package to be sealed."),
]
ProgressOpt = Annotated[
    bool | None,
    typer.Option(
        "--progress/--no-progress",
        help="Progress on stderr (default: only when stderr is a terminal).",
        show_default=False,
    ),
]


@app.command("ingest")
def ingest_command(
    run_dir: RunDirArg,
    schema: Annotated[
        Path, typer.Option("--schema", help="JSON Schema file the run's metadata must satisfy.")
    ],
    retention_class: RetentionOpt = "release-evidence",
    concurrency: ConcurrencyOpt = 16,
    timeout: TimeoutOpt = 600.0,
    progress: ProgressOpt = None,
) -> None:
    """Store a finalized run as one package.

    Prints exactly one JSON object on stdout. Idempotent by the run's run_id: run it again to
    resume an interrupted ingest, or to get the stored package back ("reused_existing": true)
    without sending any bytes. Files smaller than ARTIFACTSTORE_BUNDLE_BELOW bytes (default
    262144; 0 turns it off) are sent many to one upload, as bundles.
    """
    import sys
    from contextlib import AbstractContextManager, nullcontext

    from artifactstore.cli.context import make_client
    from artifactstore.client.ingest import ingest_run
    from artifactstore.client.uploader import IngestProgress

    with cli_errors(), make_client(concurrency) as client:
        bar: AbstractContextManager[IngestProgress | None] = nullcontext()
        if sys.stderr.isatty() if progress is None else progress:
            from artifactstore.cli.progress import RichIngestProgress

            bar = RichIngestProgress()
        with bar as shown:
            result = ingest_run(
                client,
                run_dir,
                schema,
                retention_class,
                concurrency,
                shown,
                timeout=timeout,
                warn=warn,
            )
        emit_json(result.to_json())
