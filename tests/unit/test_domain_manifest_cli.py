"""``artifactstore guide-board manifest`` driven as a subprocess, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.domain_vectors import RunVector, rich_vector, tree_snapshot

CLI = str(Path(sys.executable).with_name("artifactstore"))
REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "schemas" / "guide-board.run.v1.json"


def run_cli(*args: str | Path) -> subprocess.CompletedProcess[bytes]:
    """Run the installed console script; bytes out, so the test sees exactly what was written."""
    return subprocess.run(
        [CLI, *map(str, args)], capture_output=True, timeout=60, check=False, cwd=REPO
    )


def assert_clean_failure(result: subprocess.CompletedProcess[bytes]) -> str:
    """Non-zero exit, nothing on stdout, one ``error:`` line on stderr, never a traceback."""
    stderr = result.stderr.decode("utf-8")
    assert result.returncode == 2, stderr
    assert result.stdout == b""
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture
def rich_run(tmp_path: Path) -> tuple[RunVector, Path]:
    vector = rich_vector()
    vector.empty_dirs = ("results/empty",)
    return vector, vector.write(tmp_path / "run")


def test_prints_exactly_one_json_object_with_the_contract_digest(
    rich_run: tuple[RunVector, Path],
) -> None:
    vector, root = rich_run
    before = tree_snapshot(root)

    result = run_cli("guide-board", "manifest", root)

    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout.decode("utf-8"))  # the whole of stdout is one JSON value
    assert output == {
        "manifest_digest": vector.expected_digest(),
        "file_count": len(vector.files) + 1,
        "total_bytes": vector.expected_total_bytes(),
        "manifest": vector.expected_manifest(),
    }
    assert tree_snapshot(root) == before


def test_empty_folders_are_named_on_stderr_not_stdout(rich_run: tuple[RunVector, Path]) -> None:
    _, root = rich_run

    result = run_cli("guide-board", "manifest", root)

    assert sorted(result.stderr.decode("utf-8").splitlines()) == [
        "warning: empty folder 'results' is not kept in the package",
        "warning: empty folder 'results/empty' is not kept in the package",
    ]
    assert b"warning" not in result.stdout


def test_paths_equal_under_case_folding_are_kept_with_a_warning(tmp_path: Path) -> None:
    vector = rich_vector()
    root = vector.write(tmp_path / "run")
    (root / "README.md").write_bytes(b"one")
    (root / "readme.md").write_bytes(b"two")
    (root / "Stra\u00dfe.log").write_bytes(b"three")
    (root / "STRASSE.log").write_bytes(b"four")

    result = run_cli("guide-board", "manifest", root)

    assert result.returncode == 0, result.stderr
    assert sorted(result.stderr.decode("utf-8").splitlines()) == [
        "warning: 'README.md' and 'readme.md' differ only in case: they collide when downloaded"
        " to a case-insensitive file system (macOS, Windows)",
        "warning: 'STRASSE.log' and 'Stra\u00dfe.log' differ only in case: they collide when"
        " downloaded to a case-insensitive file system (macOS, Windows)",
    ]
    paths = [f["path"] for f in json.loads(result.stdout)["manifest"]["files"]]
    assert {"README.md", "readme.md", "Stra\u00dfe.log", "STRASSE.log"} <= set(paths)


def test_schema_option_accepts_valid_metadata(rich_run: tuple[RunVector, Path]) -> None:
    vector, root = rich_run

    result = run_cli("guide-board", "manifest", root, "--schema", SCHEMA)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["manifest_digest"] == vector.expected_digest()


def test_schema_option_fails_with_the_schema_errors(tmp_path: Path) -> None:
    vector = rich_vector()
    vector.metadata["result_status"] = "bogus"
    vector.metadata["target_profile_ref"] = ""
    root = vector.write(tmp_path / "run")

    line = assert_clean_failure(run_cli("guide-board", "manifest", root, "--schema", SCHEMA))

    assert "metadata does not match schema 'guide-board.run.v1'" in line
    assert "/result_status: 'bogus' is not one of" in line
    assert "/target_profile_ref:" in line


def test_refused_run_is_one_error_line_naming_path_and_kind(
    rich_run: tuple[RunVector, Path],
) -> None:
    _, root = rich_run
    (root / "logs" / "latest").symlink_to("run.log")
    before = tree_snapshot(root)

    line = assert_clean_failure(run_cli("guide-board", "manifest", root))

    assert "logs/latest: is a symlink" in line
    assert tree_snapshot(root) == before


def test_unfinalized_run_names_the_missing_fields(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_bytes(b'{"run_id": "r", "result_status": "passed"}')

    line = assert_clean_failure(run_cli("guide-board", "manifest", tmp_path))

    assert "target_profile_ref, assessment_profile_ref" in line
