"""Run directories for the benchmarks: many small files, or one big one, fresh bytes per seed."""

from __future__ import annotations

import json
import os
from pathlib import Path

from bench.common import MIB

_BLOCK = 64 * MIB


def write_run_json(run: Path, run_id: str) -> None:
    """A finalized run's ``run.json`` that satisfies ``guide-board.run.v1``."""
    run.mkdir(parents=True, exist_ok=True)
    body = {
        "run_id": run_id,
        "target_profile_ref": "profiles/targets/bench.json",
        "assessment_profile_ref": "profiles/assessments/bench.json",
        "result_status": "passed",
    }
    (run / "run.json").write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")


def small_files_run(run: Path, run_id: str, count: int, size: int) -> Path:
    """``count`` files of ``size`` random bytes, 100 to a folder (a test run's logs and reports)."""
    write_run_json(run, run_id)
    data = os.urandom(count * size)
    for i in range(count):
        folder = run / "cases" / f"{i // 100:03d}"
        if i % 100 == 0:
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"case-{i:05d}.log").write_bytes(data[i * size : (i + 1) * size])
    return run


def big_file(path: Path, size: int, seed: int) -> Path:
    """``size`` bytes: one random 64 MiB block repeated, its first 8 bytes made unique by seed.

    Hashing speed does not depend on the bytes, so a repeated block is as good as fresh random
    data and far quicker to write; it is not sparse, so reads really come from the page cache.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    block = bytearray(os.urandom(min(_BLOCK, size)))
    block[:8] = seed.to_bytes(8, "big")
    with path.open("wb") as out:
        written = 0
        while written < size:
            piece = memoryview(block)[: min(len(block), size - written)]
            out.write(piece)
            written += len(piece)
            if written == len(piece):
                block[:8] = b"\0" * 8  # only the first block carries the seed
    return path


def big_file_run(run: Path, run_id: str, size: int, seed: int) -> Path:
    """A run holding ``run.json`` and one big file."""
    write_run_json(run, run_id)
    big_file(run / "capture" / "trace.bin", size, seed)
    return run


def reseed(path: Path, seed: int) -> None:
    """Make a big file's content new (a new digest) by rewriting its first 8 bytes in place."""
    with path.open("r+b") as out:
        out.write(seed.to_bytes(8, "big"))
