"""Path checks on the worst body the API takes: ~9.7 MiB of 500-segment paths.

    .venv/bin/python -m bench.paths [--files 8900] [--rounds 3]

Times today's ``check_path_set`` (a trie of segments, linear in the paths' length) against the
rule as it was before (every folder prefix rebuilt per path, quadratic in depth) on the same
paths in the same run, and prints both with their ratio. Figures: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterable

from artifactstore.domain.paths import check_path_set, validate_path


def quadratic_check(paths: Iterable[str]) -> None:
    """The prefix rule as it was: each path's folders joined again at every depth."""
    seen = set(paths)
    for path in seen:
        parts = path.split("/")
        for depth in range(1, len(parts)):
            if "/".join(parts[:depth]) in seen:
                raise ValueError(path)


def median_seconds(check: Callable[[list[str]], object], paths: list[str], rounds: int) -> float:
    """Median wall time of ``check(paths)`` over ``rounds``."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        check(paths)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=8_900)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    deep = "/".join(["d"] * 494)
    paths = [f"{deep}/f{i:05d}" for i in range(args.files)]
    size = sum(len(p) for p in paths)
    validate = median_seconds(lambda ps: [validate_path(p) for p in ps], paths, args.rounds)
    new = median_seconds(check_path_set, paths, args.rounds)
    old = median_seconds(quadratic_check, paths, args.rounds)
    print(f"{args.files:,} paths of 495 segments, {size / 2**20:.1f} MiB of path text")
    print("| check | seconds |")
    print("| --- | --- |")
    print(f"| validate_path, each path | {validate:.2f} |")
    print(f"| check_path_set, trie (now) | {new:.2f} |")
    print(f"| prefix rule as it was | {old:.2f} |")
    print(f"| ratio, was / now | {old / new:.0f}x |")


if __name__ == "__main__":
    main()
