"""Cold ingest into the local stack (S3 route) against ``aws s3 sync``; warm re-ingest against cold.

Each round gets fresh bytes (a cold ingest must upload everything) and a fresh run id; the
AWS CLI syncs the same directory to its own bucket on the same moto server. The warm re-ingest
runs the last round's directory again: every byte is stored, so nothing may be uploaded.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

from bench.common import (
    CLI,
    GIB,
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
from bench.data import big_file_run, small_files_run
from bench.stack import FAKE_AWS, BenchStack

PEER_BUCKET = "bench-aws-cli-sync"


def _upload_puts(stack: BenchStack, since: int) -> int:
    """PUTs of upload bytes the stack logged after byte offset ``since`` of its log."""
    with stack.log.open("rb") as log:
        log.seek(since)
        text = log.read().decode(errors="replace")
    return sum(1 for line in text.splitlines() if " PUT " in line and "/uploads/" in line)


def _cold_and_warm(
    stack: BenchStack, label: str, rounds: int, make_run: Callable[[Path, str, int], Path]
) -> list[Result]:
    aws = ensure_aws_cli()
    s3 = stack.s3()
    s3.create_bucket(Bucket=PEER_BUCKET)
    aws_env = bench_env({**FAKE_AWS, "AWS_DEFAULT_REGION": "us-east-1"})
    ours_env = bench_env(stack.env)
    timeout = "900"
    with tempfile.TemporaryDirectory(prefix="artifactstore-bench-") as tmp:
        runs_dirs = [
            make_run(Path(tmp) / f"run-{n}", f"bench-{uuid.uuid4()}", n) for n in range(rounds)
        ]

        def peer(n: int) -> float:
            target = f"s3://{PEER_BUCKET}/{label}-{n}/"
            say(f"{label}: aws s3 sync, round {n + 1}/{rounds}")
            argv: list[str | Path] = [
                aws,
                "s3",
                "sync",
                "--quiet",
                "--endpoint-url",
                stack.aws_endpoint,
                runs_dirs[n],
                target,
            ]
            return timed(argv, aws_env)

        def ours(n: int) -> float:
            say(f"{label}: artifactstore guide-board ingest, round {n + 1}/{rounds}")
            argv: list[str | Path] = [
                *CLI,
                "guide-board",
                "ingest",
                runs_dirs[n],
                "--schema",
                SCHEMA,
                "--timeout",
                timeout,
            ]
            return timed(argv, ours_env)

        runs: dict[str, Callable[[int], float]] = {"aws s3 sync": peer, "ours": ours}
        s5cmd = ensure_s5cmd()
        if s5cmd is not None:

            def s5(n: int) -> float:
                say(f"{label}: s5cmd sync, round {n + 1}/{rounds}")
                target = f"s3://{PEER_BUCKET}/{label}-s5cmd-{n}/"
                argv: list[str | Path] = [
                    s5cmd, "--endpoint-url", stack.aws_endpoint, "sync", f"{runs_dirs[n]}/",
                    target,
                ]  # fmt: skip
                return timed(argv, aws_env)

            runs["s5cmd"] = s5
        times = alternate(rounds, runs)
        since = stack.log.stat().st_size
        say(f"{label}: warm re-ingest")
        warm_argv: list[str | Path] = [
            *CLI,
            "guide-board",
            "ingest",
            runs_dirs[-1],
            "--schema",
            SCHEMA,
        ]
        warm = [timed(warm_argv, ours_env) for _ in range(rounds)]
        puts = _upload_puts(stack, since)
    cold = median(times["ours"])
    peer_median = median(times["aws s3 sync"])
    peers = []
    if "s5cmd" in times:
        s5_median = median(times["s5cmd"])
        peers.append(
            Result(
                f"cold ingest, {label}",
                "s5cmd",
                cold,
                s5_median,
                "<= 0.5x",
                cold <= 0.5 * s5_median,
                samples=times,
            )
        )
    return [
        *peers,
        Result(
            f"cold ingest, {label}",
            "aws s3 sync",
            cold,
            peer_median,
            "<= 1.0x",
            cold <= peer_median,
            samples=times,
        ),
        Result(
            f"warm re-ingest, {label}",
            "our cold ingest",
            median(warm),
            cold,
            "<= 0.05x, 0 bytes uploaded",
            median(warm) <= 0.05 * cold and puts == 0,
            note=f"{puts} upload PUTs",
            samples={"ours": warm},
        ),
    ]


def small_files(
    stack: BenchStack, rounds: int, count: int = 5000, size: int = 4096
) -> list[Result]:
    """A run of ``count`` small files."""
    return _cold_and_warm(
        stack,
        f"{count:,} x {size // 1024} KiB files",
        rounds,
        lambda run, run_id, _n: small_files_run(run, run_id, count, size),
    )


def one_big_file(stack: BenchStack, rounds: int, size: int = GIB) -> list[Result]:
    """A run of one big file (multipart both ways)."""
    return _cold_and_warm(
        stack,
        f"one {size / GIB:.0f} GiB file",
        rounds,
        lambda run, run_id, n: big_file_run(run, run_id, size, seed=500 + n),
    )
