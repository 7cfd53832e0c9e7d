"""Top-level commands that read packages: ``manifest``, ``download``, ``cat``, ``verify``."""

from __future__ import annotations

import glob
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from artifactstore.cli.output import EXIT_VERIFY_FAILED, cli_errors, emit_json

if TYPE_CHECKING:
    from collections.abc import Callable

    from artifactstore.client.api import ApiClient
    from artifactstore.client.manifests import FetchedManifest
    from artifactstore.domain.manifest import FileEntry

PackageArg = Annotated[str, typer.Argument(help="The package id (a UUID).")]


def manifest_command(
    package_id: PackageArg,
    raw: Annotated[
        bool, typer.Option("--raw", help="The exact canonical (RFC 8785) bytes, unindented.")
    ] = False,
) -> None:
    """Print a sealed package's manifest.

    It is checked against the package's recorded digest before it is printed.
    """
    import json

    from artifactstore.cli.context import make_client
    from artifactstore.client.manifests import fetch_manifest

    with cli_errors(), make_client() as client:
        manifest = fetch_manifest(client, package_id)
    if raw:
        sys.stdout.buffer.write(manifest.raw)
        sys.stdout.buffer.flush()
    else:
        emit_json(json.loads(manifest.raw))


def download_command(
    package_id: PackageArg,
    dest_dir: Annotated[Path, typer.Argument(help="Where the package's files are written.")],
    include: Annotated[
        list[str] | None,
        typer.Option(
            "--include", help="Only paths matching this glob ('*' crosses '/').", metavar="GLOB"
        ),
    ] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, max=256)] = 8,
) -> None:
    """Download a package into DEST_DIR.

    Every file and the manifest are verified; a rerun resumes where the last one stopped.
    Nothing is written through a symlink already inside DEST_DIR: a symlinked folder is
    refused (exit 2, unsafe_destination), a symlink at a file's name is replaced. With
    ARTIFACTSTORE_TRUSTED_KEYS set, the package's attestation is checked first (see
    `attestation --verify`): nothing is downloaded unless it verifies.
    """
    from artifactstore.cli.context import make_client
    from artifactstore.client.download import download_package

    with cli_errors(), make_client(concurrency) as client:
        check = _attestation_check(client, package_id)
        result = download_package(
            client, package_id, dest_dir, include or (), concurrency, check_manifest=check
        )
    sys.stderr.write(
        f"{result.file_count} files in {dest_dir} ({result.downloaded} downloaded, "
        f"{result.already_present} already present), manifest {result.manifest_digest}\n"
    )


def cat_command(
    package_id: PackageArg,
    path: Annotated[str, typer.Argument(help="The file's path inside the package.")],
) -> None:
    """Write one file of a package to stdout.

    It is verified as it streams: exit 1 when the bytes do not match its digest.
    """
    from artifactstore.cli.context import make_client
    from artifactstore.client.download import Planned, stream_verified
    from artifactstore.client.manifests import fetch_manifest
    from artifactstore.errors import NotFound

    with cli_errors(), make_client() as client:
        manifest = fetch_manifest(client, package_id)
        entry = next((f for f in manifest.files if f.path == path), None)
        if entry is None:
            raise NotFound(f"package {package_id} has no file {path!r}", code="file_not_found")
        plan = client.download_plan(package_id, [glob.escape(path)])
        item: dict[str, Any] = next((f for f in plan["files"] if f.get("path") == path), {})
        offset = item.get("offset")
        url = str(item["url"]) if "url" in item else None
        planned = Planned(entry, url, offset if isinstance(offset, int) else None)
        stream_verified(client, package_id, planned, sys.stdout.buffer)
        sys.stdout.buffer.flush()


def verify_command(
    directory: Annotated[Path, typer.Argument(help="The directory to check.", metavar="DIR")],
    package: Annotated[
        str | None, typer.Option("--package", help="Compare with this package's manifest.")
    ] = None,
    manifest: Annotated[
        Path | None, typer.Option("--manifest", help="Compare with this manifest file.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="The report as one JSON object on stdout.")
    ] = False,
) -> None:
    """Check DIR against a package, byte for byte.

    Exit 0 only when DIR holds exactly the package's files, byte for byte. Otherwise exit 1,
    with the changed, missing and extra paths on stderr. With --package and
    ARTIFACTSTORE_TRUSTED_KEYS set, the package's attestation must verify too.
    """
    from artifactstore.client.verify import compare

    if (package is None) == (manifest is None):
        raise typer.BadParameter("give exactly one of --package or --manifest")
    with cli_errors():
        if not directory.is_dir():
            from artifactstore.errors import NotFound

            raise NotFound(f"{directory} is not a directory", code="directory_not_found")
        report = compare(directory, _manifest_files(package, manifest))
    if as_json:
        emit_json(report.to_json())
    for line in report.lines():
        sys.stderr.write(line + "\n")
    if not report.ok:
        raise typer.Exit(EXIT_VERIFY_FAILED)


def _manifest_files(package: str | None, manifest: Path | None) -> tuple[FileEntry, ...]:
    from artifactstore.client.manifests import fetch_manifest, parse_manifest

    if manifest is not None:
        return parse_manifest(manifest.read_bytes(), str(manifest))[1]
    from artifactstore.cli.context import make_client

    with make_client() as client:
        fetched = fetch_manifest(client, str(package))
        check = _attestation_check(client, str(package))
        if check is not None:
            check(fetched)
        return fetched.files


def _attestation_check(
    client: ApiClient, package_id: str
) -> Callable[[FetchedManifest], None] | None:
    """With ``ARTIFACTSTORE_TRUSTED_KEYS`` set: a check of the package's attestation against
    a verified manifest (raises ``attestation_*``); None otherwise."""
    from artifactstore.client.attestations import (
        check_attestation,
        configured_trusted_keys,
        describe,
    )

    trusted = configured_trusted_keys()
    if not trusted:
        return None

    def check(manifest: FetchedManifest) -> None:
        verified = check_attestation(client, package_id, manifest.raw, trusted)
        sys.stderr.write(describe(verified) + "\n")

    return check


def register(app: typer.Typer) -> None:
    """Add these commands to the top-level app."""
    app.command("manifest")(manifest_command)
    app.command("download")(download_command)
    app.command("cat")(cat_command)
    app.command("verify")(verify_command)
