#!/usr/bin/env python3
"""Smoke test for any deployment: the pilot guide end to end against $ARTIFACTSTORE_API_URL.

    make smoke                                   # or: .venv/bin/python scripts/smoke.py
    ARTIFACTSTORE_API_URL=https://….execute-api….amazonaws.com ARTIFACTSTORE_API_TOKEN=… make smoke

Steps, each timed and checked; the first failure stops the run with exit code 1:
  1. GET /health answers.
  2. The guide-board schema is registered (scripts/register-guide-board-schema.py; safe again).
  3. A generated guide-board run (a unique run_id, small files, a hidden folder, an executable,
     one file of --big-mib MiB) is ingested with the real CLI; its manifest digest is the one
     `guide-board manifest` computes offline.
  4. The same run again: `reused_existing: true`.
  5. `artifactstore manifest` prints bytes that hash to that digest.
  6. `artifactstore download` then `artifactstore verify` on what it wrote.
  7. The package is sealed and (unless --no-link) State Hub's link is recorded on it by the
     EventBridge linker within --link-timeout seconds; with STATE_HUB_URL set, the pilot's
     `scripts/link-guide-board-package.py` posts its own artifact_link too.

Environment: ARTIFACTSTORE_API_URL, ARTIFACTSTORE_API_TOKEN (a write token covering
guide-board; admin to register the schema the first time), optionally STATE_HUB_URL,
STATE_HUB_WORKSTREAM_ID, STATE_HUB_TASK_ID for step 7's script. The run is stored as
`--retention-class` (default `ephemeral`, so a smoke run against production expires).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SCHEMA = "schemas/guide-board.run.v1.json"


class SmokeFailed(RuntimeError):
    """A step did not do what the pilot guide says."""


class Smoke:
    """One smoke run: the API to reach, a temp folder, and a numbered step log."""

    def __init__(self, work: Path, args: argparse.Namespace) -> None:
        self.work = work
        self.args = args
        self.api_url = os.environ.get("ARTIFACTSTORE_API_URL", "http://127.0.0.1:8000").rstrip("/")
        token = os.environ.get("ARTIFACTSTORE_API_TOKEN")
        if not token:
            raise SmokeFailed("ARTIFACTSTORE_API_TOKEN is not set")
        self.token = token
        self.env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        self.step = 0

    def check(self, title: str, action: Callable[[], str]) -> None:
        """Run one step; print its number, title, what it found and how long it took."""
        self.step += 1
        start = time.monotonic()
        found = action()
        print(f"ok {self.step}. {title}: {found} ({time.monotonic() - start:.1f} s)", flush=True)

    def run(self, *command: str | Path, env: dict[str, str] | None = None) -> str:
        """A command from the checkout; its stdout, or ``SmokeFailed`` with its output."""
        done = subprocess.run(
            [str(part) for part in command],
            cwd=ROOT,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=self.args.timeout,
            check=False,
        )
        if done.returncode != 0:
            shown = " ".join(str(part) for part in command)
            raise SmokeFailed(f"`{shown}` exited with {done.returncode}:\n{done.stderr}")
        return done.stdout

    def get(self, path: str, *, auth: bool = True) -> Any:
        """GET a JSON answer from the API."""
        headers = {"Authorization": f"Bearer {self.token}"} if auth else {}
        request = urllib.request.Request(self.api_url + path, headers=headers)  # noqa: S310
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - the user's API
            return json.loads(answer.read())


def build_run(root: Path, big_mib: int) -> str:
    """A finalized guide-board run with a unique run id; returns the run id."""
    run_id = f"smoke-{uuid.uuid4()}"
    (root / "logs").mkdir(parents=True)
    (root / ".guide-board").mkdir()
    (root / "tools").mkdir()
    (root / "run.json").write_text(
        json.dumps(
            {
                "run_id": run_id,
                "target_profile_ref": "smoke-target",
                "assessment_profile_ref": "smoke-assessment",
                "result_status": "passed",
                "summary": {"checks": 3, "failed": 0},
            }
        )
    )
    (root / ".guide-board" / "state.json").write_text('{"phase": "finalized"}\n')
    for i in range(20):
        (root / "logs" / f"step-{i:02}.log").write_text(f"{run_id} step {i}\n" * (i + 1))
    (root / "logs" / "empty.log").write_bytes(b"")
    tool = root / "tools" / "rerun.sh"
    tool.write_text("#!/bin/sh\necho rerun\n")
    tool.chmod(0o755)
    if big_mib:
        (root / "capture.bin").write_bytes(os.urandom(big_mib * 2**20))
    return run_id


class PilotSteps:
    """The pilot guide's steps against one API, sharing the run and the ingest result."""

    def __init__(self, s: Smoke) -> None:
        self.s = s
        self.run = s.work / "run"
        self.run_id = build_run(self.run, s.args.big_mib)
        self.result: dict[str, Any] = {}
        self.ingest = [
            BIN / "artifactstore",
            "guide-board",
            "ingest",
            self.run,
            "--schema",
            SCHEMA,
            "--retention-class",
            s.args.retention_class,
        ]

    def health(self) -> str:
        """GET /health answers."""
        return str(self.s.get("/health", auth=False).get("status", "answered"))

    def schema(self) -> str:
        """The pilot's registration script (safe to run again)."""
        return self.s.run(sys.executable, "scripts/register-guide-board-schema.py").splitlines()[0]

    def first_ingest(self) -> str:
        """Ingest; the stored digest is the offline one."""
        offline = json.loads(self.s.run(BIN / "artifactstore", "guide-board", "manifest", self.run))
        result = self.result
        result.update(json.loads(self.s.run(*self.ingest)))
        if result["manifest_digest"] != offline["manifest_digest"]:
            raise SmokeFailed(f"stored {result['manifest_digest']}, offline {offline}")
        if result["file_count"] != offline["file_count"] or result["reused_existing"]:
            raise SmokeFailed(f"unexpected ingest result {result}")
        (self.s.work / "ingest.json").write_text(json.dumps(result))
        return f"{result['package_id']} {result['manifest_digest']} ({result['file_count']} files)"

    def second_ingest(self) -> str:
        """The same run again is the same package, nothing sent."""
        again = json.loads(self.s.run(*self.ingest))
        if not again["reused_existing"] or again["package_id"] != self.result["package_id"]:
            raise SmokeFailed(f"the second ingest made a new package: {again}")
        return "reused_existing: true"

    def manifest(self) -> str:
        """The manifest's exact bytes hash to the package's digest."""
        from blake3 import blake3

        package_id, digest = self.result["package_id"], self.result["manifest_digest"]
        raw = self.s.run(BIN / "artifactstore", "manifest", package_id, "--raw").encode()
        seen = "blake3:" + blake3(raw).hexdigest()
        if seen != digest:
            raise SmokeFailed(f"manifest bytes hash to {seen}, not {digest}")
        return f"{len(raw)} canonical bytes hash to the digest"

    def download_and_verify(self) -> str:
        """Download every file, then verify the folder against the package."""
        dest = self.s.work / "download"
        package_id = self.result["package_id"]
        self.s.run(BIN / "artifactstore", "download", package_id, dest)
        self.s.run(BIN / "artifactstore", "verify", dest, "--package", package_id)
        return f"{sum(1 for p in dest.rglob('*') if p.is_file())} files verified"

    def state_hub(self) -> str:
        """Sealed, and linked by the EventBridge linker; the pilot's link script if configured."""
        link = {} if self.s.args.no_link else self._wait_for_link()
        shown = (
            "sealed" if self.s.args.no_link else f"sealed, linked (State Hub {link['http_status']})"
        )
        if os.environ.get("STATE_HUB_URL"):
            self.s.run(
                sys.executable,
                "scripts/link-guide-board-package.py",
                env={
                    "GUIDE_BOARD_RUN_DIR": str(self.run),
                    "ARTIFACTSTORE_INGEST_RESULT_PATH": str(self.s.work / "ingest.json"),
                },
            )
            shown += "; link script posted"
        return shown

    def _wait_for_link(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.s.args.link_timeout
        while True:
            package = self.s.get(f"/packages/{self.result['package_id']}?files_limit=1")
            if package["state"] != "sealed":
                raise SmokeFailed(f"package is {package['state']}, not sealed")
            link: dict[str, Any] | None = package.get("state_hub_link")
            if link and link.get("status") == "linked":
                return link
            if link:
                hint = " (SMOKE_ARGS=--no-link for a stage without State Hub)"
                raise SmokeFailed(f"the linker did not link the package: {link}{hint}")
            if time.monotonic() > deadline:
                raise SmokeFailed(f"no State Hub link recorded within {self.s.args.link_timeout} s")
            time.sleep(1)


def smoke(s: Smoke) -> None:
    """The pilot guide's steps, each checked."""
    steps = PilotSteps(s)
    s.check("health", steps.health)
    s.check("schema registered", steps.schema)
    s.check(f"ingest {steps.run_id}", steps.first_ingest)
    s.check("ingest again", steps.second_ingest)
    s.check("manifest", steps.manifest)
    s.check("download and verify", steps.download_and_verify)
    s.check("State Hub", steps.state_hub)


def main() -> int:
    """Parse options, run the steps, exit 0 only when every step passed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--retention-class", default="ephemeral")
    parser.add_argument("--big-mib", type=int, default=6, help="size of the one big file")
    parser.add_argument("--no-link", action="store_true", help="do not wait for State Hub")
    parser.add_argument("--link-timeout", type=float, default=60.0)
    parser.add_argument("--timeout", type=float, default=600.0, help="per command")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="artifactstore-smoke-") as work:
        try:
            s = Smoke(Path(work), args)
            print(f"smoke test against {s.api_url}", flush=True)
            smoke(s)
        except (SmokeFailed, OSError, subprocess.TimeoutExpired) as exc:
            print(f"FAILED: {exc}", file=sys.stderr)
            return 1
    print("smoke test passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
