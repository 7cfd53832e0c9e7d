"""Package routes: thin shells over ``artifactstore.service.packages`` (creation) and
``artifactstore.service.drafts`` (file-list parts, multipart completion, finalize)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from artifactstore.api.auth import READ, Principal, require
from artifactstore.api.errors import ERROR_RESPONSES
from artifactstore.api.file_answers import file_answer
from artifactstore.api.models import BundleBody, CompleteMultipartBody, FilesPartBody, PackageBody
from artifactstore.api.responses import (
    BundleAnswer,
    MultipartCompleted,
    PackageCreated,
    PackagePage,
    PackageView,
    PackageWithFiles,
    PartsPage,
    UploadTargetsPage,
    WaitingPackage,
    documented,
)
from artifactstore.domain.bundles import BUNDLE_MEMBER_MAX
from artifactstore.domain.digests import Digest
from artifactstore.domain.manifest import FileEntry
from artifactstore.domain.packages import PackageState
from artifactstore.domain.paths import validate_path
from artifactstore.service import bundles, drafts, packages, reading, targets
from artifactstore.service.factory import services

router = APIRouter(tags=["packages"], responses=ERROR_RESPONSES)
Writer = Annotated[Principal, Depends(require("write"))]


def _created_view(outcome: packages.CreateOutcome, bundles: bool = False) -> dict[str, Any]:
    record = outcome.record
    view = {
        "package_id": record.package_id,
        "state": record.state.value,
        "reused_existing": outcome.reused_existing,
        "manifest_digest": record.manifest_digest,
        "file_count": record.file_count,
        "total_bytes": record.total_bytes,
        "backend": record.backend,
        "files_complete": record.files_complete,
        "missing_blobs": outcome.missing_blobs,
        "upload_targets": outcome.targets,
        "next_upload_targets_cursor": outcome.next_cursor,
    }
    if bundles:
        view["bundle_blobs"] = _bundle_view(outcome.bundled)
    return view


def _bundle_view(bundled: list[tuple[str, int]]) -> list[dict[str, Any]]:
    return [{"digest": f"blake3:{h}", "size": n} for h, n in bundled]


@router.post(
    "/packages",
    status_code=201,
    response_model=None,
    responses={
        201: {"model": PackageCreated, "description": "A new draft"},
        200: {
            "model": PackageCreated,
            "description": "The open draft resumed, or the sealed package reused",
        },
    },
)
def create_package(body: PackageBody, response: Response, principal: Writer) -> dict[str, Any]:
    """Create a draft (201), resume it or reuse the sealed package (200), or 409."""
    request = packages.NewPackage(
        producer=body.producer,
        idempotency_key=body.idempotency_key,
        retention_class=body.retention_class,
        schema=body.schema_,
        metadata=body.metadata,
        files=[FileEntry.from_json(f.model_dump()) for f in body.files],
        run_dir=body.run_dir,
        links=body.links.model_dump(exclude_none=True) if body.links else {},
        declared_manifest_digest=body.manifest_digest,
        file_count=body.file_count,
        bundle_below=body.bundle_below,
    )
    outcome = packages.create_or_resume(services(), principal, request)
    response.status_code = 201 if outcome.created else 200
    return _created_view(outcome, bundles=body.bundle_below > 0)


@router.post(
    "/packages/{package_id}/files", response_model=None, responses=documented(PackageCreated)
)
def add_files(package_id: str, body: FilesPartBody, principal: Writer) -> dict[str, Any]:
    """Add a part of a file list too big for one request; ``complete`` closes the list and
    answers with the first upload targets (idempotent: a part sent twice changes nothing)."""
    svc = services()
    files = [FileEntry.from_json(f.model_dump()) for f in body.files]
    outcome = drafts.add_files_part(
        svc, principal, package_id, files, body.complete, body.bundle_below
    )
    return _created_view(outcome, bundles=body.bundle_below > 0)


@router.get(
    "/packages", dependencies=[READ], response_model=None, responses=documented(PackagePage)
)
def list_packages(
    producer: Annotated[str | None, Query(pattern=packages.PRODUCER_PATTERN)] = None,
    state: PackageState | None = None,
    key: Annotated[str | None, Query(min_length=1, max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Packages newest first, by producer and/or state (a page ends early past 4 MB)."""
    return reading.packages_page(
        services(),
        producer=producer,
        state=state.value if state else None,
        key=key,
        limit=limit,
        cursor=cursor,
    )


@router.get(
    "/packages/{package_id}",
    dependencies=[READ],
    response_model=None,
    responses=documented(PackageWithFiles),
)
def get_package(
    package_id: str,
    files_cursor: str | None = None,
    files_limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    """A package with one page of its files and their status (a page ends early past 4 MB)."""
    return reading.package_with_files(services(), package_id, files_limit, files_cursor)


@router.get(
    "/packages/{package_id}/upload-targets",
    response_model=None,
    responses=documented(UploadTargetsPage),
)
def get_upload_targets(
    package_id: str,
    principal: Writer,
    cursor: str | None = None,
    bundle_below: Annotated[int, Query(ge=0, le=BUNDLE_MEMBER_MAX + 1)] = 0,
) -> dict[str, Any]:
    """Fresh upload targets for blobs still missing, a page at a time; with ``bundle_below``,
    the smaller ones are listed in ``bundle_blobs`` for bundles instead."""
    svc = services()
    page = targets.upload_targets(svc, principal, package_id, cursor, bundle_below)
    view = {
        "upload_targets": page.targets,
        "next_cursor": page.next_cursor,
        "missing_blobs": page.missing,
    }
    if bundle_below:
        view["bundle_blobs"] = _bundle_view(page.bundled)
    return view


@router.get(
    "/packages/{package_id}/upload-targets/{digest}/parts",
    response_model=None,
    responses=documented(PartsPage),
)
def get_upload_parts(
    package_id: str,
    digest: str,
    principal: Writer,
    upload_id: Annotated[str, Query(min_length=1, max_length=1024)],
    cursor: str | None = None,
) -> dict[str, Any]:
    """More presigned parts of a multipart upload target (its ``upload_id``), from the
    ``next_parts_cursor`` the target carried (or this route's ``next_cursor``), as many as fit
    one answer's byte budget."""
    svc = services()
    return targets.part_page(svc, principal, package_id, Digest.parse(digest), upload_id, cursor)


@router.post(
    "/packages/{package_id}/bundles",
    status_code=201,
    response_model=None,
    responses={
        201: {"model": BundleAnswer, "description": "The bundle's upload target"},
        200: {
            "model": BundleAnswer,
            "description": "Every blob named is verified already: nothing to send",
        },
    },
)
def request_bundle(
    package_id: str, body: BundleBody, response: Response, principal: Writer
) -> dict[str, Any]:
    """An upload target for one bundle: the named small blobs' bytes, concatenated in the
    order of the answer's ``blobs`` (those verified meanwhile are left out)."""
    svc = services()
    outcome = bundles.request_bundle(svc, principal, package_id, body.blobs)
    response.status_code = 201 if outcome.target else 200
    return {
        "bundle_id": outcome.bundle_id,
        "blobs": [str(d) for d in outcome.members],
        "size": outcome.size,
        "upload_target": targets.target_json(outcome.target) if outcome.target else None,
    }


@router.post("/packages/{package_id}/multipart/complete")
def complete_multipart(
    package_id: str, body: CompleteMultipartBody, principal: Writer
) -> MultipartCompleted:
    """Complete a multipart upload from its parts' ETags."""
    svc = services()
    etags = [p.etag for p in sorted(body.parts, key=lambda p: p.part_number)]
    drafts.complete_multipart(
        svc, principal, package_id, Digest.parse(body.digest), body.upload_id, etags
    )
    return MultipartCompleted(package_id=package_id, digest=body.digest, status="completed")


@router.post(
    "/packages/{package_id}/finalize",
    response_model=None,
    responses={
        200: {"model": PackageView, "description": "Sealed"},
        202: {
            "model": WaitingPackage,
            "description": "Waiting for verification (waiting_for blobs)",
        },
    },
)
def finalize_package(package_id: str, response: Response, principal: Writer) -> dict[str, Any]:
    """200 sealed, 202 waiting for verification, 409 with the rejected files."""
    svc = services()
    outcome = drafts.finalize(svc, principal, package_id)
    if outcome.rejected:
        from artifactstore.errors import Conflict

        raise Conflict(
            f"{len(outcome.rejected)} file(s) were rejected: their bytes did not match; "
            "upload them again (POST /packages gives fresh targets)",
            code="files_rejected",
            details={"rejected": outcome.rejected},
        )
    view = reading.package_view(outcome.record)
    if outcome.record.state is PackageState.SEALED:
        response.status_code = 200
        return view
    response.status_code = 202
    return {**view, "waiting_for": outcome.record.waiting_for}


@router.get("/packages/{package_id}/manifest", dependencies=[READ])
def get_manifest(package_id: str) -> Response:
    """The exact canonical manifest bytes."""
    data, digest = reading.manifest_bytes(services(), package_id)
    return Response(
        data,
        media_type="application/json",
        headers={"ETag": f'"{digest}"', "X-Manifest-Digest": digest},
    )


@router.get(
    "/packages/{package_id}/files/{path:path}",
    dependencies=[READ],
    responses={200: {"description": "The bytes of a small file held in a pack"}},
)
def get_file(package_id: str, path: str) -> Response:
    """302 to a short-lived URL of the file's blob, or 200 with a packed file's bytes."""
    return file_answer(reading.file_source(services(), package_id, validate_path(path)))
