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
        in_moto = counted_in_moto(self.cfg.stack)
        items, versions = (
            in_moto if in_moto is not None else counted_through_the_api(self.cfg.stack)
        )
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


def counted_through_the_api(stack: LocalStack) -> tuple[int, int]:
    """Items in the catalog table (a COUNT scan), object versions and delete markers in the
    bucket (ListObjectVersions)."""
    items = 0
    for page in (
        boto3.client("dynamodb")
        .get_paginator("scan")
        .paginate(TableName=stack.table, Select="COUNT")
    ):
        items += page["Count"]
    versions = 0
    s3 = boto3.client("s3")
    for listing in s3.get_paginator("list_object_versions").paginate(Bucket=stack.bucket):
        versions += len(listing.get("Versions", [])) + len(listing.get("DeleteMarkers", []))
    return items, versions


def counted_in_moto(stack: LocalStack) -> tuple[int, int] | None:
    """What ``counted_through_the_api`` counts, read from moto's state in this process (the
    ``moto_server`` fixture's), or None when this process's moto does not hold the stack.

    Through the API each count costs as much as the session's shared table and bucket hold:
    moto's ListObjectVersions deep-copies every stored body (0.35 s a call once one 81 MiB
    upload is there) and a COUNT scan sizes every item, and the API tests count before and
    after each refused request, hundreds of times a session.
    """
    from moto.dynamodb.models import dynamodb_backends
    from moto.s3.models import s3_backends

    try:
        partition, account = s3_backends.bucket_accounts[stack.bucket]
        bucket = s3_backends[account][partition].buckets[stack.bucket]
        table = dynamodb_backends[account][stack.region].tables[stack.table]
    except KeyError:
        return None
    # the catalog's base-table items; every version and delete marker of every key
    return len(table), sum(len(versions) for _key, versions in bucket.keys.iterlists())


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
