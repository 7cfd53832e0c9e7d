"""The CLI splits a file list by bytes as well as by count: no request body over the API's limit.

On AWS a request body travels inside a Lambda invocation event (6 MB at most) as a JSON
string, escaped once more; the API refuses bodies over ``MAX_BODY_BYTES`` (5.5 MB). A list of
100,000 files with 1,000-byte paths is about 110 MB of JSON.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from artifactstore.api.app import MAX_BODY_BYTES
from artifactstore.client.api import ApiClient
from artifactstore.client.ingest import _create

LAMBDA_PAYLOAD = 6_000_000  # a synchronous invocation's event, in bytes (6 MB, rounded down)

DIGEST = "blake3:" + "ab" * 32


def _files(count: int, path_bytes: int, char: str = "p") -> list[dict[str, Any]]:
    width = len(str(count))
    stem = char * ((path_bytes - width - 1) // len(char.encode()))
    return [
        {"path": f"{stem}/{i:0{width}}", "size": 7, "digest": DIGEST, "executable": False}
        for i in range(count)
    ]


class Recorder:
    """A fake API that takes every part and records the raw bytes of each request body."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, bytes]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append((request.url.path, request.content))
        body = json.loads(request.content)
        if request.url.path == "/packages":
            return httpx.Response(201, json={"package_id": "p1", "files_complete": False})
        complete = body.get("complete", False)
        return httpx.Response(200, json={"package_id": "p1", "files_complete": complete})


def _package(files: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "producer": "guide-board",
        "idempotency_key": "run-1",
        "retention_class": "release-evidence",
        "schema": "guide-board.run.v1",
        "metadata": {"run_id": "run-1", "notes": 'é"\\' * 2000},
        "files": files,
        "run_dir": "/runs/run-1",
    }


@pytest.mark.parametrize(
    ("count", "char"),
    [(100_000, "p"), (100_000, "é"), (20_000, '"')],
    ids=["ascii", "two-byte-utf8", "quotes-escaped-twice"],
)
def test_a_huge_file_list_goes_in_parts_each_within_the_limit(count: int, char: str) -> None:
    files = _files(count, 1000, char)
    recorder = Recorder()
    client = ApiClient("http://api.test", "t", transport=httpx.MockTransport(recorder), retries=0)
    with client:
        _create(client, _package(files))
    sent = [json.loads(body) for _path, body in recorder.bodies]
    assert recorder.bodies[0][0] == "/packages"
    assert all(path == "/packages/p1/files" for path, _ in recorder.bodies[1:])
    # Every body within the API's limit, and within Lambda's 6 MB as an event carries it.
    assert MAX_BODY_BYTES <= 5_500_000
    for _path, body in recorder.bodies:
        assert len(body) <= MAX_BODY_BYTES
        # The body as a Lambda event's "body" string (escaped again), with room for the rest.
        assert len(json.dumps(body.decode())) <= LAMBDA_PAYLOAD - 100_000
    # The whole list, in order, exactly once; only the last part completes it.
    assert [f for part in sent for f in part["files"]] == files
    assert sent[0]["file_count"] == count
    assert [part.get("complete", False) for part in sent[1:]] == [False] * (len(sent) - 2) + [True]
    assert len(sent) > count // 20_000  # the old 20,000-a-request split: bodies of 22+ MB


def test_a_small_list_is_one_request() -> None:
    recorder = Recorder()
    client = ApiClient("http://api.test", "t", transport=httpx.MockTransport(recorder), retries=0)
    with client:
        _create(client, _package(_files(10, 50)))
    assert len(recorder.bodies) == 1
    assert "file_count" not in json.loads(recorder.bodies[0][1])


def test_split_files_counts_and_bytes() -> None:
    from artifactstore.client.ingest import event_size, split_files

    files = _files(10, 100)
    assert split_files(files, 3, 10_000, 10_000) == [files[0:3], files[3:6], files[6:9], files[9:]]
    one = event_size(files[0]) + 1
    assert split_files(files, 100, 2 * one, 2 * one) == [files[i : i + 2] for i in range(0, 10, 2)]
    assert split_files(files, 100, 1, 1) == [[f] for f in files]  # at least one entry a part
    assert split_files([], 5, 100, 100) == [[]]
