"""Helpers that drive the API, the uploads and the event path like a client and AWS would."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import blake3
import httpx
import rfc8785
from fastapi.testclient import TestClient
from localdev.events import sqs_record

from artifactstore.api.app import create_app
from tests.integration.conftest import Configured
from tests.lambda_runtime import FakeContext, delete_messages, load_handler, queue_arn, receive_all

ROOT = Path(__file__).resolve().parents[2]
AUTH = {"Authorization": "Bearer test-admin-token"}
SCHEMA = json.loads((ROOT / "schemas" / "guide-board.run.v1.json").read_text())


def digest_of(data: bytes) -> str:
    """Independent BLAKE3 digest (not the project's code)."""
    return "blake3:" + blake3.blake3(data).hexdigest()


def expected_manifest_digest(
    key: str, metadata: dict[str, Any], files: dict[str, bytes], schema: str = "guide-board.run.v1"
) -> str:
    """The contract digest computed straight from blake3 and rfc8785."""
    entries = [
        {"path": p, "size": len(files[p]), "digest": digest_of(files[p])}
        for p in sorted(files, key=lambda p: p.encode())
    ]
    manifest: dict[str, Any] = {
        "manifest_version": 1,
        "producer": "guide-board",
        "idempotency_key": key,
        "schema": schema,
        "metadata": metadata,
        "files": entries,
    }
    return digest_of(rfc8785.dumps(manifest))


def run_metadata(run_id: str, **extra: Any) -> dict[str, Any]:
    """A valid guide-board run.json object."""
    return {
        "run_id": run_id,
        "target_profile_ref": "profiles/targets/t.json",
        "assessment_profile_ref": "profiles/assessments/a.json",
        "result_status": "passed",
        **extra,
    }


@dataclass
class Harness:
    """One configured backend with a test client and the Lambda handlers."""

    cfg: Configured
    client: TestClient

    @classmethod
    def start(cls, cfg: Configured) -> Harness:
        """Build the app and register the pilot schema."""
        client = TestClient(create_app())
        answer = client.post(
            "/metadata-schemas",
            json={"slug": "guide-board.run.v1", "json_schema": SCHEMA},
            headers=AUTH,
        )
        assert answer.status_code in (200, 201), answer.text
        return cls(cfg, client)

    def create(self, key: str, files: dict[str, bytes], **extra: Any) -> httpx.Response:
        """POST /packages for these files."""
        body = {
            "producer": "guide-board",
            "idempotency_key": key,
            "retention_class": "release-evidence",
            "schema": "guide-board.run.v1",
            "metadata": extra.pop("metadata", None) or run_metadata(key),
            "files": [
                {"path": p, "size": len(d), "digest": digest_of(d)} for p, d in files.items()
            ],
            **extra,
        }
        answer: httpx.Response = self.client.post("/packages", json=body, headers=AUTH)
        return answer

    def upload(self, target: dict[str, Any], data: bytes) -> None:
        """Send bytes to an upload target: to S3 directly, or to our signed local route."""
        if "parts" in target:
            raise NotImplementedError("multipart in tests goes through upload_multipart")
        url = target["url"]
        headers = target["headers"]
        if url.startswith(self.cfg.svc.public_api_url):
            parts = urlsplit(url)
            answer = self.client.put(f"{parts.path}?{parts.query}", content=data, headers=headers)
        else:
            answer = httpx.put(url, content=data, headers=headers)
        assert answer.status_code == 200, answer.text

    def upload_multipart(
        self, package_id: str, target: dict[str, Any], data: bytes
    ) -> httpx.Response:
        """PUT every part of a multipart target as the CLI does (to S3 directly), then ask the
        API to complete the upload; the API's answer."""
        parts = []
        for part in target["parts"]:
            chunk = data[part["offset"] : part["offset"] + part["size"]]
            answer = httpx.put(part["url"], content=chunk, headers=target["headers"])
            assert answer.status_code == 200, answer.text
            parts.append({"part_number": part["part_number"], "etag": answer.headers["ETag"]})
        body = {"digest": target["digest"], "upload_id": target["upload_id"], "parts": parts}
        completed: httpx.Response = self.client.post(
            f"/packages/{package_id}/multipart/complete", json=body, headers=AUTH
        )
        return completed

    def notifications(self) -> list[dict[str, Any]]:
        """ObjectCreated notifications waiting on the queue (received, not acknowledged)."""
        url = self.cfg.env["ARTIFACTSTORE_LOCAL_NOTIFY_QUEUE_URL"]
        messages = receive_all(url)
        delete_messages(url, messages)
        arn = queue_arn(url)
        return [sqs_record(m, arn) for m in messages]

    def verify(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        """Invoke the verifier Lambda with one SQS batch."""
        handler = load_handler("verifier").lambda_handler
        result: dict[str, Any] = handler({"Records": records}, FakeContext())
        return result

    def pump(self) -> int:
        """Deliver every pending notification to the verifier; returns how many were uploads."""
        records = self.notifications()
        for start in range(0, len(records), 10):
            result = self.verify(records[start : start + 10])
            assert result == {"batchItemFailures": []}, result
        return sum("ObjectCreated" in r["body"] for r in records)
