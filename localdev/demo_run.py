"""A realistic guide-board run directory for ``make demo``: the same bytes every time."""

from __future__ import annotations

import json
import random
from pathlib import Path

RUN_ID = "open-cmis-tck-baseline-20260516T101500Z"
RUN_JSON = {
    "run_id": RUN_ID,
    "target_profile_ref": "profiles/targets/kontextual-cmis-compat.json",
    "assessment_profile_ref": "profiles/assessments/cmis-browser-baseline.json",
    "result_status": "failed",
    "started_at": "2026-05-16T10:15:00Z",
    "finished_at": "2026-05-16T10:18:42Z",
    "guide_board_version": "0.9.0",
    "extension": {"name": "open-cmis-tck", "version": "1.2.0"},
    "summary": {"tests": 46, "passed": 41, "failed": 2, "skipped": 3},
}
_CASES = [
    ("repository", "getRepositoryInfo", "passed"),
    ("repository", "getTypeChildren", "passed"),
    ("navigation", "getChildren", "passed"),
    ("navigation", "getFolderTree", "skipped"),
    ("object", "createDocument", "passed"),
    ("object", "setContentStream", "failed"),
    ("versioning", "checkOut", "passed"),
    ("versioning", "checkIn", "failed"),
    ("query", "simpleQuery", "passed"),
    ("acl", "applyACL", "skipped"),
]


def _junit() -> str:
    cases = []
    for suite, name, status in _CASES:
        body = ""
        if status == "failed":
            body = f'<failure message="{name} returned HTTP 500">expected 201, got 500</failure>'
        elif status == "skipped":
            body = '<skipped message="capability not supported by the target"/>'
        cases.append(
            f'    <testcase classname="cmis.browser.{suite}" name="{name}" time="0.42">'
            f"{body}</testcase>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<testsuites name="cmis-browser-baseline" tests="10" failures="2" skipped="2">\n'
        '  <testsuite name="open-cmis-tck" tests="10" failures="2" skipped="2">\n'
        + "\n".join(cases)
        + "\n  </testsuite>\n</testsuites>\n"
    )


def build_run(root: Path) -> Path:
    """Write the run under ``root``: logs, reports, evidence, hidden state, a script."""
    rng = random.Random(20260516)
    files: dict[str, bytes] = {
        "run.json": json.dumps(RUN_JSON, indent=2).encode() + b"\n",
        "reports/junit.xml": _junit().encode(),
        "reports/results.jsonl": "".join(
            json.dumps({"suite": s, "test": n, "status": st, "duration_ms": 420}) + "\n"
            for s, n, st in _CASES
        ).encode(),
        "reports/summary.md": b"# cmis-browser-baseline\n\n41 passed, 2 failed, 3 skipped\n",
        ".guide-board/state.json": b'{"phase": "finalized", "attempt": 1}\n',
        ".guide-board/lock": b"",
        "tools/rerun.sh": b"#!/bin/sh\n# re-run the failed checks of this run\nexec "
        b'python3 -m guide_board rerun --failed "$(dirname "$0")/.."\n',
    }
    log_lines = [
        f"2026-05-16T10:{15 + i // 60:02d}:{i % 60:02d}Z INFO cmis.browser "
        f"{_CASES[i % len(_CASES)][1]} step {i} ok"
        for i in range(600)
    ]
    files["logs/run.log"] = ("\n".join(log_lines) + "\n").encode()
    files["logs/target/http-trace.log"] = b"".join(
        f"GET /browser/repo?objectId=obj-{i} 200 {rng.randint(3, 90)}ms\n".encode()
        for i in range(2000)
    )
    for suite, name, status in _CASES:
        evidence = {"test": name, "status": status, "request": f"/browser/{suite}/{name}"}
        files[f"evidence/{suite}/{name}.json"] = json.dumps(evidence).encode() + b"\n"
    files["evidence/object/setContentStream-response.bin"] = rng.randbytes(3 * 1024 * 1024)
    files["evidence/screenshots/login.png"] = b"\x89PNG\r\n\x1a\n" + rng.randbytes(200_000)
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "tools/rerun.sh").chmod(0o755)
    return root
