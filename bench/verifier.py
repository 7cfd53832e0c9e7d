"""The verifier Lambda on a 1 GiB object in the stack's moto, against hashing the file locally.

Each round: a fresh 1 GiB file (new digest), a draft declaring it, the bytes sent into its
upload pack as the CLI sends them, with the bucket's notifications switched off (so the stack's
own pump does not verify it first), then the verifier's module imported and invoked in a fresh
process with the SQS event Lambda would send. The peer hashes the same local file in a fresh
process.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.api import client, package_body, register_schema
from bench.common import GIB, PYTHON, ROOT, Result, median, say
from bench.data import big_file, reseed
from bench.stack import BenchStack


def _child(env: dict[str, str], *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [str(PYTHON), "-m", "bench.verifier_child", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"verifier child {args[0]} failed:\n{done.stderr[-3000:]}")
    # Powertools logs to stdout too; the child's figures are its last line.
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def _staged_upload(stack: BenchStack, path: Path, size: int) -> str:
    """A draft declaring the file, and its bytes sent as the CLI sends them (parts to its
    upload pack, completed through the API), with no notification sent; returns the key."""
    from artifactstore.adapters.s3.upload_packs import upload_pack_key
    from artifactstore.domain.digests import hash_file

    digest = hash_file(path)
    run_id = f"bench-verify-{uuid.uuid4()}"
    files = [{"path": "capture/trace.bin", "size": size, "digest": str(digest)}]
    s3 = stack.s3()
    saved = s3.get_bucket_notification_configuration(Bucket=stack.bucket)
    saved.pop("ResponseMetadata", None)
    with client(stack) as http:
        register_schema(http)
        answer = http.post("/packages", json=package_body(run_id, files, "ephemeral"))
        answer.raise_for_status()
        package_id = str(answer.json()["package_id"])
        (target,) = answer.json()["upload_targets"]
        if target.get("next_parts_cursor"):
            raise RuntimeError("the staged file needs paged part URLs: use a smaller one")
        s3.put_bucket_notification_configuration(Bucket=stack.bucket, NotificationConfiguration={})
        try:
            parts = []
            with path.open("rb") as source, httpx.Client(timeout=300) as storage:
                for part in target["parts"]:
                    source.seek(part["offset"])
                    sent = storage.put(part["url"], content=source.read(part["size"]))
                    sent.raise_for_status()
                    parts.append({"part_number": part["part_number"], "etag": sent.headers["ETag"]})
            done = http.post(
                f"/packages/{package_id}/multipart/complete",
                json={"digest": str(digest), "upload_id": target["upload_id"], "parts": parts},
            )
            done.raise_for_status()
        finally:
            s3.put_bucket_notification_configuration(
                Bucket=stack.bucket, NotificationConfiguration=saved
            )
    return upload_pack_key(package_id, digest)


def verifier_1gib(stack: BenchStack, rounds: int, size: int = GIB) -> list[Result]:
    """Throughput (ours / local hashing) and the verifier's peak RSS growth."""
    env = stack.service_env()
    verify: list[dict[str, Any]] = []
    local: list[dict[str, Any]] = []
    served: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="artifactstore-bench-") as tmp:
        path = big_file(Path(tmp) / "object.bin", size, seed=0)
        for n in range(rounds):
            reseed(path, 1000 + n)
            say(f"verifier: staging 1 GiB upload, round {n + 1}/{rounds}")
            key = _staged_upload(stack, path, size)
            order = (
                [("local", ()), ("verify", ())] if n % 2 == 0 else [("verify", ()), ("local", ())]
            )
            for what, _ in order:
                if what == "local":
                    local.append(_child(env, "hash", str(path)))
                else:
                    figures = _child(env, "verify", stack.bucket, key, str(size))
                    if figures["answer"].get("batchItemFailures"):
                        raise RuntimeError(f"the verifier failed the record: {figures}")
                    verify.append(figures)
            # verified where it lies: the blob is read from its upload pack
            served.append(_child(env, "get", stack.bucket, key))
    ours = median([f["seconds"] for f in verify])
    peer = median([f["seconds"] for f in local])
    get = median([f["seconds"] for f in served])
    growth = max(f["rss_peak"] - f["rss_before"] for f in verify)
    gib = size / GIB
    throughput = Result(
        "verifier, 1 GiB object (throughput)",
        "hash_file on the local file",
        gib / ours,
        gib / peer,
        ">= 0.8x throughput",
        (gib / ours) / (gib / peer) >= 0.8,
        unit="GiB/s",
        note=f"verifier {ours:.2f} s, local hash {peer:.2f} s, a plain GET of the blob "
        f"from moto {get:.2f} s",
        samples={"verify": [f["seconds"] for f in verify], "local": [f["seconds"] for f in local]},
    )
    rss = Result(
        "verifier, 1 GiB object (peak RSS growth)",
        "",
        growth,
        None,
        "< 128 MiB",
        growth < 128,
        unit="MiB",
        note=f"local hash_file: {max(f['rss_peak'] - f['rss_before'] for f in local):.0f} MiB "
        "(mmap'd file pages count in RSS)",
    )
    return [throughput, rss]
