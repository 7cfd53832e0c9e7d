"""Downloading a package: ``artifactstore download`` against ``aws s3 sync`` and ``s5cmd sync``
of the same files from the same moto server (issue 17): many small files, or one 1 GiB file.

The package is ingested once (S3 route); the peers' copy of the same directory is synced to
their own bucket once. Each round downloads into a fresh empty folder; the order flips every
round. Our download reads the manifest and a download plan a page at a time, then storage only;
the request counts come from the stack's log.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

from bench.common import (
    CLI,
    SCHEMA,
    Result,
    alternate,
    bench_env,
    ensure_aws_cli,
    ensure_s5cmd,
    median,
    say,
    timed,
)
from bench.data import big_file, small_files_run, write_run_json
from bench.stack import FAKE_AWS, BenchStack

PEER_BUCKET = "bench-download-peers"


def _api_requests(stack: BenchStack, since: int, package_id: str) -> int:
    with stack.log.open("rb") as log:
        log.seek(since)
        text = log.read().decode(errors="replace")
    return sum(1 for line in text.splitlines() if f"/packages/{package_id}" in line)


def small_files(
    stack: BenchStack, rounds: int, count: int = 1500, size: int = 4096
) -> list[Result]:
    """``count`` files of ``size`` bytes, downloaded by us and by each peer; the goal is half
    s5cmd's time and at most aws's."""
    return _download(
        stack,
        rounds,
        f"{count:,} x {size // 1024} KiB files",
        lambda run: small_files_run(run, f"bench-{uuid.uuid4()}", count, size),
        {"s5cmd": 0.5, "aws s3 sync": 1.0},
        f"({count:,} files)",
    )


def one_big_file(stack: BenchStack, rounds: int, size: int = 1 << 30) -> list[Result]:
    """One file of ``size`` bytes (1 GiB), downloaded by us and by each peer; the goal is at
    most aws's time."""

    def build(run: Path) -> Path:
        write_run_json(run, f"bench-{uuid.uuid4()}")
        big_file(run / "big.bin", size, seed=uuid.uuid4().int & 0xFFFF_FFFF)
        return run

    return _download(
        stack, rounds, f"one {size >> 30} GiB file", build, {"aws s3 sync": 1.0}, "(2 files)"
    )


def _download(
    stack: BenchStack,
    rounds: int,
    label: str,
    build: Callable[[Path], Path],
    goals: dict[str, float],
    files_note: str,
) -> list[Result]:
    aws = ensure_aws_cli()
    s5cmd = ensure_s5cmd()
    stack.s3().create_bucket(Bucket=PEER_BUCKET)
    peer_env = bench_env({**FAKE_AWS, "AWS_DEFAULT_REGION": "us-east-1"})
    ours_env = bench_env(stack.env)
    with tempfile.TemporaryDirectory(prefix="artifactstore-bench-") as tmp:
        root = Path(tmp)
        run = build(root / "run")
        say(f"download {label}: ingest once, and sync the peers' copy once")
        done = subprocess.run(
            [*map(str, CLI), "guide-board", "ingest", str(run), "--schema", str(SCHEMA)],
            env=ours_env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        package_id = json.loads(done.stdout)["package_id"]
        prefix = f"s3://{PEER_BUCKET}/{uuid.uuid4()}/"
        subprocess.run(
            [str(aws), "s3", "sync", "--quiet", "--endpoint-url", stack.aws_endpoint, str(run),
             prefix],
            env=peer_env, check=True,
        )  # fmt: skip

        def fresh(name: str, n: int) -> Path:
            dest = root / f"{name}-{n}"
            shutil.rmtree(dest, ignore_errors=True)
            return dest

        def ours(n: int) -> float:
            say(f"download {label}: artifactstore download, round {n + 1}/{rounds}")
            return timed([*CLI, "download", package_id, fresh("ours", n)], ours_env)

        def aws_sync(n: int) -> float:
            say(f"download {label}: aws s3 sync, round {n + 1}/{rounds}")
            argv: list[str | Path] = [
                aws, "s3", "sync", "--quiet", "--endpoint-url", stack.aws_endpoint, prefix,
                fresh("aws", n),
            ]  # fmt: skip
            return timed(argv, peer_env)

        runs: dict[str, Callable[[int], float]] = {"aws s3 sync": aws_sync, "ours": ours}
        if s5cmd is not None:

            def s5(n: int) -> float:
                say(f"download {label}: s5cmd sync, round {n + 1}/{rounds}")
                argv: list[str | Path] = [
                    s5cmd, "--endpoint-url", stack.aws_endpoint, "sync", f"{prefix}*",
                    f"{fresh('s5cmd', n)}/",
                ]  # fmt: skip
                return timed(argv, peer_env)

            runs["s5cmd"] = s5
        since = stack.log.stat().st_size
        times = alternate(rounds, runs)
        requests = _api_requests(stack, since, package_id) // max(1, rounds)
    ours_median = median(times["ours"])
    results = []
    for peer in (p for p in runs if p != "ours"):
        factor = goals.get(peer)
        results.append(
            Result(
                f"download, {label}",
                peer,
                ours_median,
                median(times[peer]),
                "(none)" if factor is None else f"<= {factor}x",
                factor is None or ours_median <= factor * median(times[peer]),
                note=f"{requests} API requests per download {files_note}",
                samples=times,
            )
        )
    return results
