"""``make smoke`` against the local stack, as CI runs it and as docs/deploy.md says to after a
deploy: the pilot guide end to end through the real CLI, the EventBridge link included."""

from __future__ import annotations

import subprocess

from tests.e2e.conftest import ROOT, Stack


def test_make_smoke_passes_against_the_local_stack(stack: Stack) -> None:
    done = subprocess.run(
        ["make", "--no-print-directory", "smoke", "SMOKE_ARGS=--link-timeout 90"],
        cwd=ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    steps = [line.split(":")[0] for line in lines if line.startswith("ok ")]
    assert steps[2].startswith("ok 3. ingest smoke-"), steps
    assert steps[:2] + steps[3:] == [
        "ok 1. health",
        "ok 2. schema registered",
        "ok 4. ingest again",
        "ok 5. manifest",
        "ok 6. download and verify",
        "ok 7. State Hub",
    ], done.stdout
    assert "sealed, linked (State Hub 20" in lines[-2]
    assert lines[-1] == "smoke test passed"


def test_smoke_fails_loudly_with_a_wrong_token(stack: Stack) -> None:
    done = subprocess.run(
        ["make", "--no-print-directory", "smoke", "SMOKE_ARGS=--no-link --big-mib 0"],
        cwd=ROOT,
        env={**stack.env, "ARTIFACTSTORE_API_TOKEN": "not-a-token"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode != 0
    assert "ok 1. health" in done.stdout
    assert "ok 2." not in done.stdout
    assert (
        "FAILED: `" in done.stderr and "register-guide-board-schema.py` exited with" in done.stderr
    )
