#!/usr/bin/env python3
"""Register the guide-board run metadata schema with artifact-store (safe to run again).

Posts schemas/guide-board.run.v1.json to POST /metadata-schemas as
{"slug": "guide-board.run.v1", "json_schema": {...}}. Registering the identical body again
is a no-op that succeeds; a different body already registered under the slug is a conflict.

Environment (the environment wins over a .env file in the current directory):
  ARTIFACTSTORE_API_URL    the artifact-store API (default http://127.0.0.1:8000)
  ARTIFACTSTORE_API_TOKEN  bearer token with the right to register schemas (dev-token locally)

Exit codes: 0 registered or already registered; 2 bad input, missing or refused token;
3 a different schema is registered under the slug; 4 the API is unreachable or failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "schemas" / "guide-board.run.v1.json"
SLUG = "guide-board.run.v1"


def main(argv: list[str] | None = None) -> int:
    """Register the schema; print what happened; return the exit code."""
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--schema",
        type=Path,
        default=SCHEMA_FILE,
        help=f"the schema file (default: {SCHEMA_FILE.relative_to(SCHEMA_FILE.parents[1])})",
    )
    args = parser.parse_args(argv)

    from artifactstore.client.api import ApiClient
    from artifactstore.client.schemas import load_schema_file, register_schema
    from artifactstore.errors import ArtifactStoreError, AuthError, Conflict, InvalidInput
    from artifactstore.settings import ClientSettings

    try:
        settings = ClientSettings()
    except ValueError as exc:
        return _fail(f"invalid setting: {exc}", 2)
    if settings.api_token is None or not settings.api_token.get_secret_value():
        return _fail(
            "ARTIFACTSTORE_API_TOKEN is not set: export the API's bearer token "
            "(dev-token for `make dev`)",
            2,
        )
    try:
        schema = load_schema_file(args.schema)
    except OSError as exc:
        return _fail(f"cannot read the schema file {args.schema}: {exc.strerror or exc}", 2)
    except ArtifactStoreError as exc:
        return _fail(exc.message, 2)
    if schema.slug != SLUG:
        return _fail(f"{args.schema}: its $id names slug {schema.slug!r}, not {SLUG!r}", 2)

    token = settings.api_token.get_secret_value()
    try:
        with ApiClient(settings.api_url, token, timeout=30.0, retries=2) as client:
            answer = register_schema(client, schema)
    except Conflict as exc:
        return _fail(f"{exc.message} (HTTP 409 {exc.code} from {settings.api_url})", 3)
    except AuthError as exc:
        return _fail(f"{settings.api_url} refused the token: {exc.message} ({exc.code})", 2)
    except InvalidInput as exc:
        return _fail(f"{settings.api_url} refused the schema: {exc.message} ({exc.code})", 2)
    except ArtifactStoreError as exc:
        return _fail(exc.message, 4)
    verb = "registered" if answer.get("created") else "already registered (identical body)"
    print(f"schema {SLUG} {verb} at {settings.api_url}")
    print(f"  $id    {schema.json_schema.get('$id')}")
    print(f"  digest {answer.get('digest', '?')}")
    return 0


def _fail(message: str, code: int) -> int:
    print(f"register-guide-board-schema: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
