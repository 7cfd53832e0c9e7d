"""Schemas as CPU bombs (issue 14): jsonschema's stock validator against ours, same inputs.

``python -m bench.schema_bombs [--pattern-length 29] [--unique-items 5000]`` prints, per case,
the seconds the stock ``Draft202012Validator`` takes (what ``POST /packages`` ran before) and
what ``MetadataSchema.validate`` takes now (RE2 patterns, linear uniqueItems, a 1 s budget).
Stock runs are stopped after ``--give-up`` seconds in a child process (shown as "> N s").
Not part of ``make test``: tests never assert wall-clock times.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from collections.abc import Callable
from typing import Any

from artifactstore.domain.schemas import MetadataSchema
from artifactstore.errors import InvalidInput


def _cases(length: int, items: int) -> list[tuple[str, dict[str, Any], Any]]:
    loop_levels: dict[str, Any] = {
        f"l{i}": {"allOf": [{"$ref": f"#/$defs/l{i + 1}"}] * 2} for i in range(40)
    }
    loop_levels["l40"] = {"type": "object"}
    return [
        (
            f"pattern ^(a+)+$ on {length} chars",
            {"properties": {"a": {"pattern": "^(a+)+$"}}},
            {"a": "a" * length + "!"},
        ),
        (
            f"patternProperties ^(a+)+$, {length}-char key",
            {"patternProperties": {"^(a+)+$": {}}},
            {"a" * length + "!": 1},
        ),
        (
            f"uniqueItems over {items} objects",
            {"uniqueItems": True},
            [{"k": i} for i in range(items)],
        ),
        ("allOf doubling 40 levels (2**40)", {"$ref": "#/$defs/l0", "$defs": loop_levels}, {}),
    ]


def _stock(schema: dict[str, Any], metadata: Any) -> None:
    from jsonschema import Draft202012Validator

    list(Draft202012Validator(schema).iter_errors(metadata))


def _timed(run: Callable[[], None]) -> tuple[float, str]:
    start = time.perf_counter()
    try:
        run()
        outcome = "valid"
    except InvalidInput as exc:
        outcome = exc.code
    return time.perf_counter() - start, outcome


def _stock_in_child(schema: dict[str, Any], metadata: Any, give_up: float) -> str:
    child = multiprocessing.Process(target=_stock, args=(schema, metadata))
    start = time.perf_counter()
    child.start()
    child.join(give_up)
    if child.is_alive():
        child.kill()
        child.join()
        return f"> {give_up:.0f} s"
    return f"{time.perf_counter() - start:.3f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pattern-length", type=int, default=29)
    parser.add_argument("--unique-items", type=int, default=5000)
    parser.add_argument("--give-up", type=float, default=60.0)
    args = parser.parse_args()
    print(f"{'case':44} {'stock jsonschema':>18} {'artifactstore':>14}  outcome")
    for name, schema, metadata in _cases(args.pattern_length, args.unique_items):
        ours = MetadataSchema.create("bench.bomb.v1", schema)
        seconds, outcome = _timed(lambda: ours.validate(metadata))  # noqa: B023
        stock = _stock_in_child(schema, metadata, args.give_up)
        print(f"{name:44} {stock:>18} {seconds:>12.3f} s  {outcome}", flush=True)


if __name__ == "__main__":
    main()
