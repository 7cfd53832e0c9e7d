"""One cursor format for every listing (``domain/cursors.py``): what it takes back, and the one
error for anything else."""

from __future__ import annotations

import base64
import json

import pytest

from artifactstore.domain.cursors import decode_after, decode_cursor, encode_after, encode_cursor
from artifactstore.errors import InvalidInput


def raw(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def test_fields_and_paths_round_trip() -> None:
    fields = {"pk": "PKG#ä", "sk": "FILE#b/c"}
    assert decode_cursor(encode_cursor(fields), {"pk", "sk"}) == fields
    path = "logs/" + "é" * 2000  # 4,005 bytes: a path may be longer than a key attribute
    assert decode_after(encode_after(path)) == path
    assert decode_after(None) is None and decode_after("") is None


@pytest.mark.parametrize(
    "cursor",
    [
        "not base64 json!",
        raw(["pk", "sk"]),
        raw({"pk": "a"}),  # a name missing
        raw({"pk": "a", "sk": "b", "x": "c"}),  # one too many
        raw({"pk": {"S": "a"}, "sk": "b"}),  # DynamoDB's typed form is not ours
        raw({"pk": "", "sk": "b"}),
        raw({"pk": "a" * 1025, "sk": "b"}),
        raw({"pk": 1, "sk": "b"}),
    ],
)
def test_anything_else_is_invalid_cursor(cursor: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        decode_cursor(cursor, ("pk", "sk"))
    assert (refused.value.code, refused.value.message) == (
        "invalid_cursor",
        "invalid pagination cursor",
    )


def test_an_after_cursor_names_one_path_of_at_most_4096_bytes() -> None:
    for bad in (raw({"after": "x" * 4097}), raw({"after": "a", "more": "b"}), raw({"pk": "a"})):
        with pytest.raises(InvalidInput, match="invalid pagination cursor"):
            decode_after(bad)
