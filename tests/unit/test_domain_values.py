"""Value types of the domain: digests and hashing, metadata schemas, routes, retention classes."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import blake3
import pytest

from artifactstore.domain.digests import (
    HASH_BATCH,
    Digest,
    StreamingHasher,
    hash_file,
    hash_files,
    hash_stream,
)
from artifactstore.domain.retention import (
    DEFAULT_CLASSES,
    RetentionClass,
    parse_retention_classes,
    resolve_retention_class,
)
from artifactstore.domain.routes import BackendRoutes
from artifactstore.domain.schemas import MetadataSchema
from artifactstore.errors import ConfigurationError, InvalidInput
from tests.unit.domain_vectors import BASE_METADATA

HEX = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"  # BLAKE3("")
REPO = Path(__file__).resolve().parents[2]


def test_digest_parses_and_prints_back() -> None:
    digest = Digest.parse(f"blake3:{HEX}")
    assert digest.hex == HEX
    assert str(digest) == f"blake3:{HEX}"
    assert Digest.of_bytes(b"") == digest


@pytest.mark.parametrize(
    "text",
    [
        f"blake3:{HEX.upper()}",
        f"blake3:{HEX[:-1]}",
        f"blake3:{HEX}0",
        f"sha256:{HEX}",
        f"BLAKE3:{HEX}",
        HEX,
        f"blake3:{HEX}\n",
        f" blake3:{HEX}",
        f"blake3:{HEX[:-1]}g",
        "",
        None,
        42,
        b"blake3:" + HEX.encode(),
        [f"blake3:{HEX}"],
    ],
)
def test_digest_parse_refuses_anything_else(text: object) -> None:
    with pytest.raises(InvalidInput) as info:
        Digest.parse(text)
    assert info.value.code == "invalid_digest"


# blake3 reads a file under 16 KiB and memory-maps a bigger one; 1 KiB is its chunk size, and
# a few MiB are hashed on several threads.
BIG = 3 * 2**20 + 4097


@pytest.mark.parametrize("size", [0, 1, 1024, 1025, 16383, 16384, 16385, BIG])
def test_hash_file_matches_blake3_on_both_sides_of_the_mmap_threshold(
    tmp_path: Path, size: int
) -> None:
    data = (bytes(range(251)) * (size // 251 + 1))[:size]
    (tmp_path / "f").write_bytes(data)

    assert hash_file(tmp_path / "f") == Digest(blake3.blake3(data).hexdigest())
    assert hash_file(str(tmp_path / "f")) == Digest(blake3.blake3(data).hexdigest())


@pytest.mark.parametrize("count", [0, 1, 40, 2 * HASH_BATCH + 3])
def test_hash_files_keeps_the_order_of_its_input(tmp_path: Path, count: int) -> None:
    paths = []
    for i in range(count):
        paths.append(tmp_path / f"f{i}")
        paths[-1].write_bytes(str(i).encode() * (i % 7 * 97))
    paths.reverse()
    if count > 2:
        big = paths[count // 2]
        big.write_bytes(b"b" * BIG)  # one big file among the small ones

    digests = list(hash_files(paths, workers=3))

    assert digests == [Digest(blake3.blake3(p.read_bytes()).hexdigest()) for p in paths]


def test_hash_stream_and_streaming_hasher_count_and_digest() -> None:
    data = bytes(range(256)) * 1000
    digest, size = hash_stream(io.BytesIO(data), chunk_size=1000)
    assert (digest, size) == (Digest(blake3.blake3(data).hexdigest()), len(data))

    hasher = StreamingHasher()
    for start in range(0, len(data), 7777):
        hasher.update(data[start : start + 7777])
    assert (hasher.digest(), hasher.size) == (digest, size)


def guide_board_schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((REPO / "schemas" / "guide-board.run.v1.json").read_text())
    return loaded


def test_the_guide_board_schema_registers_under_its_slug() -> None:
    schema = MetadataSchema.create("guide-board.run.v1", guide_board_schema())

    assert schema.slug == "guide-board.run.v1"
    schema.validate({**BASE_METADATA, "anything": {"else": [1.5]}})
    for status in ("passed", "failed", "error", "skipped", "partial"):
        schema.validate({**BASE_METADATA, "result_status": status})


def test_schema_identity_ignores_key_order() -> None:
    body = guide_board_schema()
    reordered = dict(reversed(list(body.items())))

    first = MetadataSchema.create("guide-board.run.v1", body)
    second = MetadataSchema.create("guide-board.run.v1", reordered)

    assert first.canonical_bytes == second.canonical_bytes
    assert first.digest == second.digest


@pytest.mark.parametrize(
    "slug", ["", "Guide-board", "-x", ".x", "a b", "a/b", "a_b", "x" * 128, None, 5]
)
def test_bad_slug_is_refused(slug: object) -> None:
    with pytest.raises(InvalidInput) as info:
        MetadataSchema.create(slug, {"type": "object"})
    assert info.value.code == "invalid_schema_slug"


def test_longest_slug_is_accepted() -> None:
    assert MetadataSchema.create("x" * 127, {}).slug == "x" * 127


@pytest.mark.parametrize("schema_id", ["artifactstore:schemas:other", "guide-board.run.v1", "", 5])
def test_wrong_id_is_refused(schema_id: object) -> None:
    with pytest.raises(InvalidInput) as info:
        MetadataSchema.create("guide-board.run.v1", {"$id": schema_id})
    assert info.value.code == "schema_id_mismatch"
    assert info.value.details["expected"] == "artifactstore:schemas:guide-board.run.v1"


@pytest.mark.parametrize(
    ("body", "code", "pointer"),
    [
        ({"type": 5}, "invalid_json_schema", "/type"),
        (
            {"properties": {"a": {"minLength": -1}}},
            "invalid_json_schema",
            "/properties/a/minLength",
        ),
        ({"required": "run_id"}, "invalid_json_schema", "/required"),
        ({"$schema": "http://json-schema.org/draft-07/schema#"}, "invalid_json_schema", None),
        ([{"type": "object"}], "invalid_json_schema", None),
        ("{}", "invalid_json_schema", None),
        ({"const": float("nan")}, "invalid_json", None),
    ],
)
def test_invalid_schema_is_refused(body: object, code: str, pointer: str | None) -> None:
    with pytest.raises(InvalidInput) as info:
        MetadataSchema.create("s", body)
    assert info.value.code == code
    if pointer is not None:
        assert info.value.details["pointer"] == pointer


def test_validate_reports_every_failing_pointer() -> None:
    schema = MetadataSchema.create("guide-board.run.v1", guide_board_schema())
    metadata = {
        "run_id": 5,
        "target_profile_ref": "",
        "result_status": "bogus",
    }

    with pytest.raises(InvalidInput) as info:
        schema.validate(metadata)

    assert info.value.code == "metadata_invalid"
    pointers = sorted(d["pointer"] for d in info.value.details)
    assert pointers == ["", "/result_status", "/run_id", "/target_profile_ref"]
    assert "'assessment_profile_ref' is a required property" in info.value.message
    assert "/result_status: 'bogus' is not one of" in info.value.message


def test_validate_pointers_escape_slash_and_tilde() -> None:
    schema = MetadataSchema.create(
        "s", {"properties": {"a/b": {"type": "string"}, "c~d": {"items": {"type": "integer"}}}}
    )

    with pytest.raises(InvalidInput) as info:
        schema.validate({"a/b": 1, "c~d": [1, "two"]})

    assert sorted(d["pointer"] for d in info.value.details) == ["/a~1b", "/c~0d/1"]


def test_routes_first_match_wins_and_star_matches_anything() -> None:
    routes = BackendRoutes.parse("guide-board:release-evidence=s3, *:ephemeral=local ,*:*=s3")

    assert routes.resolve("guide-board", "release-evidence") == "s3"
    assert routes.resolve("guide-board", "ephemeral") == "local"
    assert routes.resolve("other", "release-evidence") == "s3"
    assert routes.backends == frozenset({"s3", "local"})


def test_routes_without_a_match_refuse_the_package() -> None:
    routes = BackendRoutes.parse("guide-board:release-evidence=s3")

    with pytest.raises(InvalidInput) as info:
        routes.resolve("guide-board", "ephemeral")

    assert info.value.code == "no_storage_route"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "malformed rule ''"),
        ("guide-board=s3", "malformed rule 'guide-board=s3'"),
        ("a:b=s3,", "malformed rule ''"),
        ("a:b:c=s3", "malformed rule"),
        ("a b:c=s3", "malformed rule"),
        ("a:b=", "malformed rule"),
        ("*:*=gcs", "unknown backend 'gcs'"),
    ],
)
def test_malformed_routes_are_a_configuration_error_naming_the_rule(text: str, says: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        BackendRoutes.parse(text)
    assert info.value.code == "configuration_error"
    assert says in info.value.message
    assert "ARTIFACTSTORE_STORAGE_BACKEND_ROUTES" in info.value.message


def test_routes_accept_a_custom_backend_list() -> None:
    assert BackendRoutes.parse("*:*=gcs", backends={"gcs"}).resolve("p", "c") == "gcs"


def test_default_retention_classes() -> None:
    classes = parse_retention_classes(None)

    assert set(classes) == set(DEFAULT_CLASSES) == {"release-evidence", "ephemeral"}
    assert classes["release-evidence"] == RetentionClass("release-evidence", "GOVERNANCE", 3650)
    assert classes["ephemeral"] == RetentionClass("ephemeral", expire_days=14)
    assert resolve_retention_class(classes, "ephemeral").expire_days == 14


def test_configured_retention_classes_replace_the_defaults() -> None:
    text = '{"legal": {"lock_mode": "COMPLIANCE", "lock_days": 30}, "scratch": {"expire_days": 1}}'

    classes = parse_retention_classes(text)

    assert classes == {
        "legal": RetentionClass("legal", "COMPLIANCE", 30),
        "scratch": RetentionClass("scratch", expire_days=1),
    }


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("not json", "is not JSON"),
        ("[]", "non-empty object"),
        ("{}", "non-empty object"),
        ('{"x": 5}', "rules must be an object"),
        ('{"x": {"lock_mode": "FOREVER", "lock_days": 1}}', "unknown lock_mode"),
        ('{"x": {"lock_mode": "GOVERNANCE"}}', "go together"),
        ('{"x": {"lock_days": 5}}', "go together"),
        ('{"x": {"lock_mode": "GOVERNANCE", "lock_days": "ten"}}', "positive integer"),
        ('{"x": {"expire_days": 0}}', "positive integer"),
        ('{"x": {"expire_days": true}}', "positive integer"),
        ('{"x": {"expire_days": 1.5}}', "positive integer"),
        ('{"x": {"keep": "forever"}}', "unknown rule"),
        ('{"x": {"name": "y"}}', "unknown rule"),
    ],
)
def test_bad_retention_classes_are_a_configuration_error(text: str, says: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_retention_classes(text)
    assert info.value.code == "configuration_error"
    assert says in info.value.message


@pytest.mark.parametrize("name", ["forever", None, 3])
def test_unknown_retention_class_is_refused(name: object) -> None:
    with pytest.raises(InvalidInput) as info:
        resolve_retention_class(parse_retention_classes(None), name)
    assert info.value.code == "unknown_retention_class"
