"""Start-up costs: each Lambda handler module's import (a cold-start proxy) and ``--help``."""

from __future__ import annotations

from pathlib import Path

from bench.common import CLI, PYTHON, ROOT, Result, alternate, bench_env, median, timed

_IMPORT = (
    "import importlib.util as u, sys; s = u.spec_from_file_location('app', sys.argv[1]); "
    "m = u.module_from_spec(s); s.loader.exec_module(m)"
)
# What Lambda's environment holds that the modules read at import. LAMBDA_TASK_ROOT matters: the
# X-Ray SDK takes it as "in Lambda" and samples locally; without it, it builds two botocore X-Ray
# clients for centralized sampling (~100 ms that no Lambda pays).
_LAMBDA_ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_LAMBDA_FUNCTION_NAME": "bench",
    "LAMBDA_TASK_ROOT": str(ROOT),
    "POWERTOOLS_SERVICE_NAME": "artifactstore",
}
# As template.yaml deploys them (Tracing: Active), and with tracing off as in localdev.
_TRACING = {"tracing on": {}, "tracing off": {"POWERTOOLS_TRACE_DISABLED": "true"}}


def _above_baseline(
    name: str, argv: list[str], rounds: int, limit: float, env: dict[str, str]
) -> Result:
    baseline = [str(PYTHON), "-c", "pass"]
    timed(argv, env)  # warm-up: writes the .pyc files a normal install has
    times = alternate(
        rounds,
        {"python -c pass": lambda _n: timed(baseline, env), "ours": lambda _n: timed(argv, env)},
    )
    above = median(times["ours"]) - median(times["python -c pass"])
    return Result(
        name,
        "python -c pass",
        median(times["ours"]),
        median(times["python -c pass"]),
        f"<= {limit * 1000:.0f} ms above",
        above <= limit,
        note=f"{above * 1000:.0f} ms above",
        samples=times,
    )


def handler_imports(rounds: int) -> list[Result]:
    """Import each ``functions/<name>/app.py`` in a fresh interpreter, tracing on and off."""
    results = []
    for label, tracing in _TRACING.items():
        env = bench_env({**_LAMBDA_ENV, **tracing, "PYTHONPATH": str(ROOT)})
        for app in sorted((ROOT / "functions").glob("*/app.py")):
            argv = [str(PYTHON), "-c", _IMPORT, str(app)]
            name = f"import functions/{Path(app).parent.name}/app.py ({label})"
            results.append(_above_baseline(name, argv, rounds, 0.300, env))
    return results


def cli_help(rounds: int) -> Result:
    """``artifactstore --help``: the console script, Typer and its help rendering."""
    return _above_baseline(
        "artifactstore --help", [*map(str, CLI), "--help"], rounds, 0.150, bench_env()
    )
