"""The layers' Makefiles (what ``sam build`` runs) ship a ``.pyc`` for every module, used as is."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# PEP 552 header flags: bit 0 = hash-based, bit 1 = check the source. Unchecked hash: 0b01.
UNCHECKED_HASH = 0b01


def _make(makefile: Path, target: str, artifacts: Path, *extra: str) -> Path:
    env = {**os.environ, "PIP_NO_INDEX": "1"}  # the tests' wheels are local: no index, no network
    subprocess.run(
        ["make", "--silent", "-f", str(makefile), target, f"ARTIFACTS_DIR={artifacts}",
         f"PYTHON={sys.executable}", *extra],
        check=True, capture_output=True, env=env, cwd=makefile.parent,
    )  # fmt: skip
    return artifacts / "python"


def _pyc_flags(layer: Path) -> dict[str, int]:
    """Each ``.py`` under ``layer`` (relative name) and its cached ``.pyc``'s header flags."""
    flags = {}
    for source in layer.rglob("*.py"):
        cached = source.parent / "__pycache__" / f"{source.stem}.{sys.implementation.cache_tag}.pyc"
        flags[str(source.relative_to(layer))] = (
            int.from_bytes(cached.read_bytes()[4:8], "little") if cached.exists() else -1
        )
    return flags


def _digest(data: bytes) -> str:
    """A wheel RECORD's hash: urlsafe base64 of the SHA-256, unpadded."""
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _wheel(folder: Path) -> Path:
    """A minimal pure-Python wheel (``tinypkg``), so the dependencies recipe runs offline."""
    path = folder / "tinypkg-1.0-py3-none-any.whl"
    files = {
        "tinypkg/__init__.py": b"VALUE = 'from source'\n",
        "tinypkg-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: tinypkg\nVersion: 1.0\n",
        "tinypkg-1.0.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = [f"{name},sha256={_digest(data)},{len(data)}" for name, data in files.items()]
    record.append("tinypkg-1.0.dist-info/RECORD,,")
    files["tinypkg-1.0.dist-info/RECORD"] = "".join(f"{line}\n" for line in record).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def test_code_layer_ships_an_unchecked_pyc_for_every_module(tmp_path: Path) -> None:
    layer = _make(ROOT / "src" / "Makefile", "build-ArtifactstoreLayer", tmp_path)
    flags = _pyc_flags(layer)
    assert "artifactstore/service/factory.py" in flags
    assert {name for name, flag in flags.items() if flag != UNCHECKED_HASH} == set()


def test_code_layer_pyc_is_used_whatever_the_source_mtime(tmp_path: Path) -> None:
    # Lambda unzips layers with 2-second mtimes into a read-only /opt: a timestamp-checked .pyc
    # would be recompiled at every cold start. An unchecked one is used even if the source moved.
    layer = _make(ROOT / "src" / "Makefile", "build-ArtifactstoreLayer", tmp_path)
    source = layer / "artifactstore" / "errors.py"
    source.write_text("raise SystemExit('compiled from source')\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-B", "-c", "import artifactstore.errors as e; print(e.__name__)"],
        env={**os.environ, "PYTHONPATH": str(layer)}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stdout.strip()) == (0, "artifactstore.errors"), done.stderr


def test_dependencies_layer_recipe_installs_and_compiles(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"{_wheel(tmp_path)}\n", encoding="utf-8")
    layer = _make(
        ROOT / "layers" / "deps" / "Makefile",
        "build-DependenciesLayer",
        tmp_path / "artifacts",
        f"REQUIREMENTS={requirements}",
    )
    assert _pyc_flags(layer) == {"tinypkg/__init__.py": UNCHECKED_HASH}
    assert not (layer / "bin").exists()
