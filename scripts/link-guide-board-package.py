#!/usr/bin/env python3
"""Record a stored guide-board run in State Hub: POST one artifact_link progress event.

Builds the canonical event (the same builder the linker Lambda uses) from the run's run.json,
the ingest result and the stored package (its retention class and file count), then posts it
to $STATE_HUB_URL/progress/. Only identifiers, digests and links are sent, never bytes.
Nothing is posted unless every input is present and consistent.

Environment (the environment wins over a .env file in the current directory):
  STATE_HUB_URL                     State Hub base URL (the event goes to $STATE_HUB_URL/progress/)
  STATE_HUB_WORKSTREAM_ID           workstream the event is filed under
  STATE_HUB_TASK_ID                 task the event is filed under
  GUIDE_BOARD_RUN_DIR               the finalized run directory (its run.json gives run_id,
                                    target_profile_ref, assessment_profile_ref, result_status)
  ARTIFACTSTORE_INGEST_RESULT_PATH  the JSON `artifactstore guide-board ingest` printed
                                    (package_id, manifest_digest)
  ARTIFACTSTORE_API_URL             the artifact-store API (default http://127.0.0.1:8000),
                                    asked for the package and named in the event
  ARTIFACTSTORE_API_TOKEN           bearer token to read the package

On success the posted event and State Hub's answer are printed as one JSON object.
Exit codes: 0 posted; 2 a missing or invalid variable, file or token; 3 the package is
unknown, not sealed, or does not match the run or the ingest result; 4 the API or State Hub
failed or refused the event (its HTTP status is shown).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

REQUIRED = (
    "STATE_HUB_URL",
    "STATE_HUB_WORKSTREAM_ID",
    "STATE_HUB_TASK_ID",
    "GUIDE_BOARD_RUN_DIR",
    "ARTIFACTSTORE_INGEST_RESULT_PATH",
    "ARTIFACTSTORE_API_TOKEN",
)


class Refused(Exception):
    """Bad input: say why, post nothing, exit with ``code``."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def _settings() -> dict[str, str]:
    """Every variable, from the environment or ``.env``; all missing ones named at once."""
    from pydantic import Field
    from pydantic_settings import SettingsConfigDict

    from artifactstore.settings import ClientSettings

    class LinkSettings(ClientSettings):
        model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)
        guide_board_run_dir: str | None = Field(None, alias="GUIDE_BOARD_RUN_DIR")
        ingest_result_path: str | None = Field(None, alias="ARTIFACTSTORE_INGEST_RESULT_PATH")

    try:
        s = LinkSettings()
    except ValueError as exc:
        raise Refused(f"invalid setting: {exc}") from exc
    token = s.api_token.get_secret_value() if s.api_token else None
    values = {
        "STATE_HUB_URL": s.state_hub_url,
        "STATE_HUB_WORKSTREAM_ID": s.state_hub_workstream_id,
        "STATE_HUB_TASK_ID": s.state_hub_task_id,
        "GUIDE_BOARD_RUN_DIR": s.guide_board_run_dir,
        "ARTIFACTSTORE_INGEST_RESULT_PATH": s.ingest_result_path,
        "ARTIFACTSTORE_API_TOKEN": token,
        "ARTIFACTSTORE_API_URL": s.api_url,
    }
    missing = [name for name in REQUIRED if not (values.get(name) or "").strip()]
    if missing:
        raise Refused(f"not set: {', '.join(missing)} (see --help)")
    return {name: str(value).strip() for name, value in values.items()}


def _ingest_result(path: Path) -> tuple[str, str]:
    """``(package_id, manifest_digest)`` from the ingest's JSON output."""
    from artifactstore.domain.digests import Digest
    from artifactstore.errors import ArtifactStoreError

    where = f"ARTIFACTSTORE_INGEST_RESULT_PATH ({path})"
    try:
        result = json.loads(path.read_bytes())
    except FileNotFoundError as exc:
        raise Refused(f"{where} does not exist: save the ingest's output there first") from exc
    except OSError as exc:
        raise Refused(f"cannot read {where}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise Refused(f"{where} is not JSON: {exc}") from exc
    if not isinstance(result, dict):
        raise Refused(f"{where} must hold the JSON object the ingest printed")
    package_id, digest = result.get("package_id"), result.get("manifest_digest")
    missing = [k for k, v in (("package_id", package_id), ("manifest_digest", digest)) if not v]
    if missing or not isinstance(package_id, str):
        raise Refused(f"{where} lacks {', '.join(missing) or 'a string package_id'}")
    try:
        return package_id, str(Digest.parse(digest))
    except ArtifactStoreError as exc:
        raise Refused(f"{where}: manifest_digest: {exc.message}") from exc


def _run_metadata(run_dir: Path) -> dict[str, Any]:
    from artifactstore.domain.rundir import read_run_metadata
    from artifactstore.errors import ArtifactStoreError

    if not run_dir.is_dir():
        raise Refused(f"GUIDE_BOARD_RUN_DIR ({run_dir}) is not a directory")
    try:
        return read_run_metadata(run_dir)
    except ArtifactStoreError as exc:
        raise Refused(f"GUIDE_BOARD_RUN_DIR: {exc.message}") from exc


def _package(api_url: str, token: str, package_id: str) -> dict[str, Any]:
    """The stored package, read with the API token (one page of files is plenty)."""
    from artifactstore.client.api import ApiClient
    from artifactstore.errors import ArtifactStoreError, AuthError, NotFound

    try:
        with ApiClient(api_url, token, timeout=30.0, retries=2) as client:
            answer = client.get_json(f"/packages/{quote(package_id, safe='')}", {"files_limit": 1})
    except NotFound as exc:
        raise Refused(f"package {package_id} is not in {api_url}: {exc.message}", 3) from exc
    except AuthError as exc:
        raise Refused(f"{api_url} refused ARTIFACTSTORE_API_TOKEN: {exc.message}") from exc
    except ArtifactStoreError as exc:
        raise Refused(exc.message, 4) from exc
    if not isinstance(answer, dict):
        raise Refused(f"{api_url} answered something other than a package", 4)
    return answer


def build_event(env: dict[str, str]) -> dict[str, Any]:
    """Check every input against the others, then build the canonical event."""
    from artifactstore.domain.linkevent import build_artifact_link

    package_id, digest = _ingest_result(Path(env["ARTIFACTSTORE_INGEST_RESULT_PATH"]))
    metadata = _run_metadata(Path(env["GUIDE_BOARD_RUN_DIR"]))
    package = _package(env["ARTIFACTSTORE_API_URL"], env["ARTIFACTSTORE_API_TOKEN"], package_id)
    if package.get("state") != "sealed":
        raise Refused(f"package {package_id} is {package.get('state')!r}, not sealed yet", 3)
    if package.get("manifest_digest") != digest:
        raise Refused(
            f"the ingest result's manifest_digest {digest} is not package {package_id}'s "
            f"({package.get('manifest_digest')})",
            3,
        )
    if package.get("idempotency_key") != metadata["run_id"]:
        raise Refused(
            f"GUIDE_BOARD_RUN_DIR holds run {metadata['run_id']!r} but package {package_id} "
            f"stores run {package.get('idempotency_key')!r}",
            3,
        )
    return build_artifact_link(
        workstream_id=env["STATE_HUB_WORKSTREAM_ID"],
        task_id=env["STATE_HUB_TASK_ID"],
        producer=str(package.get("producer") or "guide-board"),
        api_url=env["ARTIFACTSTORE_API_URL"],
        run_dir=env["GUIDE_BOARD_RUN_DIR"],
        metadata=metadata,
        package_id=package_id,
        manifest_digest=digest,
        file_count=int(package["file_count"]),
        retention_class=str(package["retention_class"]),
    )


def post(state_hub_url: str, event: dict[str, Any]) -> tuple[int, Any]:
    """POST the event with the linker's State Hub client (retries 5xx and timeouts)."""
    from artifactstore.adapters.statehub import HttpStateHub
    from artifactstore.errors import ArtifactStoreError

    hub = HttpStateHub(state_hub_url)
    try:
        status, answer = hub.post_progress(event)
    except ArtifactStoreError as exc:
        raise Refused(exc.message, 4) from exc
    if status >= 400:
        raise Refused(
            f"State Hub at {hub.url} refused the event: HTTP {status}: {json.dumps(answer)}", 4
        )
    return status, answer


def main(argv: list[str] | None = None) -> int:
    """Check, build, post; print the event and the answer; return the exit code."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.parse_args(argv)
    try:
        env = _settings()
        event = build_event(env)
        status, answer = post(env["STATE_HUB_URL"], event)
    except Refused as exc:
        print(f"link-guide-board-package: error: {exc}", file=sys.stderr)
        return exc.code
    detail = event["detail"]
    print(
        f"posted artifact_link for run {detail['run_id']} (package {detail['package_id']}) "
        f"to {env['STATE_HUB_URL'].rstrip('/')}/progress/: HTTP {status}",
        file=sys.stderr,
    )
    json.dump(
        {"state_hub_status": status, "state_hub_response": answer, "event": event},
        sys.stdout,
        indent=2,
    )
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
