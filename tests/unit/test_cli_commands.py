"""The ``artifactstore`` executable: help, exit codes, stdout discipline, verify (real files)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest

from artifactstore.cli.output import exit_code_for
from artifactstore.client.verify import compare
from artifactstore.domain.rundir import scan_run_directory
from artifactstore.errors import (
    ArtifactStoreError,
    AuthError,
    Conflict,
    IntegrityError,
    InvalidInput,
    NotFound,
    RunDirectoryError,
    ServerError,
)
from tests.unit.cli_fake_api import TOKEN, FakeApi, serve
from tests.unit.test_cli_client_flows import SCHEMA, make_run

REPO = Path(__file__).resolve().parents[2]
CLI = REPO / ".venv" / "bin" / "artifactstore"
COMMANDS = {
    (): [
        "manifest",
        "download",
        "cat",
        "verify",
        "diff",
        "guide-board",
        "packages",
        "schemas",
        "tokens",
        "attestation",
        "signing-keys",
        "usage",
    ],
    ("guide-board",): ["manifest", "ingest"],
    ("packages",): ["list", "show"],
    ("schemas",): ["register"],
    ("tokens",): ["create", "list", "revoke"],
}


def cli(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ARTIFACTSTORE_", "STATE_"))}
    return subprocess.run(
        [str(CLI), *map(str, args)],
        cwd=cwd,  # a folder without a .env, so only the given environment counts
        env={**clean, "ARTIFACTSTORE_CLIENT_RETRIES": "0", **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def served() -> Iterator[tuple[FakeApi, dict[str, str]]]:
    api = FakeApi()
    with serve(api) as url:
        yield api, {"ARTIFACTSTORE_API_URL": url, "ARTIFACTSTORE_API_TOKEN": TOKEN}


def listed_commands(help_text: str) -> dict[str, str]:
    """The "Commands:" section of click's plain help: each command's name and summary."""
    lines = help_text.splitlines()
    start = lines.index("Commands:") + 1
    listing: dict[str, str] = {}
    for line in lines[start:]:
        if not line.strip():
            break
        if line.startswith("  ") and not line.startswith("   "):
            name, _, summary = line.strip().partition(" ")
            listing[name] = summary.strip()
        else:  # a summary wrapped onto the next line
            listing[name] += " " + line.strip()
    return listing


@pytest.mark.parametrize("group", list(COMMANDS), ids=lambda g: " ".join(g) or "top")
def test_help_lists_every_command(group: tuple[str, ...], tmp_path: Path) -> None:
    done = cli(*group, "--help", cwd=tmp_path)
    assert done.returncode == 0
    listing = listed_commands(done.stdout)
    assert sorted(listing) == sorted(COMMANDS[group]), done.stdout
    for command, summary in listing.items():
        # click shortens a summary that does not fit with "...": keep the first sentence short.
        assert summary and not summary.endswith("..."), (command, done.stdout)


@pytest.mark.parametrize("group", list(COMMANDS), ids=lambda g: " ".join(g) or "top")
def test_help_never_imports_rich(group: tuple[str, ...], tmp_path: Path) -> None:
    # Typer's Rich help imports rich.markdown and markdown_it: it doubled the time of --help.
    probe = (
        "import sys; from artifactstore.cli.main import app\n"
        "try: app(sys.argv[1:])\n"
        "except SystemExit as exc: assert exc.code == 0, exc.code\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('rich', 'markdown_it')))"
    )
    python = CLI.with_name("python")
    done = subprocess.run(
        [str(python), "-c", probe, *group, "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]", done.stdout


def test_help_documents_the_exit_codes(tmp_path: Path) -> None:
    text = " ".join(cli("--help", cwd=tmp_path).stdout.split())
    for code in ("0 ok", "1 verification failed", "2 usage", "3 not found or conflict", "4 server"):
        assert code in text


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (IntegrityError("x"), 1),
        (InvalidInput("x"), 2),
        (RunDirectoryError("x"), 2),
        (AuthError("x"), 2),
        (NotFound("x"), 3),
        (Conflict("x"), 3),
        (ServerError("x"), 4),
        (ArtifactStoreError("x"), 4),
    ],
)
def test_exit_code_mapping(error: ArtifactStoreError, code: int) -> None:
    assert exit_code_for(error) == code


def test_ingest_prints_exactly_one_json_object_and_progress_only_on_stderr(
    served: tuple[FakeApi, dict[str, str]], tmp_path: Path
) -> None:
    _api, env = served
    run = make_run(tmp_path / "run")
    done = cli(
        "guide-board", "ingest", run, "--schema", SCHEMA, "--progress", cwd=tmp_path, env=env
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) == {"package_id", "manifest_digest", "file_count", "reused_existing"}
    assert result["manifest_digest"] == str(
        scan_run_directory(run).manifest("guide-board.run.v1").digest()
    )
    assert "files" in done.stderr  # the progress line went to stderr
    quiet = cli("guide-board", "ingest", run, "--schema", SCHEMA, cwd=tmp_path, env=env)
    assert quiet.stderr == ""  # stderr is not a terminal here, so no progress without --progress
    assert json.loads(quiet.stdout) == {**result, "reused_existing": True}


def test_unreachable_service_is_exit_4_with_one_line_of_advice(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    run = make_run(tmp_path / "run")
    env = {"ARTIFACTSTORE_API_URL": url}
    done = cli("guide-board", "ingest", run, "--schema", SCHEMA, cwd=tmp_path, env=env)
    assert (done.returncode, done.stdout) == (4, "")
    assert done.stderr.startswith(
        f"error: cannot reach artifact-store at {url}: start it with `make dev` or set "
        "ARTIFACTSTORE_API_URL"
    )
    assert done.stderr.count("\n") == 1


def test_wrong_token_is_exit_2(served: tuple[FakeApi, dict[str, str]], tmp_path: Path) -> None:
    _api, env = served
    done = cli("packages", "list", cwd=tmp_path, env={**env, "ARTIFACTSTORE_API_TOKEN": "nope"})
    assert (done.returncode, done.stdout) == (2, "")
    assert "ARTIFACTSTORE_API_TOKEN" in done.stderr


def test_unknown_package_is_exit_3(served: tuple[FakeApi, dict[str, str]], tmp_path: Path) -> None:
    _api, env = served
    done = cli("manifest", "no-such-package", cwd=tmp_path, env=env)
    assert (done.returncode, done.stdout) == (3, "")
    assert done.stderr.count("\n") == 1


def test_manifest_raw_and_cat_and_packages(
    served: tuple[FakeApi, dict[str, str]], tmp_path: Path
) -> None:
    api, env = served
    run = make_run(tmp_path / "run")
    ingested = cli("guide-board", "ingest", run, "--schema", SCHEMA, cwd=tmp_path, env=env)
    package_id = json.loads(ingested.stdout)["package_id"]
    raw = subprocess.run(
        [str(CLI), "manifest", package_id, "--raw"],
        cwd=tmp_path,
        env={**os.environ, **env},
        capture_output=True,
        timeout=60,
    )
    assert raw.stdout == api.packages[package_id].manifest.canonical_bytes()
    pretty = cli("manifest", package_id, cwd=tmp_path, env=env)
    assert json.loads(pretty.stdout) == json.loads(raw.stdout)
    cat = cli("cat", package_id, "tools/rerun.sh", cwd=tmp_path, env=env)
    assert cat.stdout == (run / "tools" / "rerun.sh").read_text()
    listed = cli("packages", "list", "--json", cwd=tmp_path, env=env)
    assert [i["package_id"] for i in json.loads(listed.stdout)["items"]] == [package_id]
    table = cli("packages", "show", package_id, cwd=tmp_path, env=env)
    assert table.returncode == 0 and "sealed" in table.stdout


def write_manifest(run: Path, target: Path) -> Path:
    target.write_bytes(scan_run_directory(run).manifest("guide-board.run.v1").canonical_bytes())
    return target


def test_verify_with_a_manifest_file(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    manifest = write_manifest(run, tmp_path / "manifest.json")
    assert cli("verify", run, "--manifest", manifest, cwd=tmp_path).returncode == 0

    (run / "logs" / "run.log").write_bytes(b"line ONE\nline two\n")  # same size, other bytes
    (run / "logs" / "copy.log").unlink()
    (run / "extra.txt").write_bytes(b"")
    done = cli("verify", run, "--manifest", manifest, "--json", cwd=tmp_path)
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["ok"] is False
    assert [c["path"] for c in report["changed"]] == ["logs/run.log"]
    assert (report["missing"], report["extra"]) == (["logs/copy.log"], ["extra.txt"])
    assert done.stderr.splitlines() == [
        f"changed: logs/run.log ({report['changed'][0]['reason']})",
        "missing: logs/copy.log",
        "extra: extra.txt",
    ]


def test_verify_needs_exactly_one_source(tmp_path: Path) -> None:
    assert cli("verify", tmp_path, cwd=tmp_path).returncode == 2
    both = cli("verify", tmp_path, "--package", "p", "--manifest", "m", cwd=tmp_path)
    assert both.returncode == 2


def test_compare_sees_modes_symlinks_and_nfc_names(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    nfc = unicodedata.normalize("NFC", "café.txt")
    (run / unicodedata.normalize("NFD", "café.txt")).write_bytes(b"x")  # stored decomposed
    files = scan_run_directory(run).hash()
    assert nfc in {f.path for f in files}
    assert compare(run, files).ok

    (run / "tools" / "rerun.sh").chmod(0o644)
    (run / "run.json").rename(run / "elsewhere")
    (run / "run.json").symlink_to(run / "elsewhere")
    (run / os.fsdecode(b"bad-\xff")).write_bytes(b"")
    report = compare(run, files)
    assert report.changed == [
        {"path": "run.json", "reason": "is a symlink"},
        {"path": "tools/rerun.sh", "reason": "mode: expected executable"},
    ]
    assert report.missing == []
    assert report.extra == ["b'bad-\\xff'", "elsewhere"]
