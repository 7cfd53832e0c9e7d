"""Golden vectors: run directories whose manifest digests are computed here, not by our code."""

from __future__ import annotations

import json
import os
from pathlib import Path

import blake3
import pytest
import rfc8785

from artifactstore.domain.rundir import scan_run_directory
from tests.unit.domain_vectors import (
    BASE_METADATA,
    SCHEMA_SLUG,
    UTF8_ORDER_NAMES,
    RunVector,
    manifest_digest,
    rich_vector,
)


def _b3(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def test_minimal_run_matches_hand_written_canonical_bytes(tmp_path: Path) -> None:
    """The canonical bytes are spelled out by hand here: JCS key order and number form."""
    run_json = (
        b'{"run_id": "r-1", "target_profile_ref": "t", "assessment_profile_ref": "a",\n'
        b' "result_status": "passed", "score": 0.5, "whole": 3.0, "big": 1e21,\n'
        b' "\xc3\xa9": "Gr\xc3\xbc\xc3\x9fe"}\n'
    )
    (tmp_path / "run.json").write_bytes(run_json)
    expected = (
        b'{"files":[{"digest":"blake3:' + _b3(run_json).encode() + b'","path":"run.json",'
        b'"size":' + str(len(run_json)).encode() + b'}],"idempotency_key":"r-1",'
        b'"manifest_version":1,"metadata":{"assessment_profile_ref":"a","big":1e+21,'
        b'"result_status":"passed","run_id":"r-1","score":0.5,"target_profile_ref":"t",'
        b'"whole":3,"\xc3\xa9":"Gr\xc3\xbc\xc3\x9fe"},"producer":"guide-board",'
        b'"schema":"guide-board.run.v1"}'
    )

    manifest = scan_run_directory(tmp_path).manifest(SCHEMA_SLUG)

    assert manifest.canonical_bytes() == expected
    assert str(manifest.digest()) == "blake3:" + _b3(expected)


def test_rich_run_gives_the_contract_manifest_and_digest(tmp_path: Path) -> None:
    vector = rich_vector()
    root = vector.write(tmp_path / "run")

    scan = scan_run_directory(root)
    manifest = scan.manifest(SCHEMA_SLUG)

    assert manifest.to_json() == vector.expected_manifest()
    assert manifest.canonical_bytes() == rfc8785.dumps(vector.expected_manifest())
    assert str(manifest.digest()) == vector.expected_digest()
    assert manifest.total_bytes == vector.expected_total_bytes()
    assert scan.warnings == []


def test_rich_run_records_nfc_names_hidden_empty_and_executable_files(tmp_path: Path) -> None:
    root = rich_vector().write(tmp_path / "run")

    entries = {
        f["path"]: f for f in scan_run_directory(root).manifest(SCHEMA_SLUG).to_json()["files"]
    }

    assert "Caf\u00e9.txt" in entries  # written as NFD on disk, recorded as NFC
    assert "Cafe\u0301.txt" not in entries
    assert entries[".guide-board/state/progress.json"]["size"] == 12
    assert entries["logs/empty.log"] == {
        "path": "logs/empty.log",
        "size": 0,
        "digest": "blake3:" + _b3(b""),
    }
    assert entries["tools/rerun.sh"]["executable"] is True
    assert entries["tools/group-only-x"]["executable"] is True  # any x bit counts
    assert "executable" not in entries["run.json"]  # omitted, never false


def test_file_order_is_utf8_byte_order_not_utf16_or_locale(tmp_path: Path) -> None:
    root = rich_vector().write(tmp_path / "run")

    paths = [f.path for f in scan_run_directory(root).manifest(SCHEMA_SLUG).files]

    assert [p for p in paths if p.startswith("names/")] == [f"names/{n}" for n in UTF8_ORDER_NAMES]
    assert paths == sorted(paths, key=lambda p: p.encode("utf-8"))
    utf16 = sorted(UTF8_ORDER_NAMES, key=lambda n: n.encode("utf-16-be"))
    assert utf16 != list(UTF8_ORDER_NAMES)  # the vector really tells the two orders apart


def test_separator_sorts_as_its_byte_between_dash_dot_and_letters(tmp_path: Path) -> None:
    vector = RunVector(
        dict(BASE_METADATA),
        files={n: (n, n.encode(), 0o644) for n in ("a.b", "a/b/c", "a-b", "A")},
    )
    root = vector.write(tmp_path / "run")

    paths = [f.path for f in scan_run_directory(root).manifest(SCHEMA_SLUG).files]

    assert paths == ["A", "a-b", "a.b", "a/b/c", "run.json"]
    assert str(scan_run_directory(root).manifest(SCHEMA_SLUG).digest()) == vector.expected_digest()


def test_empty_folders_carry_nothing_and_are_named_in_warnings(tmp_path: Path) -> None:
    vector = RunVector(
        dict(BASE_METADATA),
        files={"deep/a/b/c/file.txt": ("deep/a/b/c/file.txt", b"deep", 0o644)},
        empty_dirs=("empty/inner", "deep/a/nothing-here"),
    )
    root = vector.write(tmp_path / "run")

    scan = scan_run_directory(root)

    assert str(scan.manifest(SCHEMA_SLUG).digest()) == vector.expected_digest()
    assert sorted(scan.warnings) == [
        "empty folder 'deep/a/nothing-here' is not kept in the package",
        "empty folder 'empty' is not kept in the package",
        "empty folder 'empty/inner' is not kept in the package",
    ]


def test_only_run_json_is_a_valid_package(tmp_path: Path) -> None:
    vector = RunVector(dict(BASE_METADATA))
    root = vector.write(tmp_path / "run")

    manifest = scan_run_directory(root).manifest(SCHEMA_SLUG)

    assert [f.path for f in manifest.files] == ["run.json"]
    assert str(manifest.digest()) == vector.expected_digest()


def test_metadata_is_run_json_exactly_as_parsed(tmp_path: Path) -> None:
    vector = rich_vector()
    root = vector.write(tmp_path / "run")

    scan = scan_run_directory(root)

    assert scan.metadata == json.loads(vector.run_json_bytes())
    assert scan.run_id == "run-2026-05-16T10:00:00Z-Größe"


@pytest.mark.parametrize("schema", ["guide-board.run.v1", "guide-board.run.v2"])
def test_schema_slug_is_part_of_the_identity(tmp_path: Path, schema: str) -> None:
    vector = RunVector(dict(BASE_METADATA))
    root = vector.write(tmp_path / "run")
    expected = {**vector.expected_manifest(), "schema": schema}

    assert str(scan_run_directory(root).manifest(schema).digest()) == manifest_digest(expected)


def test_same_run_anywhere_gives_the_same_digest(tmp_path: Path) -> None:
    first = rich_vector().write(tmp_path / "one")
    second = rich_vector().write(tmp_path / "elsewhere" / "two")

    digests = {str(scan_run_directory(r).manifest(SCHEMA_SLUG).digest()) for r in (first, second)}

    assert digests == {rich_vector().expected_digest()}


@pytest.mark.parametrize("given", ["ABSOLUTE", "run", "run/", "./run/../run"])
def test_each_scanned_file_points_at_its_own_name_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    # Hashing reads each file from its location: the name on disk (NFD stays NFD), under the
    # root as given, whatever the package path says.
    vector = rich_vector()
    root = vector.write(tmp_path / "run")
    monkeypatch.chdir(tmp_path)
    given = str(root) if given == "ABSOLUTE" else given

    scan = scan_run_directory(given)

    by_path = {f.path: f.location for f in scan.files}
    base = str(Path(given))  # the scan takes a Path: "./run" is "run" from there on
    expected = {path: os.path.join(base, disk) for disk, (path, _b, _m) in vector.files.items()}
    assert {p: by_path[p] for p in expected} == expected
    for path, data, _mode in vector.files.values():
        assert Path(by_path[path]).read_bytes() == data
