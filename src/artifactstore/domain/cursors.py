"""The one cursor format every listing hands out: a base64url JSON object of short strings,
opaque to clients, a 400 ``invalid_cursor`` when it is not one we made.

File listings and download plans name the last path of a page (``encode_after``); the catalog's
listings of one partition name where their query stopped (``encode_position``: the strings of
its start key, which a catalog adapter maps to and from its own key format).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Collection, Mapping

from artifactstore.errors import InvalidInput

MAX_CURSOR_PATH_BYTES = 4096
MAX_FIELD_BYTES = 1024  # a DynamoDB key attribute's most


def invalid_cursor() -> InvalidInput:
    """The one error every bad cursor gets."""
    return InvalidInput("invalid pagination cursor", code="invalid_cursor")


def encode_cursor(fields: Mapping[str, str]) -> str:
    """An opaque cursor holding ``fields``."""
    return base64.urlsafe_b64encode(json.dumps(dict(fields), sort_keys=True).encode()).decode()


def decode_cursor(
    cursor: str, names: Collection[str], most_bytes: int = MAX_FIELD_BYTES
) -> dict[str, str]:
    """The fields of a cursor made with exactly ``names``, each a string of 1..``most_bytes``
    UTF-8 bytes; anything else is ``invalid_cursor``."""
    try:
        fields = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError) as exc:
        raise invalid_cursor() from exc
    if (
        not isinstance(fields, dict)
        or set(fields) != set(names)
        or not all(
            isinstance(v, str) and 0 < len(v.encode("utf-8", "surrogatepass")) <= most_bytes
            for v in fields.values()
        )
    ):
        raise invalid_cursor()
    return fields


def encode_position(fields: Mapping[str, str] | None) -> str | None:
    """The cursor of a listing's page that stopped at ``fields`` (the key strings of its last
    item); None when it stopped at nothing: the listing is done."""
    return encode_cursor(fields) if fields else None


def decode_position(
    cursor: str | None, partition: Mapping[str, str], sort: Collection[str]
) -> dict[str, str] | None:
    """Where a listing of one partition resumes (None for no cursor): a cursor made with
    exactly the names of ``partition`` and ``sort`` that names the partition listed (the
    values of ``partition``), so a cursor of another listing or partition is refused too;
    anything else is ``invalid_cursor``."""
    if not cursor:
        return None
    fields = decode_cursor(cursor, set(partition) | set(sort))
    if any(fields[name] != value for name, value in partition.items()):
        raise invalid_cursor()
    return fields


def encode_after(path: str) -> str:
    """The cursor of a page that ended at ``path``."""
    return encode_cursor({"after": path})


def decode_after(cursor: str | None) -> str | None:
    """The path a cursor names (None for no cursor); anything else is ``invalid_cursor``."""
    if not cursor:
        return None
    return decode_cursor(cursor, ("after",), MAX_CURSOR_PATH_BYTES)["after"]
