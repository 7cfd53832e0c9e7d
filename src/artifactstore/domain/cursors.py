"""The "after this path" cursor that file listings and download plans hand out: opaque to
clients, a 400 ``invalid_cursor`` when it is not one we made."""

from __future__ import annotations

import base64
import json

from artifactstore.errors import InvalidInput

MAX_CURSOR_PATH_BYTES = 4096


def encode_after(path: str) -> str:
    """The cursor of a page that ended at ``path``."""
    return base64.urlsafe_b64encode(json.dumps({"after": path}).encode()).decode()


def decode_after(cursor: str | None) -> str | None:
    """The path a cursor names (None for no cursor); anything else is ``invalid_cursor``."""
    if not cursor:
        return None
    try:
        after = json.loads(base64.urlsafe_b64decode(cursor.encode()))["after"]
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidInput("invalid pagination cursor", code="invalid_cursor") from exc
    if not isinstance(after, str) or not (
        0 < len(after.encode("utf-8", "surrogatepass")) <= MAX_CURSOR_PATH_BYTES
    ):
        raise InvalidInput("invalid pagination cursor", code="invalid_cursor")
    return after
