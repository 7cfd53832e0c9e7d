"""The linker Lambda: EventBridge envelope in, one State Hub artifact_link out, once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from localdev.events import rule_delivery
from localdev.stack import LocalStack
from localdev.statehub import StateHubStandIn

from tests.integration.conftest import Configured, configure
from tests.integration.flow import AUTH, Harness, run_metadata
from tests.lambda_runtime import FakeContext, load_event, load_handler, receive_all

WORKSTREAM = "701c4d8c-5cf4-4a4a-ab60-1dcae53fe771"
TASK = "bffa3573-4a1f-4c12-8c73-6d55bd8f6297"


@pytest.fixture
def statehub(tmp_path: Path) -> Iterator[StateHubStandIn]:
    """A State Hub stand-in on a free port."""
    hub = StateHubStandIn(tmp_path / "events.jsonl", port=0)
    hub.start()
    yield hub
    hub.stop()


@pytest.fixture
def linked(stack: LocalStack, tmp_path: Path, statehub: StateHubStandIn) -> Iterator[Configured]:
    """Services whose State Hub is the stand-in (defaults for workstream and task unset)."""
    import os

    saved = dict(os.environ)
    for name in ("STATE_HUB_WORKSTREAM_ID", "STATE_HUB_TASK_ID"):
        os.environ.pop(name, None)
    try:
        yield configure(stack, tmp_path / "storage", "*:*=local", STATE_HUB_URL=statehub.url)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def seal_one(h: Harness, **extra: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Create, upload, verify and finalize a one-file package; returns (package, bus event)."""
    data = f"{uuid.uuid4()}".encode()
    key = str(uuid.uuid4())
    created = h.create(key, {"run.json": data}, **extra).json()
    h.upload(created["upload_targets"][0], data)
    h.pump()
    sealed = h.client.post(f"/packages/{created['package_id']}/finalize", headers=AUTH).json()
    assert sealed["state"] == "sealed"
    events = [
        rule_delivery(m["Body"])  # as the pump hands it to the linker
        for m in receive_all(h.cfg.stack.linker_queue_url)
        if created["package_id"] in m["Body"]
    ]
    assert len(events) == 1
    return sealed, events[0]


def received(hub: StateHubStandIn, package_id: str) -> list[dict[str, Any]]:
    """Events the stand-in recorded for one package, without its own bookkeeping fields."""
    return [
        {k: v for k, v in e.items() if k not in ("id", "received_at")}
        for e in hub.events.all()
        if e.get("detail", {}).get("package_id") == package_id
    ]


def invoke_linker(envelope: dict[str, Any]) -> dict[str, Any]:
    """Invoke the linker Lambda with an EventBridge envelope."""
    result: dict[str, Any] = load_handler("linker").lambda_handler(envelope, FakeContext())
    return result


def test_the_link_is_posted_field_for_field_once(
    linked: Configured, statehub: StateHubStandIn
) -> None:
    h = Harness.start(linked)
    links = {"state_hub": {"workstream_id": WORKSTREAM, "task_id": TASK}}
    sealed, envelope = seal_one(h, links=links, run_dir="/tmp/guide-board-run")
    assert envelope["detail-type"] == "ArtifactPackageSealed"

    first = invoke_linker(envelope)
    second = invoke_linker(envelope)  # EventBridge redelivery
    assert first == second and first["status"] == "linked"

    posted = received(statehub, sealed["package_id"])
    assert len(posted) == 1
    run_id = sealed["idempotency_key"]
    assert posted[0] == {
        "event_type": "artifact_link",
        "author": "artifact-store",
        "workstream_id": WORKSTREAM,
        "task_id": TASK,
        "summary": (
            f"guide-board run {run_id} artifacts stored in artifact-store package "
            f"{sealed['package_id']}"
        ),
        "detail": {
            "producer": "guide-board",
            "artifact_store_api_url": "http://127.0.0.1:8000",
            "run_dir": "/tmp/guide-board-run",
            "run_id": run_id,
            "target_profile_ref": run_metadata(run_id)["target_profile_ref"],
            "assessment_profile_ref": run_metadata(run_id)["assessment_profile_ref"],
            "result_status": "passed",
            "package_id": sealed["package_id"],
            "manifest_digest": sealed["manifest_digest"],
            "file_count": 1,
            "retention_class": "release-evidence",
        },
    }
    view = h.client.get(f"/packages/{sealed['package_id']}", headers=AUTH).json()
    assert view["state"] == "sealed"
    assert view["state_hub_link"]["status"] == "linked"
    assert view["state_hub_link"]["http_status"] == 201


def test_without_workstream_and_task_the_package_is_not_linked(
    linked: Configured, statehub: StateHubStandIn
) -> None:
    h = Harness.start(linked)
    sealed, envelope = seal_one(h)
    assert invoke_linker(envelope)["status"] == "not_linked"
    assert not received(statehub, sealed["package_id"])
    view = h.client.get(f"/packages/{sealed['package_id']}", headers=AUTH).json()
    assert view["state_hub_link"]["status"] == "not_linked"


def test_the_canonical_envelope_file_links_a_sealed_package(
    linked: Configured, statehub: StateHubStandIn
) -> None:
    """``eventbridge_package_sealed.json`` has the fields the bus delivers, and, naming a sealed
    package, links it."""
    h = Harness.start(linked)
    links = {"state_hub": {"workstream_id": WORKSTREAM, "task_id": TASK}}
    sealed, delivered = seal_one(h, links=links)
    envelope = load_event("eventbridge_package_sealed.json")
    assert set(envelope) == set(delivered)
    assert set(envelope["detail"]) == set(delivered["detail"])
    envelope["detail"].update(
        package_id=sealed["package_id"],
        idempotency_key=sealed["idempotency_key"],
        manifest_digest=sealed["manifest_digest"],
    )

    result = invoke_linker(envelope)

    assert result["status"] == "linked" and result["http_status"] == 201
    (posted,) = received(statehub, sealed["package_id"])
    assert posted["event_type"] == "artifact_link"
    assert posted["detail"]["manifest_digest"] == sealed["manifest_digest"]


def test_canonical_envelope_file_for_an_unknown_package_fails_loudly(linked: Configured) -> None:
    envelope = load_event("eventbridge_package_sealed.json")
    envelope["detail"]["package_id"] = str(uuid.uuid4())
    from artifactstore.errors import NotFound

    with pytest.raises(NotFound):
        invoke_linker(envelope)


def test_statehub_refusal_is_recorded_not_retried(
    stack: LocalStack, tmp_path: Path, statehub: StateHubStandIn
) -> None:
    import os

    saved = dict(os.environ)
    try:
        cfg = configure(stack, tmp_path / "s", "*:*=local", STATE_HUB_URL=statehub.url + "/nowhere")
        h = Harness.start(cfg)
        links = {"state_hub": {"workstream_id": WORKSTREAM, "task_id": TASK}}
        sealed, envelope = seal_one(h, links=links)
        result = invoke_linker(envelope)
        assert result["status"] == "refused" and result["http_status"] == 404
        view = h.client.get(f"/packages/{sealed['package_id']}", headers=AUTH).json()
        assert view["state_hub_link"]["status"] == "refused"
    finally:
        os.environ.clear()
        os.environ.update(saved)
