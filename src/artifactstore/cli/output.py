"""How the CLI speaks: one JSON object on stdout, one clear line per error on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

from artifactstore.errors import (
    ArtifactStoreError,
    AuthError,
    Conflict,
    IntegrityError,
    InvalidInput,
    NotFound,
)

# Exit codes, documented in --help and the README.
EXIT_OK = 0
EXIT_VERIFY_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND_OR_CONFLICT = 3
EXIT_SERVER = 4


def emit_json(value: Any) -> None:
    """Write exactly one JSON object (and a newline) to stdout."""
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def emit_json_with(value: dict[str, Any], key: str, raw_json: bytes) -> None:
    """Like ``emit_json``, with ``key`` last and its value ``raw_json``, already-encoded JSON.

    A 10,000-file manifest took 160 ms to re-encode with ``indent``; its canonical bytes are at
    hand and are valid JSON, so they go out as they are (one line, exactly the digested bytes).
    """
    head = json.dumps(value, indent=2, ensure_ascii=False)
    sys.stdout.write(f"{head[:-2]},\n  {json.dumps(key)}: ")
    sys.stdout.flush()
    sys.stdout.buffer.write(raw_json)
    sys.stdout.buffer.flush()
    sys.stdout.write("\n}\n")
    sys.stdout.flush()


def fail(message: str, code: int) -> NoReturn:
    """One line on stderr, then exit with ``code``."""
    sys.stderr.write(f"error: {message}\n")
    raise SystemExit(code)


def exit_code_for(error: ArtifactStoreError) -> int:
    """Map our errors to documented exit codes."""
    if isinstance(error, IntegrityError):
        return EXIT_VERIFY_FAILED
    if isinstance(error, NotFound | Conflict):
        return EXIT_NOT_FOUND_OR_CONFLICT
    if isinstance(error, InvalidInput | AuthError):
        return EXIT_USAGE
    return EXIT_SERVER


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn our errors into one stderr line and an exit code; never a traceback."""
    try:
        yield
    except ArtifactStoreError as exc:
        fail(exc.message, exit_code_for(exc))
    except OSError as exc:
        fail(str(exc), EXIT_USAGE)


def warn(message: str, sink: Callable[[str], Any] = sys.stderr.write) -> None:
    """A warning line on stderr."""
    sink(f"warning: {message}\n")
