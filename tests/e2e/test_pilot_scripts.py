"""The seed scripts refuse bad input by name, post nothing, and explain themselves (no stack)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from localdev.statehub import StateHubStandIn
from tests.e2e.stack import (
    TASK,
    WORKSTREAM,
    checkout_view,
    guide_run,
)

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack")]


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[StateHubStandIn]:
    """A State Hub stand-in on a free port: what the link script posted, if anything."""
    stand_in = StateHubStandIn(tmp_path / "hub.jsonl", port=0)
    stand_in.start()
    yield stand_in
    stand_in.stop()


@pytest.mark.parametrize(
    ("unset", "named"),
    [
        ("STATE_HUB_URL", "STATE_HUB_URL"),
        ("STATE_HUB_WORKSTREAM_ID STATE_HUB_TASK_ID", "STATE_HUB_WORKSTREAM_ID, STATE_HUB_TASK_ID"),
        ("GUIDE_BOARD_RUN_DIR", "GUIDE_BOARD_RUN_DIR"),
        ("ARTIFACTSTORE_INGEST_RESULT_PATH", "ARTIFACTSTORE_INGEST_RESULT_PATH"),
        ("ARTIFACTSTORE_API_TOKEN", "ARTIFACTSTORE_API_TOKEN"),
    ],
)
def test_link_script_names_each_missing_variable_and_posts_nothing(
    tmp_path: Path, hub: StateHubStandIn, unset: str, named: str
) -> None:
    g = checkout_view(tmp_path)
    run = guide_run(tmp_path)
    result = tmp_path / "ingest.json"
    result.write_text(json.dumps({"package_id": "p", "manifest_digest": "blake3:" + "0" * 64}))
    done = g.sh(
        f"""export ARTIFACTSTORE_API_TOKEN=dev-token ARTIFACTSTORE_API_URL=http://127.0.0.1:9
export STATE_HUB_URL={hub.url} STATE_HUB_WORKSTREAM_ID={WORKSTREAM} STATE_HUB_TASK_ID={TASK}
export GUIDE_BOARD_RUN_DIR={run} ARTIFACTSTORE_INGEST_RESULT_PATH={result}
unset {unset}
python3 scripts/link-guide-board-package.py
"""
    )
    assert done.returncode == 2
    assert f"not set: {named} (see --help)" in done.stderr
    assert hub.events.all() == []


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ("rm {result}", "ARTIFACTSTORE_INGEST_RESULT_PATH ({result}) does not exist"),
        ("echo '[1]' > {result}", "must hold the JSON object the ingest printed"),
        ('echo \'{{"package_id": "p"}}\' > {result}', "lacks manifest_digest"),
        ("rm {run}/run.json", "run.json is missing"),
        ("rm -r {run}", "GUIDE_BOARD_RUN_DIR ({run}) is not a directory"),
    ],
)
def test_link_script_refuses_missing_or_broken_files_and_posts_nothing(
    tmp_path: Path, hub: StateHubStandIn, broken: str, message: str
) -> None:
    g = checkout_view(tmp_path)
    run = guide_run(tmp_path)
    result = tmp_path / "ingest.json"
    result.write_text(json.dumps({"package_id": "p", "manifest_digest": "blake3:" + "0" * 64}))
    done = g.sh(
        f"""{broken.format(result=result, run=run)}
export ARTIFACTSTORE_API_TOKEN=dev-token ARTIFACTSTORE_API_URL=http://127.0.0.1:9
export STATE_HUB_URL={hub.url} STATE_HUB_WORKSTREAM_ID={WORKSTREAM} STATE_HUB_TASK_ID={TASK}
export GUIDE_BOARD_RUN_DIR={run} ARTIFACTSTORE_INGEST_RESULT_PATH={result}
python3 scripts/link-guide-board-package.py
"""
    )
    assert done.returncode == 2, done.stderr
    assert message.format(result=result, run=run) in done.stderr
    assert hub.events.all() == []


def test_scripts_explain_their_variables_and_an_unreachable_api(tmp_path: Path) -> None:
    g = checkout_view(tmp_path)
    helps = g.ok(
        "python3 scripts/register-guide-board-schema.py --help\n"
        "python3 scripts/link-guide-board-package.py --help"
    )
    for name in (
        "ARTIFACTSTORE_API_URL", "ARTIFACTSTORE_API_TOKEN", "STATE_HUB_URL",
        "STATE_HUB_WORKSTREAM_ID", "STATE_HUB_TASK_ID", "GUIDE_BOARD_RUN_DIR",
        "ARTIFACTSTORE_INGEST_RESULT_PATH",
    ):  # fmt: skip
        assert name in helps
    down = g.sh(
        "ARTIFACTSTORE_API_URL=http://127.0.0.1:9 ARTIFACTSTORE_API_TOKEN=dev-token "
        "python3 scripts/register-guide-board-schema.py"
    )
    assert down.returncode == 4
    assert "cannot reach artifact-store at http://127.0.0.1:9" in down.stderr
