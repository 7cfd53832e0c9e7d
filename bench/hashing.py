"""``artifactstore guide-board manifest`` against ``b3sum`` on the same files (whole commands)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.common import CLI, GIB, Result, alternate, bench_env, ensure_b3sum, median, say, timed
from bench.data import big_file_run, small_files_run


def _compare(name: str, run: Path, rounds: int, goal: float, goal_text: str) -> Result:
    b3sum = ensure_b3sum()
    files = sorted(str(p) for p in run.rglob("*") if p.is_file())
    env = bench_env()
    peer = [b3sum, *files]
    ours = [*map(str, CLI), "guide-board", "manifest", str(run)]
    timed(peer, env)  # warm-up: page cache, and ours writes its .pyc files
    timed(ours, env)
    times = alternate(
        rounds, {"b3sum": lambda _n: timed(peer, env), "ours": lambda _n: timed(ours, env)}
    )
    ratio = median(times["ours"]) / median(times["b3sum"])
    return Result(
        name,
        "b3sum",
        median(times["ours"]),
        median(times["b3sum"]),
        goal_text,
        ratio <= goal,
        samples=times,
    )


def one_big_file(rounds: int, size: int = 4 * GIB) -> Result:
    """A run with one 4 GiB file: memory-mapped, threaded BLAKE3 against b3sum's."""
    with tempfile.TemporaryDirectory(prefix="artifactstore-bench-") as tmp:
        say(f"hash: writing a {size / GIB:.0f} GiB file")
        run = big_file_run(Path(tmp) / "run", "bench-hash-big", size, seed=1)
        say("hash: one big file")
        return _compare(
            f"manifest, one {size / GIB:.0f} GiB file", run, rounds, 1.25, "<= 1.25x wall"
        )


def many_small_files(rounds: int, count: int = 10_000, size: int = 4096) -> Result:
    """A run with 10,000 files of 4 KiB: process start, scanning and per-file cost."""
    with tempfile.TemporaryDirectory(prefix="artifactstore-bench-") as tmp:
        run = small_files_run(Path(tmp) / "run", "bench-hash-small", count, size)
        say(f"hash: {count} x {size // 1024} KiB files")
        return _compare(
            f"manifest, {count:,} x {size // 1024} KiB files", run, rounds, 2.5, "<= 2.5x wall"
        )
