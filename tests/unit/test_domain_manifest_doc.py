"""The check in docs/manifest.md works as written: b3sum and a JCS serializer, nothing of ours."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.domain_vectors import RunVector, rich_vector

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "manifest.md"

pytestmark = pytest.mark.skipif(shutil.which("b3sum") is None, reason="b3sum is not installed")


def doc_block(name: str) -> str:
    """The bash block between ``<!-- tested: NAME-start -->`` and ``NAME-end`` in the doc."""
    text = DOC.read_text(encoding="utf-8")
    found = re.search(
        rf"<!-- tested: {name}-start -->\n```bash\n(.*?)```\n<!-- tested: {name}-end -->",
        text,
        re.DOTALL,
    )
    assert found, f"block {name!r} not found in {DOC}"
    return found.group(1)


def run(argv: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run with the virtualenv first on PATH (artifactstore, and python3 with rfc8785)."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return subprocess.run(
        argv,
        cwd=cwd,
        env={**os.environ, "PATH": path, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def download(vector: RunVector, target: Path) -> Path:
    """The package's files under their manifest paths, as a download lays them out."""
    target.mkdir()
    (target / "run.json").write_bytes(vector.run_json_bytes())
    for path, data, mode in vector.files.values():
        (target / path).parent.mkdir(parents=True, exist_ok=True)
        (target / path).write_bytes(data)
        (target / path).chmod(mode)
    return target


@pytest.fixture
def checked(tmp_path: Path) -> tuple[Path, str, Path]:
    """Runs the doc's input block on a rich run; returns (manifest.json, digest, files dir)."""
    vector = rich_vector()
    run_dir = vector.write(tmp_path / "run")
    work = tmp_path / "work"
    work.mkdir()
    inputs = doc_block("inputs") + 'printf "%s" "$DIGEST" > digest.txt\n'

    result = run(["bash", "-euo", "pipefail", "-c", inputs], cwd=work, RUN_DIR=str(run_dir))

    assert result.returncode == 0, result.stderr
    digest = (work / "digest.txt").read_text()
    assert digest == vector.expected_digest()
    (work / "check-package.sh").write_text(doc_block("check"))
    return work / "manifest.json", digest, download(vector, tmp_path / "download")


def check(manifest: Path, digest: str, files: Path) -> subprocess.CompletedProcess[str]:
    """Run the doc's check-package.sh as the doc says."""
    script = manifest.parent / "check-package.sh"
    return run(["bash", str(script), str(manifest), digest, str(files)], cwd=manifest.parent)


def test_untouched_package_passes(checked: tuple[Path, str, Path]) -> None:
    manifest, digest, files = checked

    result = check(manifest, digest, files)

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"package OK: {digest} (12 files)\n"


def test_one_changed_byte_fails(checked: tuple[Path, str, Path]) -> None:
    manifest, digest, files = checked
    log = files / "logs" / "run.log"
    data = bytearray(log.read_bytes())
    data[123456] ^= 1
    log.write_bytes(bytes(data))

    result = check(manifest, digest, files)

    assert result.returncode != 0
    assert "logs/run.log: FAILED" in result.stdout + result.stderr


def test_changed_manifest_fails(checked: tuple[Path, str, Path]) -> None:
    manifest, digest, files = checked
    manifest.write_text(manifest.read_text().replace('"passed"', '"failed"', 1))

    result = check(manifest, digest, files)

    assert result.returncode == 1
    assert f"expected {digest}" in result.stderr


def test_unlisted_file_fails(checked: tuple[Path, str, Path]) -> None:
    manifest, digest, files = checked
    (files / ".guide-board" / "stray").write_bytes(b"")

    result = check(manifest, digest, files)

    assert result.returncode == 1
    assert "13 files present, 12 listed" in result.stderr
