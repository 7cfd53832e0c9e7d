"""One cursor format for every listing (``domain/cursors.py``): what it takes back, and the one
error for anything else."""

from __future__ import annotations

import base64
import json

import pytest

from artifactstore.domain.cursors import (
    decode_after,
    decode_cursor,
    decode_position,
    encode_after,
    encode_cursor,
    encode_position,
)
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


def test_a_position_names_the_partition_listed() -> None:
    """A catalog listing's cursor (a start key's strings): of that listing and partition only."""
    where = {"gsi1pk": "PRODUCER#a", "gsi1sk": "2031#x", "pk": "PKG#x", "sk": "PKG"}
    cursor = encode_position(where)
    assert cursor is not None
    assert decode_position(cursor, {"gsi1pk": "PRODUCER#a"}, ("gsi1sk", "pk", "sk")) == where
    assert encode_position(None) is None and encode_position({}) is None
    assert decode_position(None, {"pk": "SCHEMA"}, ("sk",)) is None
    refused = [
        (cursor, {"gsi1pk": "PRODUCER#b"}, ("gsi1sk", "pk", "sk")),  # another partition
        (cursor, {"gsi2pk": "PRODUCER#a"}, ("gsi2sk", "pk", "sk")),  # another listing
        (cursor, {"pk": "SCHEMA"}, ("sk",)),
    ]
    for bad, partition, sort in refused:
        with pytest.raises(InvalidInput) as caught:
            decode_position(bad, partition, sort)
        assert caught.value.code == "invalid_cursor"
