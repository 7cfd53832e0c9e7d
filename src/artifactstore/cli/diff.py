"""``artifactstore diff FROM_ID TO_ID``: what changed between two sealed packages."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from artifactstore.cli.output import emit_json, fail

if TYPE_CHECKING:
    from artifactstore.domain.diff import ManifestDiff

# diff(1)'s convention, not the other commands' (see --help).
EXIT_SAME = 0
EXIT_DIFFERENT = 1
EXIT_TROUBLE = 2


def diff_command(
    from_id: Annotated[str, typer.Argument(help="The older package id.", metavar="FROM_ID")],
    to_id: Annotated[str, typer.Argument(help="The newer package id.", metavar="TO_ID")],
    stat: Annotated[
        bool, typer.Option("--stat", help="A summary for people instead of JSON.")
    ] = False,
) -> None:
    """Show what changed between two sealed packages.

    Prints one JSON object: added, removed and changed files (path, size, digest; a changed
    file with both sides), mode_changed (only the executable bit differs), metadata (the fields
    that differ, each an RFC 6901 pointer with from and to), schema, size_delta and summary.
    Both manifests are checked against their recorded digests first. --stat prints a short
    summary instead. Exit codes follow diff(1): 0 the packages hold the same files, metadata
    and schema; 1 they differ; 2 trouble (not found, not sealed, unreachable, bad token).
    """
    from artifactstore.cli.context import make_client
    from artifactstore.client.manifests import fetch_manifest
    from artifactstore.domain.diff import diff_manifests
    from artifactstore.errors import ArtifactStoreError

    try:
        with make_client() as client:
            old = fetch_manifest(client, from_id)
            new = fetch_manifest(client, to_id)
    except ArtifactStoreError as exc:
        fail(exc.message, EXIT_TROUBLE)
    except OSError as exc:
        fail(str(exc), EXIT_TROUBLE)
    result = diff_manifests(old.body, new.body)
    if stat:
        sys.stdout.write(stat_text(result, from_id, to_id))
        sys.stdout.flush()
    else:
        emit_json(
            {
                "from": {"package_id": from_id, "manifest_digest": str(old.digest)},
                "to": {"package_id": to_id, "manifest_digest": str(new.digest)},
                **result.to_json(),
            }
        )
    raise typer.Exit(EXIT_SAME if result.same else EXIT_DIFFERENT)


def _signed(n: int) -> str:
    return f"+{n}" if n > 0 else str(n)


def stat_text(result: ManifestDiff, from_id: str, to_id: str) -> str:
    """The ``--stat`` summary: one line per file or field, then the totals."""
    lines: list[str] = [f"--- {from_id}", f"+++ {to_id}"]
    lines += [f"A  {f.path}  ({f.size} bytes)" for f in result.added]
    lines += [f"D  {f.path}  ({f.size} bytes)" for f in result.removed]
    lines += [
        f"M  {c.path}  ({c.old.size} -> {c.new.size} bytes, {_signed(c.size_delta)})"
        for c in result.changed
    ]
    lines += [
        f"X  {c.path}  (executable: {str(c.old.executable).lower()} -> "
        f"{str(c.new.executable).lower()})"
        for c in result.mode_changed
    ]
    if result.schema:
        lines.append(f"S  schema  {result.schema[0]} -> {result.schema[1]}")
    for field in result.metadata:
        view: dict[str, Any] = field.to_json()
        old = _short(view["from"]) if "from" in view else "(absent)"
        new = _short(view["to"]) if "to" in view else "(absent)"
        lines.append(f"~  metadata {field.pointer or '/'}  {old} -> {new}")
    s = result.summary()
    lines.append(
        f"{s['added']} added, {s['removed']} removed, {s['changed']} changed, "
        f"{s['mode_changed']} mode changed, {s['unchanged']} unchanged; "
        f"{s['metadata']} metadata field(s) differ; size {_signed(s['size_delta'])} bytes "
        f"({result.old_bytes} -> {result.new_bytes})"
    )
    return "\n".join(lines) + "\n"


def _short(value: Any, limit: int = 60) -> str:
    import json

    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def register(app: typer.Typer) -> None:
    """Add ``diff`` to the top-level app."""
    app.command("diff")(diff_command)
