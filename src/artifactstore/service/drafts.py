"""Draft use cases after creation: more file-list parts, multipart completion, finalize."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from artifactstore.domain.digests import Digest
from artifactstore.domain.manifest import FileEntry
from artifactstore.domain.packages import BlobStatus, PackageRecord, PackageState
from artifactstore.domain.tokens import Caller
from artifactstore.errors import Conflict, Gone, InvalidInput
from artifactstore.service import file_lists
from artifactstore.service.access import owned_package
from artifactstore.service.context import Services
from artifactstore.service.packages import CreateOutcome, complete_and_target
from artifactstore.service.sealing import try_seal
from artifactstore.service.targets import reconcile_pending


def add_files_part(
    svc: Services,
    caller: Caller,
    package_id: str,
    files: Sequence[FileEntry],
    complete: bool,
    bundle_below: int = 0,
) -> CreateOutcome:
    """``POST /packages/{id}/files``: one more part; with ``complete`` the list is closed."""
    record = owned_package(svc, caller, package_id)
    if not record.files_complete:  # a part re-sent after completion changes nothing
        file_lists.add_part(svc, record, files)
    if not complete:
        return CreateOutcome(
            record=record,
            created=False,
            reused_existing=False,
        )
    return complete_and_target(svc, record, created=False, bundle_below=bundle_below)


def complete_multipart(
    svc: Services,
    caller: Caller,
    package_id: str,
    digest: Digest,
    upload_id: str,
    etags: Sequence[str],
) -> None:
    """Complete a client's multipart upload (the bytes never pass through here)."""
    record = owned_package(svc, caller, package_id)
    if record.state is not PackageState.DRAFT:
        raise Conflict(f"package {package_id} is {record.state.value}", code="not_a_draft")
    if svc.catalog.get_blob_state(package_id, digest) is None:
        raise InvalidInput(f"package {package_id} lists no blob {digest}", code="blob_not_listed")
    svc.storage(record.backend).complete_multipart(package_id, digest, upload_id, etags)


@dataclass(slots=True)
class FinalizeOutcome:
    """``sealed``, ``waiting`` (202) or ``rejected`` (409)."""

    record: PackageRecord
    rejected: list[dict[str, Any]]


def finalize(svc: Services, caller: Caller, package_id: str) -> FinalizeOutcome:
    """The client is done: seal now if every blob is verified, else when the last one is."""
    record = owned_package(svc, caller, package_id)
    if record.state is PackageState.EXPIRED:
        raise Gone(f"package {package_id} expired before it was sealed", code="package_expired")
    if record.state is PackageState.DRAFT:
        svc.catalog.request_finalize(package_id)
        reconcile_pending(svc, record)
        try_seal(svc, package_id)
        record = svc.catalog.get_package(package_id)
    rejected: list[dict[str, Any]] = []
    if record.state is PackageState.DRAFT and record.rejected_count:
        bad = {b.digest.hex: b for b in svc.catalog.blob_states(package_id, BlobStatus.REJECTED)}
        rejected = [
            {"path": f.path, "digest": str(f.digest), "seen_digest": bad[f.digest.hex].seen_digest}
            for f in svc.catalog.iter_files(package_id)
            if f.digest.hex in bad
        ]
    return FinalizeOutcome(record, rejected)
