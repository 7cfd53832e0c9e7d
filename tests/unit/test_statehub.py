"""The State Hub stand-in: one protocol, answered alike by its HTTP server and its API routes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from localdev.statehub import EventLog, StateHubStandIn, progress_router

EVENT = {"event_type": "artifact_link", "summary": "one", "detail": {"package_id": "p-1"}}
REQUESTS = [
    ("GET", "/progress/", b""),
    ("POST", "/progress/", b'{"event_type": "artifact_link", "summary": "one", '
     b'"detail": {"package_id": "p-1"}}'),
    ("POST", "/progress", b"[1]"),
    ("POST", "/progress/", b"not json"),
    ("GET", "/progress", b""),
]  # fmt: skip


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[StateHubStandIn]:
    stand_in = StateHubStandIn(tmp_path / "hub.jsonl", port=0)
    stand_in.start()
    yield stand_in
    stand_in.stop()


def without_bookkeeping(answer: Any) -> Any:
    """An answer with the stand-in's own ids and times taken out (they differ run to run)."""
    if isinstance(answer, dict) and set(answer) == {"id"}:
        return {"id": "ID"}
    if isinstance(answer, dict) and "items" in answer:
        items = [
            {k: v for k, v in i.items() if k not in ("id", "received_at")} for i in answer["items"]
        ]
        return {**answer, "items": items}
    return answer


def test_the_server_and_the_api_routes_answer_alike(hub: StateHubStandIn, tmp_path: Path) -> None:
    app = FastAPI()
    app.include_router(progress_router(EventLog(tmp_path / "api.jsonl")))
    api = TestClient(app)
    answers = []
    for method, path, body in REQUESTS:
        served = httpx.request(method, hub.url + path, content=body)
        routed = api.request(method, path, content=body)
        assert (served.status_code, without_bookkeeping(served.json())) == (
            routed.status_code,
            without_bookkeeping(routed.json()),
        ), (method, path, body)
        answers.append((served.status_code, without_bookkeeping(served.json())))
    refused = {"code": "invalid_input", "message": "body must be a JSON object", "details": None}
    assert answers == [
        (200, {"items": [], "count": 0}),
        (201, {"id": "ID"}),
        (422, {"error": refused}),
        (422, {"error": refused}),
        (200, {"items": [EVENT], "count": 1}),
    ]


def test_the_server_refuses_other_paths(hub: StateHubStandIn) -> None:
    answer = httpx.post(hub.url + "/nowhere", json=EVENT)
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"
    assert hub.events.all() == []


def test_what_is_recorded_survives_a_restart(tmp_path: Path) -> None:
    first = StateHubStandIn(tmp_path / "hub.jsonl", port=0)
    first.start()
    created = httpx.post(first.url + "/progress/", json=EVENT).json()
    first.stop()
    second = StateHubStandIn(tmp_path / "hub.jsonl", port=0)
    second.start()
    try:
        (item,) = httpx.get(second.url + "/progress/").json()["items"]
    finally:
        second.stop()
    assert item["id"] == created["id"]
    assert {k: v for k, v in item.items() if k not in ("id", "received_at")} == EVENT
