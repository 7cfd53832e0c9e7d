"""Downloads read a plan a page at a time and then storage only: no API request per file
(issue 17.2). The real executable against the in-memory fake API."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.cli_fake_api import TOKEN, FakeApi, serve
from tests.unit.test_cli_client_flows import SCHEMA, make_run
from tests.unit.test_cli_commands import cli


@pytest.fixture
def served() -> Iterator[tuple[FakeApi, dict[str, str]]]:
    api = FakeApi()
    with serve(api) as url:
        yield api, {"ARTIFACTSTORE_API_URL": url, "ARTIFACTSTORE_API_TOKEN": TOKEN}


def _ingested(api: FakeApi, env: dict[str, str], tmp_path: Path) -> tuple[Path, str]:
    run = make_run(tmp_path / "run")
    done = cli("guide-board", "ingest", run, "--schema", SCHEMA, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    api.requests.clear()
    return run, str(json.loads(done.stdout)["package_id"])


def _api_requests(api: FakeApi) -> list[str]:
    return [path for _method, path in api.requests if not path.startswith("/_storage/")]


def test_a_download_asks_the_api_once_per_plan_page_and_never_per_file(
    served: tuple[FakeApi, dict[str, str]], tmp_path: Path
) -> None:
    api, env = served
    run, package_id = _ingested(api, env, tmp_path)
    files = sorted(api.packages[package_id].manifest.files, key=lambda f: f.path)
    api.plan_page = 2  # pages end inside the package: every boundary is crossed
    dest = tmp_path / "dest"
    done = cli("download", package_id, dest, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert subprocess.run(["diff", "-r", str(run), str(dest)]).returncode == 0
    requests = _api_requests(api)
    assert [p for p in requests if "/files/" in p] == []
    pages = -(-len(files) // 2)
    assert requests.count(f"/packages/{package_id}/download-plan") == pages
    assert len(requests) == pages + 2  # and the record and manifest it verifies


def test_a_partial_download_plans_and_reads_only_what_its_globs_select(
    served: tuple[FakeApi, dict[str, str]], tmp_path: Path
) -> None:
    api, env = served
    run, package_id = _ingested(api, env, tmp_path)
    dest = tmp_path / "dest"
    done = cli("download", package_id, dest, "--include", "tools/*", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()) == [
        "tools/rerun.sh"
    ]
    assert (dest / "tools" / "rerun.sh").read_bytes() == (run / "tools" / "rerun.sh").read_bytes()
    reads = [p for _m, p in api.requests if p.startswith("/_storage/blob/")]
    wanted = next(f for f in api.packages[package_id].manifest.files if f.path == "tools/rerun.sh")
    assert reads == [f"/_storage/blob/{wanted.digest.hex}"]


def test_cat_reads_storage_through_the_plan(
    served: tuple[FakeApi, dict[str, str]], tmp_path: Path
) -> None:
    api, env = served
    run, package_id = _ingested(api, env, tmp_path)
    cat = cli("cat", package_id, "tools/rerun.sh", cwd=tmp_path, env=env)
    assert cat.stdout == (run / "tools" / "rerun.sh").read_text()
    assert [p for p in _api_requests(api) if "/files/" in p] == []


def test_a_plan_that_disagrees_with_the_manifest_stops_the_download_before_writing(
    served: tuple[FakeApi, dict[str, str]], tmp_path: Path
) -> None:
    api, env = served
    _run, package_id = _ingested(api, env, tmp_path)
    api.plan_lies["tools/rerun.sh"] = "blake3:" + "0" * 64
    dest = tmp_path / "dest"
    done = cli("download", package_id, dest, cwd=tmp_path, env=env)
    assert done.returncode == 1
    assert "does not" in done.stderr and "tools/rerun.sh" in done.stderr
    assert not (dest / "tools" / "rerun.sh").exists()
