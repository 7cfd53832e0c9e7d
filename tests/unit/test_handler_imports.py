"""What importing each Lambda handler module loads (its cold start), in a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
_PROBE = """
import importlib.util as u, json, sys
spec = u.spec_from_file_location("app", sys.argv[1])
module = u.module_from_spec(spec)
spec.loader.exec_module(module)
patcher = sys.modules.get("aws_xray_sdk.core.patcher")
patched = sorted(patcher._PATCHED_MODULES) if patcher else None
print(json.dumps({"modules": sorted(sys.modules), "patched": patched}))
"""


def _import(handler: str, *, tracing: bool, tmp_path: Path) -> dict[str, Any]:
    """Import ``functions/<handler>/app.py`` as Lambda would; the loaded and the patched modules."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": handler,
        "LAMBDA_TASK_ROOT": str(tmp_path),
        "POWERTOOLS_TRACE_DISABLED": "false" if tracing else "true",
    }
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(ROOT / "functions" / handler / "app.py")],
        env=env, cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    loaded: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return loaded


@pytest.mark.parametrize("handler", ["api", "linker", "verifier"])
def test_disabled_tracing_never_imports_the_xray_sdk(handler: str, tmp_path: Path) -> None:
    loaded = _import(handler, tracing=False, tmp_path=tmp_path)
    assert loaded["patched"] is None
    assert "aws_xray_sdk.core" not in loaded["modules"]


def test_verifier_skips_what_only_the_api_and_the_linker_need(tmp_path: Path) -> None:
    modules = set(_import("verifier", tracing=False, tmp_path=tmp_path)["modules"])
    assert {"jsonschema", "fastapi", "httpx", "mangum"} & modules == set()


@pytest.mark.parametrize(
    ("handler", "patched"),
    [("api", ["botocore"]), ("verifier", ["botocore"]), ("linker", ["botocore", "httpx"])],
)
def test_tracing_patches_only_the_clients_a_handler_calls(
    handler: str, patched: list[str], tmp_path: Path
) -> None:
    loaded = _import(handler, tracing=True, tmp_path=tmp_path)
    assert loaded["patched"] == patched
    # patch_all would have imported these (and sqlite3 for an SQL driver patch) too.
    assert {"sqlite3", "requests"} & set(loaded["modules"]) == set()
