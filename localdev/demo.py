"""``make demo``: the pilot guide end to end on a throw-away local stack, then nothing left running.

Starts ``make dev`` in the background with its state in a temporary folder (a running
``make dev`` of yours and its ``.localdev/`` are never touched: when the guide's ports are taken
the demo uses free ones), builds a realistic guide-board run, and walks the guide: register the
schema, ingest (twice), manifest, download and verify, State Hub link, what State Hub got, the
signed seal (verified with the listed key), and the package's page in the browser (``/ui``); it
ends by printing that page's URL.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from localdev.demo_run import RUN_ID, build_run

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SCHEMA = "schemas/guide-board.run.v1.json"
WORKSTREAM_ID = "701c4d8c-5cf4-4a4a-ab60-1dcae53fe771"  # the pilot guide's
TASK_ID = "bffa3573-4a1f-4c12-8c73-6d55bd8f6297"
GUIDE_PORTS = (8000, 8001, 4566)  # API, State Hub stand-in, moto


class DemoFailed(RuntimeError):
    """A step did not do what the guide says."""


def _free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _any_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ports() -> tuple[int, int, int, str]:
    if all(_free(port) for port in GUIDE_PORTS):
        return (*GUIDE_PORTS, "the guide's ports")
    return _any_port(), _any_port(), _any_port(), "free ports (the guide's are in use)"


class Demo:
    """The demo's temporary world: state, run directory, environment; steps print headings."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.step = 0
        api, hub, aws, self.ports_note = _ports()
        self.api_url = f"http://127.0.0.1:{api}"
        self.state_dir = work / "localdev"
        self.run_dir = work / "guide-board-run"
        self.ingest_json = work / "artifactstore-guide-board-ingest.json"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STATE_HUB_"))}
        env.update(
            PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            ARTIFACTSTORE_LOCALDEV_DIR=str(self.state_dir),
            ARTIFACTSTORE_LOCAL_STORAGE_DIR=str(self.state_dir / "storage"),
            ARTIFACTSTORE_LOCAL_AWS_PORT=str(aws),
            ARTIFACTSTORE_LOCAL_STATEHUB_PORT=str(hub),
            ARTIFACTSTORE_API_URL=self.api_url,
            ARTIFACTSTORE_API_TOKEN="dev-token",  # noqa: S106 - the local stack's token
            ARTIFACTSTORE_STORAGE_BACKEND_ROUTES="*:*=local",
            ARTIFACTSTORE_LOCAL_API_APP="localdev.api_app:create_local_app",
            # the linker (EventBridge path) files its events under the guide's workstream/task
            STATE_HUB_WORKSTREAM_ID=WORKSTREAM_ID,
            STATE_HUB_TASK_ID=TASK_ID,
        )
        self.env = env
        self.started = False

    def heading(self, title: str, shows: str) -> None:
        """Number the step and say what it shows."""
        self.step += 1
        print(f"\n\033[1m== {self.step}. {title}\033[0m\n   {shows}", flush=True)

    def run(
        self, *command: str | Path, env: dict[str, str] | None = None, capture: bool = True
    ) -> str:
        """Run a command from the checkout, echoing it; its stdout (stderr passes through)."""
        shown = " ".join(str(part).replace(str(BIN) + "/", "") for part in command)
        print(f"   $ {shown}", flush=True)
        done = subprocess.run(
            [str(part) for part in command],
            cwd=ROOT,
            env={**self.env, **(env or {})},
            stdout=subprocess.PIPE if capture else None,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            raise DemoFailed(f"`{shown}` exited with code {done.returncode}\n{done.stdout or ''}")
        return done.stdout or ""

    def get(self, path: str) -> Any:
        """GET a JSON answer from the API (with the dev token)."""
        return json.loads(self.get_bytes(path, {"Authorization": "Bearer dev-token"}))

    def get_bytes(self, path: str, headers: dict[str, str]) -> bytes:
        """GET any answer from the stack (a page too), its body."""
        request = urllib.request.Request(self.api_url + path, headers=headers)  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback
            return bytes(answer.read())

    def page_url(self, package_id: str) -> str:
        """The package's page in the browser (``/ui``, docs/ui.md)."""
        return f"{self.api_url}/ui/packages/{package_id}"

    def upload_puts(self, package_id: str) -> int:
        """Upload PUTs storage logged for the package (the local backend logs each one)."""
        log = self.state_dir / "dev.log"
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
        return sum(1 for line in lines if '"PUT ' in line and f"uploads/{package_id}" in line)


def _show(value: Any, indent: str = "   ") -> None:
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
    print("\n".join(indent + line for line in text.rstrip("\n").splitlines()), flush=True)


@contextmanager
def _stack(demo: Demo) -> Iterator[None]:
    demo.heading(
        "Start the local stack in the background",
        f"make dev on {demo.api_url} ({demo.ports_note}), its state in a temporary folder; "
        "the API also answers /progress/ as the State Hub stand-in.",
    )
    demo.run(sys.executable, "-m", "localdev.dev", "--background", "--timeout", "120")
    demo.started = True
    try:
        yield
    finally:
        demo.heading("Stop the stack", "every process the demo started ends; nothing listens.")
        demo.run(sys.executable, "-m", "localdev.dev", "stop", "--timeout", "60")
        demo.started = False
        if not _free(int(demo.api_url.rsplit(":", 1)[1])):
            raise DemoFailed(f"{demo.api_url} still answers after the stop")


def _walk(demo: Demo) -> str:
    """The guide's steps; the package id."""
    cli = BIN / "artifactstore"
    demo.heading("Build a guide-board run", f"a finalized run in {demo.run_dir}:")
    build_run(demo.run_dir)
    for path in sorted(p for p in demo.run_dir.rglob("*") if p.is_file()):
        mode = "x" if os.access(path, os.X_OK) else " "
        print(f"   {mode} {path.stat().st_size:>9}  {path.relative_to(demo.run_dir)}")

    demo.heading(
        "Register the metadata schema", "scripts/register-guide-board-schema.py, run twice."
    )
    _show(demo.run(sys.executable, "scripts/register-guide-board-schema.py"))
    _show(demo.run(sys.executable, "scripts/register-guide-board-schema.py"))

    demo.heading(
        "Ingest the run", "hash, upload what storage lacks (progress on stderr), seal; JSON out."
    )
    out = demo.run(cli, "guide-board", "ingest", demo.run_dir, "--schema", SCHEMA, "--progress")
    demo.ingest_json.write_text(out, encoding="utf-8")
    first = json.loads(out)
    _show(first)
    package_id = str(first["package_id"])
    puts = demo.upload_puts(package_id)
    print(f"   storage received {puts} upload PUTs for package {package_id}")

    demo.heading(
        "Ingest the same run again",
        "idempotent by run_id: the same package back, reused_existing: true, no bytes sent.",
    )
    again = json.loads(
        demo.run(cli, "guide-board", "ingest", demo.run_dir, "--schema", SCHEMA, "--progress")
    )
    _show(again)
    resent = demo.upload_puts(package_id) - puts
    print(f"   upload PUTs during the second ingest: {resent} (0 bytes sent)")
    if not again["reused_existing"] or again["package_id"] != package_id or resent:
        raise DemoFailed("the second ingest did not reuse the stored package")

    demo.heading(
        "The manifest", "artifactstore manifest PACKAGE_ID, and its digest checked independently."
    )
    manifest = json.loads(demo.run(cli, "manifest", package_id))
    shown = {**manifest, "files": [*manifest["files"][:4], "..."]}
    _show(shown)
    raw = demo.run(cli, "manifest", package_id, "--raw").encode("utf-8")
    import blake3

    digest = "blake3:" + blake3.blake3(raw).hexdigest()
    print(f"   blake3(canonical bytes) = {digest}")
    print(f"   ingest manifest_digest  = {first['manifest_digest']}")
    if digest != first["manifest_digest"]:
        raise DemoFailed("the manifest's bytes do not hash to the recorded digest")

    demo.heading(
        "Download and verify",
        "every file and the manifest verified on download; then `verify` compares directories.",
    )
    dest = demo.work / "downloaded"
    demo.run(cli, "download", package_id, dest)
    demo.run(cli, "verify", dest, "--package", package_id)
    demo.run(cli, "verify", demo.run_dir, "--package", package_id)
    (dest / "logs" / "run.log").write_bytes(b"tampered\n")
    print("   (now one byte-changed file: verify must fail)")
    try:
        demo.run(cli, "verify", dest, "--package", package_id)
    except DemoFailed:
        print("   verify refused the tampered copy, as it should")
    else:
        raise DemoFailed("verify accepted a tampered download")

    _link(demo, package_id)
    _attestation(demo, package_id)
    _page(demo, package_id, first["manifest_digest"])
    return package_id


def _attestation(demo: Demo, package_id: str) -> None:
    demo.heading(
        "The signed seal",
        "the linker signed an in-toto statement about the manifest with the stack's KMS key "
        "(moto's, provisioned from template.yaml); checked against the key /signing-keys lists, "
        "saved as a trusted key (docs/attestations.md).",
    )
    cli = BIN / "artifactstore"
    trusted = demo.work / "trusted.pem"
    trusted.write_text(demo.run(cli, "signing-keys", "--pem"), encoding="utf-8")
    deadline = time.monotonic() + 30
    while True:
        try:
            envelope = demo.get(f"/packages/{package_id}/attestation")
            break
        except urllib.error.HTTPError as exc:
            if exc.code != 404 or time.monotonic() > deadline:
                raise DemoFailed(f"no attestation for {package_id} within 30 s: {exc}") from exc
            time.sleep(0.5)
    demo.run(cli, "attestation", package_id, "--verify", "--key", trusted)
    import base64

    statement = json.loads(base64.b64decode(envelope["payload"]))
    _show({"keyid": envelope["signatures"][0]["keyid"], **statement})


def _page(demo: Demo, package_id: str, digest: str) -> None:
    demo.heading(
        "The package in a browser",
        "the same app serves /ui: sign in at /ui/login with the token (dev-token here), then "
        "the package's page (docs/ui.md). Fetched once with the sign-in cookie to check it:",
    )
    url = demo.page_url(package_id)
    print(f"   GET {url}")
    html = demo.get_bytes(url.removeprefix(demo.api_url), {"Cookie": "artifactstore_ui=dev-token"})
    text = html.decode("utf-8", errors="replace")
    missing = [what for what in (RUN_ID, digest, "logs/") if what not in text]
    if missing:
        raise DemoFailed(f"the package page does not show {', '.join(missing)}")
    print(f"   200, {len(html)} bytes of HTML naming the run id, the manifest digest, the files")


def _link(demo: Demo, package_id: str) -> None:
    demo.heading(
        "Record the State Hub link",
        "scripts/link-guide-board-package.py with the guide's variables, "
        f"STATE_HUB_URL={demo.api_url} (the API's own port, as in the guide).",
    )
    link_env = {
        "STATE_HUB_URL": demo.api_url,
        "STATE_HUB_WORKSTREAM_ID": WORKSTREAM_ID,
        "STATE_HUB_TASK_ID": TASK_ID,
        "GUIDE_BOARD_RUN_DIR": str(demo.run_dir),
        "ARTIFACTSTORE_INGEST_RESULT_PATH": str(demo.ingest_json),
    }
    for name, value in link_env.items():
        print(f"   export {name}={value}")
    posted = json.loads(
        demo.run(sys.executable, "scripts/link-guide-board-package.py", env=link_env)
    )
    script_id = posted["state_hub_response"]["id"]

    demo.heading(
        "What State Hub received",
        "the stand-in's log (GET /progress/): one event from the script, one from the "
        "EventBridge path (sealed -> EventBridge -> linker Lambda handler, via the pump).",
    )
    deadline = time.monotonic() + 30
    while True:
        events = [
            e
            for e in demo.get("/progress/")["items"]
            if (e.get("detail") or {}).get("package_id") == package_id
        ]
        from_linker = [e for e in events if e["id"] != script_id]
        if from_linker or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for source, group in (
        ("from the script", [e for e in events if e["id"] == script_id]),
        ("from the EventBridge path (linker)", from_linker),
    ):
        print(f"   -- {source}: {len(group)} event(s)")
        for event in group:
            _show(event, indent="      ")
    if not from_linker:
        raise DemoFailed("the linker's event did not arrive within 30 s")
    link = demo.get(f"/packages/{package_id}?files_limit=1").get("state_hub_link")
    print(f"   the package's recorded link: {json.dumps(link)}")


def main() -> None:
    """Entry point of ``python -m localdev.demo``."""
    began = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="artifactstore-demo-"))
    code = 0
    url = ""
    try:
        demo = Demo(work)
        with _stack(demo):
            url = demo.page_url(_walk(demo))
    except DemoFailed as exc:
        print(f"\ndemo failed: {exc}", file=sys.stderr)
        log = work / "localdev" / "dev.log"
        if log.exists():
            tail = log.read_text(errors="replace").splitlines()[-20:]
            print("the end of the stack's log:\n" + "\n".join(tail), file=sys.stderr)
        code = 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\ndemo {'done' if code == 0 else 'FAILED'} in {time.monotonic() - began:.1f} s")
    if url and code == 0:
        print(
            "\nThe demo's stack has stopped. Against `make dev` a package's page is "
            "http://127.0.0.1:8000/ui/packages/PACKAGE_ID (sign in with dev-token; ingest the run "
            "there first). This run's package page, checked while its stack ran:"
        )
        print(f"   {url}", flush=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
