"""``attestation`` and ``signing-keys``: a package's signed seal, and the keys that sign."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from artifactstore.cli.output import cli_errors, emit_json

PackageArg = Annotated[str, typer.Argument(help="The package id (a UUID).")]


def attestation_command(
    package_id: PackageArg,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Check the signature against a trusted key and the statement against the "
            "package's manifest bytes; exit 1 with the reason when anything does not match.",
        ),
    ] = False,
    key: Annotated[
        list[Path] | None,
        typer.Option(
            "--key",
            help="A trusted PEM public key file (repeatable); default: the files in "
            "ARTIFACTSTORE_TRUSTED_KEYS (os.pathsep-separated).",
            metavar="FILE",
        ),
    ] = None,
    envelope: Annotated[
        Path | None,
        typer.Option(
            "--envelope",
            help="Check this saved envelope instead of the stored one.",
            metavar="FILE",
        ),
    ] = None,
    manifest: Annotated[
        Path | None,
        typer.Option(
            "--manifest",
            help="Check against these manifest bytes instead of the API's (with --envelope: "
            "no request at all).",
            metavar="FILE",
        ),
    ] = None,
) -> None:
    """Print a package's signed seal.

    The seal is a DSSE envelope of an in-toto statement that this store sealed this manifest,
    signed once, shortly after the seal (exit 3, attestation_pending, until then). With
    --verify it must be signed by a trusted key and name exactly the package's manifest bytes:
    exit 1 on a bad signature, an untrusted key, a statement for another manifest or another
    package.
    """
    from artifactstore.client import attestations

    with cli_errors():
        trusted = []
        if verify:
            explicit = attestations.load_trusted_keys(key) if key else []
            trusted = attestations.require_keys(explicit or attestations.configured_trusted_keys())
        data, raw_manifest = _inputs(
            package_id,
            envelope.read_bytes() if envelope is not None else None,
            manifest.read_bytes() if manifest is not None else None,
            need_manifest=verify,
        )
        if verify:
            from artifactstore.domain.attestation import verify_envelope

            verified = verify_envelope(data, trusted, manifest=raw_manifest, package_id=package_id)
        _print_envelope(data)
        if verify:
            sys.stderr.write(attestations.describe(verified) + "\n")


def _inputs(
    package_id: str, data: bytes | None, raw_manifest: bytes | None, *, need_manifest: bool
) -> tuple[bytes, bytes | None]:
    """The envelope and (when needed) the manifest bytes: from files, else from the API."""
    if data is not None and (raw_manifest is not None or not need_manifest):
        return data, raw_manifest
    from artifactstore.cli.context import make_client
    from artifactstore.client.attestations import fetch_envelope
    from artifactstore.client.manifests import fetch_manifest

    with make_client() as client:
        if data is None:
            data = fetch_envelope(client, package_id)
        if need_manifest and raw_manifest is None:
            raw_manifest = fetch_manifest(client, package_id).raw
    return data, raw_manifest


def _print_envelope(data: bytes) -> None:
    try:
        emit_json(json.loads(data))
    except ValueError:  # not JSON (only a bad --envelope file): as it is
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()


def signing_keys_command(
    pem: Annotated[
        bool, typer.Option("--pem", help="Only the public keys, as concatenated PEM.")
    ] = False,
) -> None:
    """List the keys that sign seals.

    The public keys the store signs attestations with, current key first. Trust a key because
    you got it from someone you trust, not because this answer lists it: save it (--pem) and
    pass it to `attestation --verify --key FILE`.
    """
    from artifactstore.cli.context import make_client
    from artifactstore.client.attestations import signing_keys

    with cli_errors(), make_client() as client:
        keys = signing_keys(client)
    if pem:
        sys.stdout.write("".join(str(k["public_key_pem"]) for k in keys))
        sys.stdout.flush()
    else:
        emit_json({"keys": keys})


def register(app: typer.Typer) -> None:
    """Add these commands to the top-level app."""
    app.command("attestation")(attestation_command)
    app.command("signing-keys")(signing_keys_command)
