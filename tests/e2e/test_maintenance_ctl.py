"""``python -m localdev.ctl maintenance --as-of`` against a running stack (issue 18.4).

A stack of its own: moving the clock expires every ephemeral package in it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.e2e.conftest import ROOT, Stack, running_stack
from tests.e2e.test_cli_e2e import ingest, make_run


@pytest.fixture
def own_stack(tmp_path: Path) -> Iterator[Stack]:
    with running_stack(tmp_path / "localdev") as started:
        yield started


def _ctl(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "localdev.ctl", *args],
        cwd=ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _status(url: str) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(url, headers={"Authorization": "Bearer dev-token"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_round_as_of_a_later_time_expires_and_reclaims_and_prints_its_figures(
    own_stack: Stack, tmp_path: Path
) -> None:
    run = make_run(tmp_path / "run")
    kept = ingest(own_stack, make_run(tmp_path / "kept"), "--retention-class", "release-evidence")
    package = ingest(own_stack, run, "--retention-class", "ephemeral")
    package_id = str(package["package_id"])

    now = _ctl(own_stack, "maintenance")
    assert now.returncode == 0, now.stderr
    figures = json.loads(now.stdout)
    assert (figures["packages_expired"], figures["blobs_deleted"]) == (0, 0)

    later = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    done = _ctl(own_stack, "maintenance", "--as-of", later.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)  # the whole of stdout is one JSON object
    assert figures["as_of"] == later.isoformat()
    assert figures["packages_expired"] == 1
    assert figures["blobs_deleted"] == 5  # six files, two with the same bytes
    assert figures["bytes_reclaimed"] > 0 and figures["finished"] is True

    status, view = _status(f"{own_stack.api_url}/packages/{package_id}")
    assert (status, view["state"]) == (200, "expired")
    status, error = _status(f"{own_stack.api_url}/packages/{package_id}/files/run.json")
    assert status == 410 and error["error"]["code"] == "package_expired"  # type: ignore[index]
    # The release-evidence package is untouched and still verifies.
    dest = tmp_path / "dest"
    assert own_stack.cli("download", str(kept["package_id"]), dest).returncode == 0
    assert own_stack.cli("verify", dest, "--package", str(kept["package_id"])).returncode == 0
    # The run can be ingested again: a new package under the same run id.
    again = ingest(own_stack, run, "--retention-class", "ephemeral")
    assert again["package_id"] != package_id and again["reused_existing"] is False


def test_bad_times_and_a_stopped_stack_are_refused_plainly(tmp_path: Path) -> None:
    env = {"ARTIFACTSTORE_LOCALDEV_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    for bad in ("tomorrow", "2027-01-01T00:00:00"):
        done = subprocess.run(
            [sys.executable, "-m", "localdev.ctl", "maintenance", "--as-of", bad],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 2 and "--as-of" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "localdev.ctl", "maintenance"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 3 and "make dev is not running" in done.stderr
