"""``make bench``: every benchmark, peers installed as needed, one Markdown table at the end.

    .venv/bin/python -m bench.run_all                     # everything (about 15 minutes)
    .venv/bin/python -m bench.run_all --only ingest-small --small-files 5000 --rounds 1
    .venv/bin/python -m bench.run_all --only startup hash # a subset
    .venv/bin/python -m bench.run_all --rounds 5 --json results.json

Figures are medians over alternating rounds; see docs/benchmarks.md for the recorded ones.
Each stack-backed group gets a fresh local stack (moto's cost grows with what it holds).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from bench import api, download, hashing, ingest, startup, verifier
from bench.common import HEADER, Result, ensure_aws_cli, ensure_b3sum, machine, say
from bench.stack import running_stack

GROUPS = (
    "startup",
    "hash",
    "api",
    "verifier",
    "ingest-big",
    "ingest-small",
    "download-small",
    "download-big",
)


def run_group(group: str, rounds: int, small_files: int) -> list[Result]:
    """One group of benchmarks."""
    if group == "startup":
        return [*startup.handler_imports(max(rounds, 5)), startup.cli_help(max(rounds, 5))]
    if group == "hash":
        return [hashing.one_big_file(rounds), hashing.many_small_files(max(rounds, 5))]
    if group == "api":
        with running_stack() as stack:
            return [api.post_packages(stack, rounds)]
    if group == "verifier":
        with running_stack() as stack:
            return verifier.verifier_1gib(stack, rounds)
    if group == "ingest-big":
        with running_stack() as stack:
            return ingest.one_big_file(stack, rounds)
    if group == "download-small":
        with running_stack() as stack:
            return download.small_files(stack, rounds, count=small_files)
    if group == "download-big":
        with running_stack() as stack:
            return download.one_big_file(stack, rounds)
    with running_stack() as stack:
        return ingest.small_files(stack, rounds, count=small_files)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen groups and print the table; exit 0 even when goals are missed."""
    parser = argparse.ArgumentParser(prog="python -m bench.run_all", description=__doc__)
    parser.add_argument("--only", nargs="+", choices=GROUPS, default=list(GROUPS))
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument(
        "--small-files",
        type=int,
        default=1500,
        help="files in the small runs (the issue: 1,500 and 10,000)",
    )
    parser.add_argument("--json", type=Path, help="also write every sample here")
    args = parser.parse_args(argv)
    ensure_b3sum()
    ensure_aws_cli()
    say(machine())
    results: list[Result] = []
    for group in args.only:
        started = time.monotonic()
        try:
            results.extend(run_group(group, args.rounds, args.small_files))
        except Exception as exc:  # one broken group must not hide the others' figures
            say(f"{group} failed: {exc}")
            results.append(
                Result(group, "", float("nan"), None, "", False, note=f"failed: {exc}"[:200])
            )
        say(f"{group} took {time.monotonic() - started:.0f} s")
    print(f"\n{machine()}\n")
    print(HEADER)
    for result in results:
        print(result.row())
    if args.json:
        args.json.write_text(
            json.dumps([r.__dict__ | {"ratio": r.ratio} for r in results], indent=2, default=str)
        )
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
