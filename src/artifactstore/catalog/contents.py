"""The contents of packages in the catalog: their files, and the status of their blobs."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from artifactstore.catalog import file_lists
from artifactstore.catalog.models import (
    BlobModel,
    PackageBlobModel,
    PackageFileModel,
    PackageModel,
    item_key,
)
from artifactstore.catalog.support import (
    CONDITION_FAILED,
    PKG_SK,
    TRANSACTION_CANCELED,
    CatalogTable,
    StaleWrite,
    decode_cursor,
    encode_cursor,
    error_code,
)
from artifactstore.domain.digests import Digest
from artifactstore.domain.manifest import FileEntry
from artifactstore.domain.packages import BlobState, BlobStatus, PackageFile, PackageState, Page
from artifactstore.errors import NotFound


class ContentsStore(CatalogTable):
    """File items (``sk=FILE#<path>``), blob items (``sk=BLOB#<hex>``), verified blobs."""

    def _state(self, package_id: str) -> PackageState:
        item = PackageModel.get(item_key("PKG", package_id), PKG_SK, consistent_read=True)
        return PackageState(item.state)

    def add_files(
        self, package_id: str, files: Sequence[FileEntry], verified_hex: set[str] | None = None
    ) -> None:
        """Write the file and blob items of a list written in one go (see ``file_lists``)."""
        file_lists.add_file_items(package_id, files)
        blobs = {f.digest.hex: f.size for f in files}
        file_lists.add_blob_items(package_id, blobs, verified_hex or set())

    def mark_files_complete(self, package_id: str) -> None:
        """Record that every file and blob item of the package is written."""
        PackageModel(item_key("PKG", package_id), PKG_SK).update(
            actions=[PackageModel.files_complete.set(True)]
        )

    def iter_files(self, package_id: str) -> Iterator[FileEntry]:
        """Every file of a package, in path order."""
        for item in PackageFileModel.query(
            item_key("PKG", package_id), PackageFileModel.sk.startswith("FILE#")
        ):
            yield FileEntry(item.path, int(item.size), Digest.parse(item.digest), item.executable)

    def get_file(self, package_id: str, path: str) -> FileEntry:
        """One file of a package, or NotFound."""
        try:
            item = PackageFileModel.get(item_key("PKG", package_id), "FILE#" + path)
        except DoesNotExist as exc:
            raise NotFound(
                f"package {package_id} has no file {path!r}", code="file_not_found"
            ) from exc
        return FileEntry(item.path, int(item.size), Digest.parse(item.digest), item.executable)

    def list_files(self, package_id: str, limit: int, cursor: str | None) -> Page[PackageFile]:
        """One page of a package's files with their blob status."""
        pk = item_key("PKG", package_id)
        result = PackageFileModel.query(
            pk,
            PackageFileModel.sk.startswith("FILE#"),
            limit=limit,
            last_evaluated_key=decode_cursor(cursor, {"pk": pk}, ("sk",)),
        )
        files = list(result)
        wanted = {(pk, "BLOB#" + Digest.parse(f.digest).hex) for f in files}
        states = {b.digest: b for b in PackageBlobModel.batch_get(wanted)} if wanted else {}
        page = []
        for f in files:
            blob = states.get(f.digest)
            status = BlobStatus(blob.status) if blob else BlobStatus.PENDING
            entry = FileEntry(f.path, int(f.size), Digest.parse(f.digest), f.executable)
            page.append(PackageFile(entry, status, blob.seen_digest if blob else None))
        return Page(page, encode_cursor(result.last_evaluated_key))

    def blob_states(self, package_id: str, status: BlobStatus | None = None) -> Iterator[BlobState]:
        """The package's distinct blobs, optionally only those in one status."""
        condition = PackageBlobModel.status == status.value if status else None
        for item in PackageBlobModel.query(
            item_key("PKG", package_id),
            PackageBlobModel.sk.startswith("BLOB#"),
            filter_condition=condition,
        ):
            yield BlobState(
                Digest.parse(item.digest), int(item.size), BlobStatus(item.status), item.seen_digest
            )

    def get_blob_state(self, package_id: str, digest: Digest) -> BlobState | None:
        """One distinct blob of a package, or None when the package does not list it."""
        try:
            item = PackageBlobModel.get(
                item_key("PKG", package_id), "BLOB#" + digest.hex, consistent_read=True
            )
        except DoesNotExist:
            return None
        return BlobState(digest, int(item.size), BlobStatus(item.status), item.seen_digest)

    def set_blob_status(
        self, package_id: str, digest: Digest, new: BlobStatus, seen: str | None = None
    ) -> bool:
        """Move one blob to ``new`` and adjust the package's counters, in one transaction.

        Returns False when the blob already had that status (a redelivery): nothing is counted
        twice. A verified blob never goes back.
        """
        for _ in range(5):
            current = self.get_blob_state(package_id, digest)
            if current is None:
                raise NotFound(
                    f"package {package_id} lists no blob {digest}", code="blob_not_listed"
                )
            if current.status == new or current.status is BlobStatus.VERIFIED:
                return False
            pk = item_key("PKG", package_id)
            blob = PackageBlobModel(pk, "BLOB#" + digest.hex)
            package = PackageModel(pk, PKG_SK)
            deltas = {
                BlobStatus.VERIFIED: PackageModel.verified_count,
                BlobStatus.REJECTED: PackageModel.rejected_count,
            }
            actions: list[Action] = [deltas[new].add(1)]
            if current.status in deltas:
                actions.append(deltas[current.status].add(-1))
            try:
                with TransactWrite(connection=self._connection()) as tx:
                    tx.update(
                        blob,
                        actions=[
                            PackageBlobModel.status.set(new.value),
                            PackageBlobModel.seen_digest.set(seen)
                            if seen
                            else PackageBlobModel.seen_digest.remove(),
                        ],
                        condition=PackageBlobModel.status == current.status.value,
                    )
                    tx.update(package, actions=actions, condition=PackageModel.state == "draft")
                return True
            except TransactWriteError as exc:
                if error_code(exc) != TRANSACTION_CANCELED:
                    raise
                if self._state(package_id) is not PackageState.DRAFT:
                    return False
        raise StaleWrite(f"blob {digest} of package {package_id} kept changing")

    def verified_blobs(self, backend: str, digests: Iterable[Digest]) -> set[str]:
        """Which of ``digests`` (hex) the backend holds, verified."""
        keys = {(item_key("BLOB", backend, d.hex), "BLOB") for d in digests}
        return {item.pk.rsplit("#", 1)[1] for item in BlobModel.batch_get(keys)} if keys else set()

    def record_blob(
        self, backend: str, digest: Digest, size: int, package_id: str, now: datetime
    ) -> None:
        """Record a verified blob (first writer wins; later ones change nothing)."""
        item = BlobModel(
            item_key("BLOB", backend, digest.hex),
            "BLOB",
            size=size,
            verified_at=now,
            first_package_id=package_id,
        )
        try:
            item.save(condition=BlobModel.pk.does_not_exist())
        except PutError as exc:
            if error_code(exc) != CONDITION_FAILED:
                raise
