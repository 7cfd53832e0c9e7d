"""Fuzz the HTTP API with schemathesis from its own /openapi.json, against moto, bounded.

Starts moto (server mode, free port), provisions template.yaml into it, serves the same FastAPI
app under uvicorn on a free loopback port, registers the pilot schema, then runs
``schemathesis run`` with the admin token. Exit status is schemathesis'. Not part of
``make test``: a run takes minutes. Extra arguments go to schemathesis.

    .venv/bin/python bench/schemathesis_run.py --max-examples 30
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "fuzz-admin-token"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def free_port() -> int:
    """A port nobody listens on now (uvicorn binds it right after)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_moto() -> str:
    """moto in server mode on a free port; this process's AWS clients point at it."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    os.environ.update(AWS_ENV)
    os.environ["AWS_ENDPOINT_URL"] = url
    return url


def start_api(moto_url: str, workdir: Path) -> str:
    """Provision the stack and serve the app; returns its base URL."""
    import uvicorn
    from localdev.provision import provision

    stack = provision(moto_url, ROOT / "template.yaml", root=workdir / "stack")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    os.environ.update(
        {
            "ARTIFACTSTORE_TABLE_NAME": stack.table,
            "ARTIFACTSTORE_BUCKET": stack.bucket,
            "ARTIFACTSTORE_EVENT_BUS_NAME": stack.event_bus,
            "ARTIFACTSTORE_IDEMPOTENCY_TABLE_NAME": stack.idempotency_table,
            "ARTIFACTSTORE_STORAGE_BACKEND_ROUTES": "guide-board:*=s3,*:*=local",
            "ARTIFACTSTORE_LOCAL_STORAGE_DIR": str(workdir / "storage"),
            "ARTIFACTSTORE_API_TOKEN": TOKEN,
            "ARTIFACTSTORE_LOCAL_DEV": "1",  # the local backend signs with the example key
            "ARTIFACTSTORE_API_URL": base,
        }
    )
    from artifactstore.api.app import create_app

    config = uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    for _ in range(200):
        if server.started:
            return base
        time.sleep(0.05)
    raise SystemExit("uvicorn did not start")


def main(argv: list[str]) -> int:
    """Run the whole thing; returns schemathesis' exit status."""
    with tempfile.TemporaryDirectory(prefix="artifactstore-fuzz-") as tmp:
        base = start_api(start_moto(), Path(tmp))
        schema = json.loads((ROOT / "schemas" / "guide-board.run.v1.json").read_text())
        answer = httpx.post(
            f"{base}/metadata-schemas",
            json={"slug": "guide-board.run.v1", "json_schema": schema},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        answer.raise_for_status()
        command = [
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            f"{base}/openapi.json",
            "--header",
            f"Authorization: Bearer {TOKEN}",
            "--workers",
            "1",
            "--seed",
            "1",
            "--suppress-health-check",
            "all",
            *(argv or ["--max-examples", "30"]),
        ]
        print("$", " ".join(command), flush=True)
        return subprocess.run(command, check=False, cwd=tmp).returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
