"""Every error code raised in src/ is documented in docs/api.md, with the status the API sends."""

from __future__ import annotations

import re
from pathlib import Path

from artifactstore.api import errors
from artifactstore.errors import (
    ArtifactStoreError,
    AuthError,
    Conflict,
    InvalidInput,
    NotFound,
    StorageError,
)

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "artifactstore"
DOC = (ROOT / "docs" / "api.md").read_text()
LITERAL = re.compile(r"""\bcode\s*=\s*["']([a-z0-9_]+)["']""")
FORMATTED = re.compile(r"""\bcode\s*=\s*f["']([^"']+)["']""")
# What each formatted code can become; a new pattern must be added here (and documented).
EXPANSIONS = {
    "{kind}_url_expired": {"upload_url_expired", "download_url_expired"},
    "{what}_not_found": {
        "upload_not_found",
        "blob_not_found",
        "object_not_found",
        "manifest_not_found",
    },
}
ROW = re.compile(r"^\| `([a-z0-9_<>]+)` \| (\d{3}|that status|[^|]*?) \|", re.MULTILINE)


def raised_codes() -> set[str]:
    """Codes written as ``code="..."`` or ``code = "..."`` anywhere in src/, expanded."""
    codes: set[str] = set()
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        codes |= set(LITERAL.findall(text))
        for pattern in FORMATTED.findall(text):
            assert pattern in EXPANSIONS, f"{path}: new formatted code {pattern!r}: list it here"
            codes |= EXPANSIONS[pattern]
    return codes


def documented() -> dict[str, str]:
    """``code -> status column`` of both tables in docs/api.md."""
    return dict(ROW.findall(DOC))


def edge_codes() -> set[str]:
    """Codes the HTTP edge answers with itself."""
    return {
        *errors.HTTP_CODES.values(),
        *errors.VALIDATION_CODES.values(),
        errors.INTERNAL_ERROR,
        errors.VALIDATION_ERROR,
        errors.INVALID_TYPE,
        errors.INVALID_VALUE,
        errors.INVALID_PARAMETER,
        errors.MISSING_BODY,
    }


def test_the_scan_finds_codes_in_every_layer() -> None:
    codes = raised_codes()
    # One from each of: domain, service, catalog, api, adapters, client, and a formatted one.
    for code in (
        "invalid_path",
        "unknown_schema",
        "invalid_cursor",
        "forbidden",
        "size_mismatch",
        "api_unreachable",
        "download_url_expired",
    ):
        assert code in codes


def test_every_raised_code_is_documented() -> None:
    missing = sorted((raised_codes() | edge_codes()) - set(documented()))
    assert not missing, f"add these codes to the tables in docs/api.md: {missing}"


def test_documented_statuses_match_the_mapping() -> None:
    table = documented()
    for code, status in errors.STATUS_BY_CODE.items():
        assert table[code] == str(status), code
    samples: list[tuple[ArtifactStoreError, int]] = [
        (NotFound("x", code="package_not_found"), 404),
        (Conflict("x", code="schema_conflict"), 409),
        (InvalidInput("x", code="invalid_path"), 422),
        (StorageError("x"), 502),
        (AuthError("x"), 401),
        (AuthError("x", code="download_url_expired"), 410),
    ]
    for error, status in samples:
        assert errors.status_for(error) == status
        assert table[error.code] == str(status), error.code


def test_signature_and_expiry_statuses() -> None:
    assert errors.STATUS_BY_CODE["invalid_signature"] == 403
    assert errors.STATUS_BY_CODE["upload_url_expired"] == 410
    assert errors.STATUS_BY_CODE["download_url_expired"] == 410
