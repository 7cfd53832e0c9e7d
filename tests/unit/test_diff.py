"""Diffing manifests (domain/diff.py) and ``artifactstore diff`` against the fake API."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from artifactstore.domain.diff import diff_manifests, diff_metadata
from artifactstore.domain.digests import Digest
from tests.unit.cli_fake_api import FakeApi
from tests.unit.test_cli_client_flows import SCHEMA, make_run
from tests.unit.test_cli_commands import cli, served  # noqa: F401  (a fixture)


def entry(path: str, data: bytes, executable: bool = False) -> dict[str, Any]:
    e: dict[str, Any] = {"path": path, "size": len(data), "digest": str(Digest.of_bytes(data))}
    if executable:
        e["executable"] = True
    return e


def manifest(files: list[dict[str, Any]], metadata: Any, schema: str = "s.v1") -> dict[str, Any]:
    return {
        "manifest_version": 1,
        "producer": "p",
        "idempotency_key": "k",
        "schema": schema,
        "metadata": metadata,
        "files": files,
    }


def test_files_added_removed_changed_and_mode() -> None:
    old = manifest(
        [
            entry("a.txt", b"a"),
            entry("gone.log", b"gone"),
            entry("logs/run.log", b"one\n"),
            entry("tool.sh", b"#!"),
            entry("same", b"same"),
        ],
        {},
    )
    new = manifest(
        [
            entry("a.txt", b"a"),
            entry("logs/run.log", b"one\ntwo\n"),
            entry("new/b.bin", b"\x00\x01"),
            entry("same", b"same"),
            entry("tool.sh", b"#!", executable=True),
        ],
        {},
    )
    result = diff_manifests(old, new)
    view = result.to_json()
    assert view["added"] == [entry("new/b.bin", b"\x00\x01")]
    assert view["removed"] == [entry("gone.log", b"gone")]
    assert view["changed"] == [
        {
            "path": "logs/run.log",
            "from": {"size": 4, "digest": str(Digest.of_bytes(b"one\n"))},
            "to": {"size": 8, "digest": str(Digest.of_bytes(b"one\ntwo\n"))},
            "size_delta": 4,
        }
    ]
    assert [c["path"] for c in view["mode_changed"]] == ["tool.sh"]
    assert view["mode_changed"][0]["to"]["executable"] is True
    assert view["metadata"] == [] and view["schema"] is None
    assert view["size_delta"] == (1 + 8 + 2 + 4 + 2) - (1 + 4 + 4 + 2 + 4)
    assert view["summary"]["unchanged"] == 2
    assert view["same"] is False and result.same is False


def test_identical_manifests_are_the_same() -> None:
    files = [entry("x", b"x"), entry("y/z", b"z")]
    result = diff_manifests(manifest(files, {"a": {"b": 1}}), manifest(files, {"a": {"b": 1}}))
    assert result.same
    assert result.to_json()["summary"]["unchanged"] == 2
    assert result.size_delta == 0


def test_outputs_sorted_by_utf8_bytes() -> None:
    names = ["\uff41", "b", "a/\u00e9", "a/z", "B"]
    result = diff_manifests(manifest([], {}), manifest([entry(n, b"") for n in names], {}))
    assert [f.path for f in result.added] == sorted(names, key=lambda n: n.encode())


def test_metadata_pointers_nested_added_removed() -> None:
    old = {
        "run_id": "r1",
        "result": {"status": "failed", "counts": {"ok": 1}},
        "gone": True,
        "a/b": 1,
        "list": [1, 2],
        "num": 1,
        "flag": 1,
    }
    new = {
        "run_id": "r2",
        "result": {"status": "passed", "counts": {"ok": 1}, "new": None},
        "a/b": 2,
        "list": [1, 2, 3],
        "num": 1.0,
        "flag": True,
    }
    changes = [c.to_json() for c in diff_metadata(old, new)]
    assert changes == [
        {"pointer": "/a~1b", "change": "changed", "from": 1, "to": 2},
        {"pointer": "/flag", "change": "changed", "from": 1, "to": True},
        {"pointer": "/gone", "change": "removed", "from": True},
        {"pointer": "/list", "change": "changed", "from": [1, 2], "to": [1, 2, 3]},
        {"pointer": "/result/new", "change": "added", "to": None},
        {"pointer": "/result/status", "change": "changed", "from": "failed", "to": "passed"},
        {"pointer": "/run_id", "change": "changed", "from": "r1", "to": "r2"},
    ]


def test_object_replaced_by_scalar_and_schema_change() -> None:
    result = diff_manifests(manifest([], {"x": {"y": 1}}), manifest([], {"x": 3}, schema="s.v2"))
    view = result.to_json()
    assert view["metadata"] == [{"pointer": "/x", "change": "changed", "from": {"y": 1}, "to": 3}]
    assert view["schema"] == {"from": "s.v1", "to": "s.v2"}
    assert not result.same


def test_large_diff_is_linear() -> None:
    files = [entry(f"f/{i:06d}", str(i).encode()) for i in range(100_000)]
    moved = [*files[1:], entry("f/new", b"new")]
    result = diff_manifests(manifest(files, {}), manifest(moved, {}))
    assert [f.path for f in result.removed] == ["f/000000"]
    assert [f.path for f in result.added] == ["f/new"]
    assert result.unchanged == 99_999


# --- the CLI, against the fake API over HTTP ---------------------------------------------


def ingest(env: dict[str, str], tmp_path: Path, run: Path) -> str:
    done = cli("guide-board", "ingest", run, "--schema", SCHEMA, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    package_id: str = json.loads(done.stdout)["package_id"]
    return package_id


@pytest.fixture
def two_runs(
    served: tuple[FakeApi, dict[str, str]],  # noqa: F811
    tmp_path: Path,
) -> tuple[dict[str, str], str, str, str]:
    _api, env = served
    first = make_run(tmp_path / "r1", "run-1")
    second = make_run(tmp_path / "r2", "run-2")
    (second / "logs" / "run.log").write_bytes(b"line one\nline two\nline three\n")
    (second / "logs" / "copy.log").unlink()
    (second / "report.html").write_bytes(b"<p>report</p>")
    same = make_run(tmp_path / "r1-again", "run-1b")
    # The same files; only run_id in the metadata differs.
    return (
        env,
        ingest(env, tmp_path, first),
        ingest(env, tmp_path, second),
        ingest(env, tmp_path, same),
    )


def test_cli_diff_json_and_exit_codes(
    two_runs: tuple[dict[str, str], str, str, str], tmp_path: Path
) -> None:
    env, first, second, again = two_runs
    rerun = cli("diff", first, again, cwd=tmp_path, env=env)
    assert rerun.returncode == 1, rerun.stderr
    rerun_view = json.loads(rerun.stdout)
    assert [c["path"] for c in rerun_view["changed"]] == ["run.json"]
    assert [m["pointer"] for m in rerun_view["metadata"]] == ["/run_id"]
    assert rerun_view["added"] == rerun_view["removed"] == []
    done = cli("diff", first, second, cwd=tmp_path, env=env)
    assert done.returncode == 1, done.stderr
    view = json.loads(done.stdout)
    assert {"added", "removed", "changed", "metadata"} <= set(view)
    assert [f["path"] for f in view["added"]] == ["report.html"]
    assert [f["path"] for f in view["removed"]] == ["logs/copy.log"]
    assert [c["path"] for c in view["changed"]] == ["logs/run.log", "run.json"]
    assert {"size", "digest"} <= set(view["changed"][0]["from"])
    assert {"pointer": "/run_id", "change": "changed", "from": "run-1", "to": "run-2"} in view[
        "metadata"
    ]
    assert view["from"]["package_id"] == first and view["to"]["package_id"] == second
    same = cli("diff", first, first, cwd=tmp_path, env=env)
    assert same.returncode == 0 and json.loads(same.stdout)["same"] is True


def test_cli_diff_stat(two_runs: tuple[dict[str, str], str, str, str], tmp_path: Path) -> None:
    env, first, second, _ = two_runs
    done = cli("diff", "--stat", first, second, cwd=tmp_path, env=env)
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert "A  report.html  (13 bytes)" in lines
    assert "D  logs/copy.log  (18 bytes)" in lines
    assert "M  logs/run.log  (18 -> 29 bytes, +11)" in lines
    assert lines[2:5] == ["A  report.html  (13 bytes)", "D  logs/copy.log  (18 bytes)", lines[4]]
    assert '~  metadata /run_id  "run-1" -> "run-2"' in lines
    assert lines[-1].startswith("1 added, 1 removed, 2 changed, 0 mode changed")


def test_cli_diff_trouble_is_2(
    two_runs: tuple[dict[str, str], str, str, str], tmp_path: Path
) -> None:
    env, first, _, _ = two_runs
    missing = cli("diff", first, "no-such-package", cwd=tmp_path, env=env)
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr.startswith("error: ")
    bad_token = cli("diff", first, first, cwd=tmp_path, env={**env, "ARTIFACTSTORE_API_TOKEN": "x"})
    assert bad_token.returncode == 2
    offline = {**env, "ARTIFACTSTORE_API_URL": "http://127.0.0.1:9"}
    assert cli("diff", first, first, cwd=tmp_path, env=offline).returncode == 2
    assert os.environ.get("ARTIFACTSTORE_API_TOKEN") != "x"
