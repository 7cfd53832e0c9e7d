"""The contents of packages in the catalog: their files, and the status of their blobs."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

from pynamodb.exceptions import PutError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from artifactstore.adapters.dynamodb import file_list_items as file_lists
from artifactstore.adapters.dynamodb.blob_states import BlobStateStore
from artifactstore.adapters.dynamodb.file_list_items import FILE_END, FILE_PREFIX, chunk_at
from artifactstore.adapters.dynamodb.models import (
    BlobModel,
    FileChunkModel,
    PackageModel,
    draft_ttl,
    item_key,
)
from artifactstore.adapters.dynamodb.support import CONDITION_FAILED, PKG_SK, error_code
from artifactstore.domain.digests import Digest
from artifactstore.domain.manifest import FileEntry
from artifactstore.domain.packages import (
    BlobState,
    BlobStatus,
    HeldBlob,
    PackageFile,
    PackageState,
    Page,
)
from artifactstore.domain.protection import Protection, lock_mode_of
from artifactstore.errors import InvalidInput, NotFound
from artifactstore.workers import parallel_map

VERIFIED_SLICE = 1000  # keys per parallel reader (BatchGetItem takes 100 at a time)


class ContentsStore(BlobStateStore):
    """File chunks (``sk=FILE#<first path>``), blob buckets (``sk=BLOB#<first hex>``), and
    verified blobs. Layout and its reasons: ``docs/catalog.md``."""

    def add_files(
        self,
        package_id: str,
        files: Sequence[FileEntry],
        verified_hex: set[str] | None = None,
        expires_at: datetime | None = None,
    ) -> None:
        """Write the file chunks and blob buckets of a list written in one go (path order),
        with the TTL of a draft expiring at ``expires_at``."""
        ttl = draft_ttl(expires_at) if expires_at is not None else None
        file_lists.add_file_chunks(package_id, files, ttl)
        blobs = {f.digest.hex: f.size for f in files}
        file_lists.add_blob_buckets(package_id, blobs, verified_hex or set(), ttl)

    def mark_files_complete(self, package_id: str) -> None:
        """Record that every file chunk and blob bucket of the package is written."""
        PackageModel(item_key("PKG", package_id), PKG_SK).update(
            actions=[PackageModel.files_complete.set(True)]
        )

    def iter_files(self, package_id: str, after: str | None = None) -> Iterator[FileEntry]:
        """Every file of a package in path order (only those after ``after``, if given)."""
        pk = item_key("PKG", package_id)
        start = FILE_PREFIX
        if after is not None:
            chunk = chunk_at(FileChunkModel, pk, FILE_PREFIX, after)
            start = chunk.sk if chunk else FILE_PREFIX
        # Consistent: sealing and the answers to the request that wrote the list read it.
        for item in FileChunkModel.query(
            pk, FileChunkModel.sk.between(start, FILE_END), consistent_read=True
        ):
            for entry in file_lists.decode_files(item.files):
                if after is None or entry.path > after:  # code points sort as UTF-8 bytes
                    yield entry

    def get_file(self, package_id: str, path: str) -> FileEntry:
        """One file of a package, or NotFound."""
        chunk = chunk_at(FileChunkModel, item_key("PKG", package_id), FILE_PREFIX, path)
        for entry in file_lists.decode_files(chunk.files) if chunk else []:
            if entry.path == path:
                return entry
        raise NotFound(f"package {package_id} has no file {path!r}", code="file_not_found")

    def list_files(self, package_id: str, limit: int, cursor: str | None) -> Page[PackageFile]:
        """One page of a package's files with their blob status (cursor: the last path)."""
        after = _decode_after(cursor)
        files = list(itertools.islice(self.iter_files(package_id, after), limit + 1))
        more = len(files) > limit
        files = files[:limit]
        states = {} if not files else self._page_states(package_id)
        page = []
        for f in files:
            blob = states.get(f.digest.hex)
            status = blob.status if blob else BlobStatus.VERIFIED
            page.append(PackageFile(f, status, blob.seen_digest if blob else None))
        return Page(page, _encode_after(files[-1].path) if more else None)

    def _page_states(self, package_id: str) -> dict[str, BlobState]:
        """The blobs of a draft not yet verified (a sealed package has only verified ones)."""
        if self._state(package_id) is PackageState.SEALED:
            return {}
        return {
            b.digest.hex: b
            for b in self.blob_states(package_id)
            if b.status is not BlobStatus.VERIFIED
        }

    def verified_blobs(self, backend: str, digests: Iterable[Digest]) -> set[str]:
        """Which of ``digests`` (hex) the backend holds, verified (slices read in parallel)."""
        return set(self.held_blobs(backend, digests))

    def held_blobs(self, backend: str, digests: Iterable[Digest]) -> dict[str, Protection | None]:
        """The verified blobs among ``digests`` the backend holds: hex → recorded protection
        (None for a blob recorded before protections were)."""
        return {h: held.protection for h, held in self.held_records(backend, digests).items()}

    def held_records(self, backend: str, digests: Iterable[Digest]) -> dict[str, HeldBlob]:
        """The verified blobs among ``digests`` the backend holds: hex → its record (size,
        protection, producers that proved possession). Slices are read in parallel."""
        keys = sorted({(item_key("BLOB", backend, d.hex), "BLOB") for d in digests})
        slices = [keys[i : i + VERIFIED_SLICE] for i in range(0, len(keys), VERIFIED_SLICE)]

        def held(chunk: list[tuple[str, str]]) -> dict[str, HeldBlob]:
            return {
                item.pk.rsplit("#", 1)[1]: HeldBlob(
                    int(item.size), _protection(item), frozenset(item.producers or ())
                )
                # Consistent: a blob recorded by the verifier a moment ago counts as held.
                for item in BlobModel.batch_get(chunk, consistent_read=True)
            }

        found: dict[str, HeldBlob] = {}
        for part in parallel_map(held, slices):
            found.update(part)
        return found

    def record_blob(
        self,
        backend: str,
        digest: Digest,
        size: int,
        package_id: str,
        now: datetime,
        protection: Protection | None = None,
        producer: str | None = None,
    ) -> None:
        """Record a verified blob, how it is kept, and the producer whose upload proved
        possession. The first writer creates the item; a later one only adds protection it
        applied (``raise_blob_protection``) and its producer (``add_blob_producer``)."""
        item = BlobModel(
            item_key("BLOB", backend, digest.hex),
            "BLOB",
            size=size,
            verified_at=now,
            first_package_id=package_id,
            producers={producer} if producer else None,
        )
        if protection is not None:
            item.expiring = protection.expiring
            item.lock_mode = protection.lock_mode
            item.retain_until = protection.retain_until
            item.expires_at = protection.expires_at
        try:
            item.save(condition=BlobModel.pk.does_not_exist())
        except PutError as exc:
            if error_code(exc) != CONDITION_FAILED:
                raise
            if protection is not None:
                self.raise_blob_protection(backend, digest, protection)
            if producer:
                self.add_blob_producer(backend, digest, producer)

    def add_blob_producer(self, backend: str, digest: Digest, producer: str) -> None:
        """Record that ``producer`` proved possession of a held blob (the verifier hashed its
        upload); a no-op for a blob the backend does not hold."""
        try:
            BlobModel(item_key("BLOB", backend, digest.hex), "BLOB").update(
                actions=[BlobModel.producers.add({producer})],
                condition=BlobModel.pk.exists(),
            )
        except UpdateError as exc:
            if error_code(exc) != CONDITION_FAILED:
                raise

    def raise_blob_protection(self, backend: str, digest: Digest, protection: Protection) -> None:
        """Record protection applied to a held blob; never weakens what the item records.

        The record may lag storage (it is written after the storage request) but never runs
        ahead of it, so a blob is never taken for better kept than it is. Conditional writes:
        the lock end and the expiry date only move later, and ``expiring`` only from true (or
        unknown) to false. One write when only one of them moves.
        """
        item = BlobModel(item_key("BLOB", backend, digest.hex), "BLOB")
        expiring = (
            BlobModel.expiring.set(False)
            if not protection.expiring
            # An unrecorded item learns it may expire: weaker than unknown, never wrong.
            else BlobModel.expiring.set(BlobModel.expiring | True)
        )
        exists = BlobModel.pk.exists()
        moves: list[tuple[list[Action], Condition]] = []
        if protection.retain_until is not None:
            moves.append(
                (
                    [
                        BlobModel.lock_mode.set(protection.lock_mode or ""),
                        BlobModel.retain_until.set(protection.retain_until),
                    ],
                    BlobModel.retain_until.does_not_exist()
                    | (BlobModel.retain_until < protection.retain_until),
                )
            )
        if protection.expires_at is not None:
            moves.append(
                (
                    [BlobModel.expires_at.set(protection.expires_at)],
                    BlobModel.expires_at.does_not_exist()
                    | (BlobModel.expires_at < protection.expires_at),
                )
            )
        recorded = False
        for actions, later in moves:
            try:
                item.update(actions=[expiring, *actions], condition=exists & later)
                recorded = True
            except UpdateError as exc:
                if error_code(exc) != CONDITION_FAILED:
                    raise
        if recorded or (moves and protection.expiring):
            return  # later dates are recorded already, and nothing else to add
        try:
            item.update(actions=[expiring], condition=exists)
        except UpdateError as exc:
            if error_code(exc) != CONDITION_FAILED:
                raise


def _protection(item: BlobModel) -> Protection | None:
    """A blob item's recorded protection; None when recorded before protections were."""
    expiring = item.attribute_values.get("expiring")  # PynamoDB types it as never None
    if expiring is None:
        return None
    return Protection(
        bool(expiring), lock_mode_of(item.lock_mode), item.retain_until, item.expires_at
    )


def _encode_after(path: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": path}).encode()).decode()


def _decode_after(cursor: str | None) -> str | None:
    """A files cursor names the last path of the previous page; anything else is a 400."""
    if not cursor:
        return None
    try:
        after = json.loads(base64.urlsafe_b64decode(cursor.encode()))["after"]
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidInput("invalid pagination cursor", code="invalid_cursor") from exc
    if not isinstance(after, str) or not 0 < len(after.encode("utf-8", "surrogatepass")) <= 4096:
        raise InvalidInput("invalid pagination cursor", code="invalid_cursor")
    return after
