"""What the API tests share: a configured app, valid bodies, and a count of everything stored."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
from fastapi.testclient import TestClient
from localdev.stack import LocalStack

from artifactstore.api.app import create_app
from artifactstore.service.factory import services
from artifactstore.settings import service_settings
from tests.integration.conftest import Configured, configure
from tests.integration.flow import AUTH, SCHEMA, digest_of, run_metadata

# guide-board goes to S3 and "lab" to the local folder; no rule covers anyone else.
ROUTES = "guide-board:*=s3,lab:*=local"


@dataclass(frozen=True)
class Stored:
    """How much the catalog and both storage backends hold."""

    catalog_items: int
    s3_objects: int
    local_files: int


@dataclass
class Api:
    """The app under a test client, against the moto stack."""

    cfg: Configured
    client: TestClient

    def stored(self) -> Stored:
        """Count every catalog item, every S3 object version and every local file."""
        table = self.cfg.stack.table
        items = 0
        for page in (
            boto3.client("dynamodb").get_paginator("scan").paginate(TableName=table, Select="COUNT")
        ):
            items += page["Count"]
        versions = 0
        s3 = boto3.client("s3")
        for listing in s3.get_paginator("list_object_versions").paginate(
            Bucket=self.cfg.stack.bucket
        ):
            versions += len(listing.get("Versions", [])) + len(listing.get("DeleteMarkers", []))
        root = self.cfg.storage_dir
        files = sum(1 for p in root.rglob("*") if p.is_file()) if root.exists() else 0
        return Stored(items, versions, files)

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        """POST a JSON body with the admin token (unless other headers are given)."""
        answer: httpx.Response = self.client.post(path, json=body, headers=headers or AUTH)
        return answer

    def register_pilot_schema(self) -> None:
        """The guide-board schema, registered (again) so packages can name it."""
        answer = self.post(
            "/metadata-schemas", {"slug": "guide-board.run.v1", "json_schema": SCHEMA}
        )
        assert answer.status_code in (200, 201), answer.text


def package_body(producer: str = "guide-board", **changes: Any) -> dict[str, Any]:
    """A valid POST /packages body with fresh content; ``changes`` replace fields."""
    key = str(uuid.uuid4())
    data = key.encode()
    body: dict[str, Any] = {
        "producer": producer,
        "idempotency_key": key,
        "retention_class": "ephemeral",
        "schema": "guide-board.run.v1",
        "metadata": run_metadata(key),
        "files": [
            {"path": "run.json", "size": len(data), "digest": digest_of(data)},
            {"path": "logs/a.log", "size": 1, "digest": digest_of(b"a")},
        ],
    }
    body.update(changes)
    return body


def assert_error(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The answer is the one error body with this status and code; returns its ``error``."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert isinstance(error["message"], str) and error["message"]
    assert error["code"] == code, error
    return error


def api_for(stack: LocalStack, tmp_path: Path, routes: str = ROUTES) -> Iterator[Api]:
    """Configure services for one test, yield the app, restore the environment after."""
    saved = dict(os.environ)
    try:
        cfg = configure(stack, tmp_path / "storage", routes)
        yield Api(cfg, TestClient(create_app(), raise_server_exceptions=False))
    finally:
        os.environ.clear()
        os.environ.update(saved)
        service_settings.cache_clear()
        services.cache_clear()


class LogRecorder(logging.Handler):
    """Keeps every log line (``name message``) so a test can search them for secrets."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Record one formatted line."""
        self.lines.append(logging.Formatter("%(name)s %(message)s").format(record))
