"""``POST /packages`` with 10,000 files against the local stack, and helpers other benches share."""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any

import httpx

from bench.common import SCHEMA, Result, median, say
from bench.stack import TOKEN, BenchStack

SLUG = "guide-board.run.v1"


def client(stack: BenchStack) -> httpx.Client:
    """An HTTP client for the stack's API with the dev token."""
    return httpx.Client(
        base_url=stack.api_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=300
    )


def register_schema(http: httpx.Client) -> None:
    """Register the pilot schema (a no-op when it is there)."""
    body = {"slug": SLUG, "json_schema": json.loads(SCHEMA.read_text())}
    http.post("/metadata-schemas", json=body).raise_for_status()


def package_body(run_id: str, files: list[dict[str, Any]], retention: str) -> dict[str, Any]:
    """A guide-board creation request."""
    return {
        "producer": "guide-board",
        "idempotency_key": run_id,
        "retention_class": retention,
        "schema": SLUG,
        "metadata": {
            "run_id": run_id,
            "target_profile_ref": "profiles/targets/bench.json",
            "assessment_profile_ref": "profiles/assessments/bench.json",
            "result_status": "passed",
        },
        "files": files,
    }


def random_files(count: int) -> list[dict[str, Any]]:
    """``count`` declared files with distinct random digests (nothing stored holds them)."""
    return [
        {
            "path": f"cases/{i // 100:03d}/case-{i:05d}.log",
            "size": 4096,
            "digest": "blake3:" + os.urandom(32).hex(),
        }
        for i in range(count)
    ]


def post_packages(stack: BenchStack, rounds: int, count: int = 10_000) -> Result:
    """Time the creation request alone (the body is built beforehand); a fresh draft each round."""
    times: list[float] = []
    with client(stack) as http:
        register_schema(http)
        for n in range(rounds):
            body = package_body(f"bench-post-{uuid.uuid4()}", random_files(count), "ephemeral")
            say(f"POST /packages with {count:,} files, round {n + 1}/{rounds}")
            started = time.perf_counter()
            answer = http.post("/packages", json=body)
            times.append(time.perf_counter() - started)
            if answer.status_code != 201:
                raise RuntimeError(
                    f"POST /packages answered {answer.status_code}: {answer.text[:500]}"
                )
    ours = median(times)
    return Result(
        f"POST /packages, {count:,} files",
        "API Gateway 29 s limit",
        ours,
        29.0,
        "< 5 s",
        ours < 5.0,
        samples={"ours": times},
    )
