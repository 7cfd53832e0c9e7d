"""Every refusal of a run directory: the exact code, a message naming path and kind, no writes."""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from artifactstore.domain.rundir import REQUIRED_RUN_FIELDS, scan_run_directory
from artifactstore.errors import RunDirectoryError
from tests.unit.domain_vectors import BASE_METADATA, RunVector, tree_snapshot


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A valid run with a few files; each test spoils it in one way."""
    vector = RunVector(
        dict(BASE_METADATA),
        files={
            "logs/run.log": ("logs/run.log", b"ok\n", 0o644),
            ".guide-board/state.json": (".guide-board/state.json", b"{}", 0o644),
        },
    )
    return vector.write(tmp_path / "run")


def refuse(root: Path, code: str) -> RunDirectoryError:
    """Scan ``root``, expect a refusal with ``code``, and check nothing under it changed."""
    before = tree_snapshot(root.parent)
    with pytest.raises(RunDirectoryError) as info:
        scan_run_directory(root)
    assert tree_snapshot(root.parent) == before
    assert info.value.code == code
    return info.value


def test_the_untouched_fixture_is_accepted(run_dir: Path) -> None:
    assert len(scan_run_directory(run_dir).files) == 3


@pytest.mark.parametrize("target", ["../run.json", "..", "does-not-exist"])
def test_symlink_is_refused_naming_path_and_kind(run_dir: Path, target: str) -> None:
    (run_dir / "logs" / "latest").symlink_to(target)

    error = refuse(run_dir, "run_directory_refused")

    assert error.details == {"problems": ["logs/latest: is a symlink"]}
    assert "logs/latest: is a symlink" in error.message


def test_fifo_is_refused_without_being_opened(run_dir: Path) -> None:
    os.mkfifo(run_dir / "logs" / "pipe")  # opening it would block the scan forever

    error = refuse(run_dir, "run_directory_refused")

    assert error.details == {"problems": ["logs/pipe: is a FIFO"]}


@pytest.fixture
def unix_socket(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(run_dir)  # a relative name keeps clear of the 108-byte AF_UNIX limit
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind("agent.sock")
    try:
        yield run_dir / "agent.sock"
    finally:
        server.close()


def test_socket_is_refused(run_dir: Path, unix_socket: Path) -> None:
    assert stat.S_ISSOCK(unix_socket.lstat().st_mode)

    error = refuse(run_dir, "run_directory_refused")

    assert error.details == {"problems": ["agent.sock: is a socket"]}


def test_character_device_is_refused(run_dir: Path) -> None:
    try:
        os.mknod(run_dir / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device node needs CAP_MKNOD")

    error = refuse(run_dir, "run_directory_refused")

    assert error.details == {"problems": ["null: is a character device"]}


def test_name_that_is_not_utf8_is_refused(run_dir: Path) -> None:
    fd = os.open(os.fsencode(run_dir / "logs") + b"/bad-\xff.log", os.O_CREAT | os.O_WRONLY, 0o644)
    os.close(fd)

    error = refuse(run_dir, "run_directory_refused")

    assert error.details == {"problems": ["'logs/bad-\\udcff.log': file name is not valid UTF-8"]}


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_two_names_equal_after_nfc_are_refused(run_dir: Path, kind: str) -> None:
    for name in ("caf\u00e9", "cafe\u0301"):
        if kind == "file":
            (run_dir / name).write_bytes(name.encode())
        else:
            (run_dir / name).mkdir()
            (run_dir / name / "x.txt").write_bytes(b"x")

    error = refuse(run_dir, "run_directory_refused")

    [problem] = error.details["problems"]
    assert problem.startswith("caf\u00e9: two names are equal after NFC normalization")
    assert "'cafe\u0301'" in problem
    assert "'caf\u00e9'" in problem


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("back\\slash.txt", "contains a backslash"),
        ("tab\there", "NUL or control character"),
        ("gpj.\u202eexe", "invisible Unicode format character U+202E"),
        ("zero\u200bwidth.txt", "invisible Unicode format character U+200B"),
        ("\ufeffbom.txt", "invisible Unicode format character U+FEFF"),
    ],
)
def test_names_linux_allows_but_the_path_rules_forbid_are_refused(
    run_dir: Path, name: str, why: str
) -> None:
    (run_dir / "logs" / name).write_bytes(b"x")

    error = refuse(run_dir, "run_directory_refused")

    [problem] = error.details["problems"]
    assert why in problem
    assert repr(f"logs/{name}") in problem


def test_path_over_1024_utf8_bytes_is_refused(run_dir: Path) -> None:
    deep = run_dir.joinpath(*(["d" * 200] * 6))
    deep.mkdir(parents=True)
    (deep / "file.txt").write_bytes(b"x")

    error = refuse(run_dir, "run_directory_refused")

    [problem] = error.details["problems"]
    assert "longer than 1024 UTF-8 bytes" in problem


def test_every_problem_is_reported_at_once(run_dir: Path) -> None:
    (run_dir / "link").symlink_to("run.json")
    os.mkfifo(run_dir / "logs" / "pipe")

    error = refuse(run_dir, "run_directory_refused")

    assert error.details == {"problems": ["link: is a symlink", "logs/pipe: is a FIFO"]}


def test_missing_run_json_is_not_finalized(run_dir: Path) -> None:
    (run_dir / "run.json").unlink()

    error = refuse(run_dir, "run_not_finalized")

    assert error.details == {"missing": ["run.json"]}
    assert "run.json is missing" in error.message


def test_run_json_as_symlink_is_refused_as_a_symlink(run_dir: Path) -> None:
    (run_dir / "real.json").write_bytes((run_dir / "run.json").read_bytes())
    (run_dir / "run.json").unlink()
    (run_dir / "run.json").symlink_to("real.json")

    error = refuse(run_dir, "run_directory_refused")

    assert error.details == {"problems": ["run.json: is a symlink"]}


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b'["run_id"]', "must hold a JSON object"),
        (b'"run"', "must hold a JSON object"),
        (b"42", "must hold a JSON object"),
        (b"null", "must hold a JSON object"),
        (b"", "not valid JSON"),
        (b'{"run_id": ', "not valid JSON"),
        (b'{"run_id": "a\xff"}', "not valid JSON"),
        (b'{"run_id": "a", "run_id": "b"}', "duplicate key 'run_id'"),
        (b'{"run_id": NaN}', "NaN is not valid JSON"),
        (b'{"run_id": "r", "x": Infinity}', "Infinity is not valid JSON"),
        (b'{"run_id": "r", "x": -Infinity}', "-Infinity is not valid JSON"),
    ],
)
def test_run_json_that_is_not_one_json_object_is_refused(
    run_dir: Path, content: bytes, says: str
) -> None:
    (run_dir / "run.json").write_bytes(content)

    error = refuse(run_dir, "run_not_finalized")

    assert says in error.message
    assert "run.json" in error.message


def test_run_json_in_utf16_is_refused(run_dir: Path) -> None:
    (run_dir / "run.json").write_bytes('{"run_id": "r"}'.encode("utf-16"))

    assert "not valid JSON" in refuse(run_dir, "run_not_finalized").message


@pytest.mark.parametrize(("extra", "says"), [(b"1e400", "inf"), (b"1152921504606846976", "safe")])
def test_numbers_the_manifest_cannot_carry_are_refused_up_front(
    run_dir: Path, extra: bytes, says: str
) -> None:
    body = (run_dir / "run.json").read_bytes().rstrip()[:-1] + b', "x": ' + extra + b"}"
    (run_dir / "run.json").write_bytes(body)

    error = refuse(run_dir, "run_not_finalized")

    assert says in error.message
    assert "run.json" in error.message


@pytest.mark.parametrize("field", REQUIRED_RUN_FIELDS)
@pytest.mark.parametrize("value", ["<absent>", None, 7, ["x"], {"x": 1}, True])
def test_required_field_missing_or_not_a_string_is_named(
    run_dir: Path, field: str, value: object
) -> None:
    metadata: dict[str, object] = dict(BASE_METADATA)
    if value == "<absent>":
        del metadata[field]
    else:
        metadata[field] = value
    RunVector(metadata).write(run_dir)

    error = refuse(run_dir, "run_not_finalized")

    assert error.details == {"missing": [field]}
    assert field in error.message


def test_all_missing_fields_are_named_together(run_dir: Path) -> None:
    (run_dir / "run.json").write_bytes(b'{"result_status": "passed"}')

    error = refuse(run_dir, "run_not_finalized")

    assert error.details == {"missing": ["run_id", "target_profile_ref", "assessment_profile_ref"]}


@pytest.mark.parametrize("make", ["missing", "file"])
def test_run_dir_that_is_not_a_directory_is_refused(tmp_path: Path, make: str) -> None:
    target = tmp_path / "run"
    if make == "file":
        target.write_bytes(b"{}")

    error = refuse(target, "run_directory_not_found")

    assert str(target) in error.message
