"""The catalog adapter: conditional writes and transactions over the single table."""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import (
    DoesNotExist,
    PutError,
    TransactWriteError,
    UpdateError,
)
from pynamodb.expressions.condition import Condition, Or
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from artifactstore.catalog import file_lists
from artifactstore.catalog.models import (
    BlobModel,
    KeyClaimModel,
    PackageBlobModel,
    PackageFileModel,
    PackageModel,
    SchemaModel,
    TokenModel,
    bind_table,
    item_key,
)
from artifactstore.domain.digests import Digest
from artifactstore.domain.manifest import FileEntry, canonical_json
from artifactstore.domain.packages import (
    BlobState,
    BlobStatus,
    PackageFile,
    PackageRecord,
    PackageState,
    Page,
)
from artifactstore.domain.schemas import SLUG_RE, MetadataSchema
from artifactstore.errors import ArtifactStoreError, Conflict, InvalidInput, NotFound

CONDITION_FAILED = "ConditionalCheckFailedException"
TRANSACTION_CANCELED = "TransactionCanceledException"
PKG_SK = "PKG"
_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
OUTBOX = "OUTBOX"


class KeyTaken(Conflict):
    """The (producer, key) pair already names a package."""

    code = "idempotency_key_taken"

    def __init__(self, package_id: str, content_digest: str) -> None:
        super().__init__(f"idempotency key already names package {package_id}")
        self.package_id = package_id
        self.content_digest = content_digest


class StaleWrite(ArtifactStoreError):
    """A conditional write lost a race; re-read and decide again."""

    code = "stale_write"


def _encode_cursor(key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    return base64.urlsafe_b64encode(json.dumps(key, sort_keys=True).encode()).decode()


def decode_cursor(
    cursor: str | None, fixed: dict[str, str], free: tuple[str, ...] = ("pk", "sk")
) -> dict[str, Any] | None:
    """Opaque cursor back to a DynamoDB start key; a bad one is ``invalid_cursor`` (a 400).

    A start key must name exactly the attributes of the table or index queried, hold the
    partition queried (``fixed``), and only short strings: DynamoDB answers anything else
    with a ValidationException, which would otherwise surface as a 500.
    """
    if not cursor:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError) as exc:
        raise InvalidInput("invalid pagination cursor", code="invalid_cursor") from exc
    wanted = set(fixed) | set(free)
    if (
        not isinstance(key, dict)
        or set(key) != wanted
        or not all(_short_string(v) for v in key.values())
        or any(key[name]["S"] != value for name, value in fixed.items())
    ):
        raise InvalidInput("invalid pagination cursor", code="invalid_cursor")
    return key


def _short_string(value: object) -> bool:
    return (
        isinstance(value, dict)
        and set(value) == {"S"}
        and isinstance(value["S"], str)
        and 0 < len(value["S"].encode("utf-8", "surrogatepass")) <= 1024
    )


def _code(error: Exception) -> str | None:
    code = getattr(error, "cause_response_code", None)
    return code if isinstance(code, str) else None


def _to_record(item: PackageModel) -> PackageRecord:
    return PackageRecord(
        package_id=item.package_id,
        producer=item.producer,
        idempotency_key=item.idempotency_key,
        retention_class=item.retention_class,
        schema=item.schema,
        metadata=json.loads(item.metadata),
        backend=item.backend,
        content_digest=item.content_digest,
        file_count=int(item.file_count),
        total_bytes=int(item.total_bytes),
        blob_count=int(item.blob_count),
        created_at=item.created_at,
        expires_at=item.expires_at,
        state=PackageState(item.state),
        verified_count=int(item.verified_count or 0),
        rejected_count=int(item.rejected_count or 0),
        finalize_requested=bool(item.finalize_requested),
        files_complete=bool(item.files_complete),
        files_in_parts=bool(item.files_in_parts),
        manifest_digest=item.manifest_digest,
        sealed_at=item.sealed_at,
        run_dir=item.run_dir,
        links=item.links or {},
        state_hub_link=item.state_hub_link,
    )


def _order_key(when: datetime, package_id: str) -> str:
    return f"{when.isoformat()}#{package_id}"


class DynamoCatalog:
    """The catalog on one DynamoDB table; every state change is conditional."""

    def __init__(self, table_name: str, region: str | None = None) -> None:
        bind_table(table_name, region)
        self._region = region
        self._conn: Connection | None = None
        self._conn_lock = threading.Lock()

    def _connection(self) -> Connection:
        """One connection for transactions (a botocore client is thread-safe; building one
        per call would reload the service model every time)."""
        with self._conn_lock:
            if self._conn is None:
                self._conn = Connection(region=self._region)
            return self._conn

    # -- schemas -----------------------------------------------------------------------------

    def put_schema(self, schema: MetadataSchema, now: datetime) -> tuple[bool, datetime]:
        """Register a schema; (created, created_at). Same bytes again: no-op; else Conflict."""
        body = schema.canonical_bytes.decode()
        item = SchemaModel(
            "SCHEMA", schema.slug, body=body, digest=str(schema.digest), created_at=now
        )
        try:
            item.save(condition=SchemaModel.pk.does_not_exist())
            return True, now
        except PutError as exc:
            if _code(exc) != CONDITION_FAILED:
                raise
        existing = self.get_schema_item(schema.slug)
        if existing.body != body:
            raise Conflict(
                f"schema {schema.slug!r} is registered with a different body",
                code="schema_conflict",
                details={"slug": schema.slug, "registered_digest": existing.digest},
            )
        return False, existing.created_at

    def get_schema_item(self, slug: str) -> SchemaModel:
        """The stored schema item, or NotFound."""
        if not SLUG_RE.fullmatch(slug):
            raise NotFound(f"no metadata schema {slug!r}", code="schema_not_found")
        try:
            return SchemaModel.get("SCHEMA", slug, consistent_read=True)
        except DoesNotExist as exc:
            raise NotFound(f"no metadata schema {slug!r}", code="schema_not_found") from exc

    def list_schemas(self, limit: int, cursor: str | None) -> Page[SchemaModel]:
        """Registered schemas by slug."""
        start = decode_cursor(cursor, {"pk": "SCHEMA"}, ("sk",))
        result = SchemaModel.query("SCHEMA", limit=limit, last_evaluated_key=start)
        items = list(result)
        return Page(items, _encode_cursor(result.last_evaluated_key))

    # -- packages ----------------------------------------------------------------------------

    def _package_model(self, record: PackageRecord) -> PackageModel:
        order = _order_key(record.created_at, record.package_id)
        return PackageModel(
            item_key("PKG", record.package_id),
            PKG_SK,
            package_id=record.package_id,
            producer=record.producer,
            idempotency_key=record.idempotency_key,
            retention_class=record.retention_class,
            schema=record.schema,
            metadata=canonical_json(record.metadata).decode(),
            backend=record.backend,
            content_digest=record.content_digest,
            state=record.state.value,
            file_count=record.file_count,
            total_bytes=record.total_bytes,
            blob_count=record.blob_count,
            verified_count=record.verified_count,
            files_in_parts=record.files_in_parts,
            created_at=record.created_at,
            expires_at=record.expires_at,
            run_dir=record.run_dir,
            links=record.links or None,
            # DynamoDB removes a draft a month after it expired; sealing removes the TTL.
            ttl=int(record.expires_at.timestamp()) + 30 * 86400,
            gsi1pk=item_key("PRODUCER", record.producer),
            gsi1sk=order,
            gsi2pk=item_key("STATE", record.state.value),
            gsi2sk=order,
        )

    def create_package(self, record: PackageRecord) -> None:
        """Claim (producer, key) and create the package in one transaction, or raise KeyTaken."""
        claim = KeyClaimModel(
            item_key("KEY", record.producer, record.idempotency_key),
            "KEY",
            package_id=record.package_id,
            content_digest=record.content_digest,
        )
        try:
            with TransactWrite(connection=self._connection()) as tx:
                tx.save(claim, condition=KeyClaimModel.pk.does_not_exist())
                tx.save(self._package_model(record), condition=PackageModel.pk.does_not_exist())
        except TransactWriteError as exc:
            existing = self.find_claim(record.producer, record.idempotency_key)
            if existing is None:
                raise
            raise KeyTaken(*existing) from exc

    def create_package_replacing(self, record: PackageRecord, expired_package_id: str) -> None:
        """Point a key whose package expired at a new draft, both in one transaction."""
        claim = KeyClaimModel(item_key("KEY", record.producer, record.idempotency_key), "KEY")
        try:
            with TransactWrite(connection=self._connection()) as tx:
                tx.update(
                    claim,
                    actions=[
                        KeyClaimModel.package_id.set(record.package_id),
                        KeyClaimModel.content_digest.set(record.content_digest),
                    ],
                    condition=KeyClaimModel.package_id == expired_package_id,
                )
                tx.save(self._package_model(record), condition=PackageModel.pk.does_not_exist())
        except TransactWriteError as exc:
            raise StaleWrite("the key was claimed by another request") from exc

    def find_claim(self, producer: str, key: str) -> tuple[str, str] | None:
        """(package_id, content_digest) named by (producer, key), if any."""
        try:
            claim = KeyClaimModel.get(item_key("KEY", producer, key), "KEY", consistent_read=True)
        except DoesNotExist:
            return None
        return claim.package_id, claim.content_digest

    def _package_item(self, package_id: str) -> PackageModel:
        if not _UUID_RE.fullmatch(package_id):
            raise NotFound(f"no package {package_id!r}", code="package_not_found")
        try:
            return PackageModel.get(item_key("PKG", package_id), PKG_SK, consistent_read=True)
        except DoesNotExist as exc:
            raise NotFound(f"no package {package_id}", code="package_not_found") from exc

    def get_package(self, package_id: str) -> PackageRecord:
        """The package record, or NotFound."""
        return _to_record(self._package_item(package_id))

    def list_packages(
        self,
        *,
        producer: str | None,
        state: str | None,
        key: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page[PackageRecord]:
        """Packages newest first, by producer or by state (or both)."""
        condition = None
        if state is not None and producer is not None:
            condition = PackageModel.state == state
        if key is not None:
            key_condition = PackageModel.idempotency_key == key
            condition = key_condition if condition is None else condition & key_condition
        if producer is not None:
            partition = item_key("PRODUCER", producer)
            start = decode_cursor(cursor, {"gsi1pk": partition}, ("gsi1sk", "pk", "sk"))
            result = PackageModel.by_producer.query(
                partition,
                scan_index_forward=False,
                filter_condition=condition,
                limit=limit,
                last_evaluated_key=start,
            )
        else:
            partition = item_key("STATE", state or PackageState.SEALED.value)
            start = decode_cursor(cursor, {"gsi2pk": partition}, ("gsi2sk", "pk", "sk"))
            result = PackageModel.by_state.query(
                partition,
                scan_index_forward=False,
                filter_condition=condition,
                limit=limit,
                last_evaluated_key=start,
            )
        items = [_to_record(i) for i in result]
        return Page(items, _encode_cursor(result.last_evaluated_key))

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
        return Page(page, _encode_cursor(result.last_evaluated_key))

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
                if _code(exc) != TRANSACTION_CANCELED:
                    raise
                if self.get_package(package_id).state is not PackageState.DRAFT:
                    return False
        raise StaleWrite(f"blob {digest} of package {package_id} kept changing")

    def request_finalize(self, package_id: str) -> None:
        """Record that the client is done uploading (idempotent)."""
        try:
            PackageModel(item_key("PKG", package_id), PKG_SK).update(
                actions=[PackageModel.finalize_requested.set(True)],
                condition=PackageModel.pk.exists(),
            )
        except UpdateError as exc:
            if _code(exc) == CONDITION_FAILED:
                raise NotFound(f"no package {package_id}", code="package_not_found") from exc
            raise

    def seal(self, record: PackageRecord, manifest_digest: str, now: datetime) -> bool:
        """draft → sealed, once: False when another sealer won or the package moved on."""
        order = _order_key(record.created_at, record.package_id)
        try:
            PackageModel(item_key("PKG", record.package_id), PKG_SK).update(
                actions=[
                    PackageModel.state.set(PackageState.SEALED.value),
                    PackageModel.manifest_digest.set(manifest_digest),
                    PackageModel.sealed_at.set(now),
                    PackageModel.gsi2pk.set(item_key("STATE", PackageState.SEALED.value)),
                    PackageModel.gsi3pk.set(OUTBOX),
                    PackageModel.gsi3sk.set(order),
                    PackageModel.ttl.remove(),
                ],
                condition=(PackageModel.state == PackageState.DRAFT.value)
                & (PackageModel.verified_count == record.blob_count)
                & (PackageModel.rejected_count == 0)
                & (PackageModel.finalize_requested == True)  # noqa: E712 - a DynamoDB condition
                & (PackageModel.files_complete == True),  # noqa: E712
            )
            return True
        except UpdateError as exc:
            if _code(exc) == CONDITION_FAILED:
                return False
            raise

    @staticmethod
    def _expirable(now: datetime, abandoned_before: datetime) -> Condition:
        """Past its TTL, or abandoned by a creator that never finished its file list."""
        abandoned: Condition = (PackageModel.files_complete == False) & (  # noqa: E712
            PackageModel.created_at < abandoned_before
        )
        return Or(PackageModel.expires_at < now, abandoned)

    def expire(self, package_id: str, now: datetime, abandoned_before: datetime) -> bool:
        """draft → expired (see ``_expirable``); False if it sealed or expired meanwhile."""
        try:
            PackageModel(item_key("PKG", package_id), PKG_SK).update(
                actions=[
                    PackageModel.state.set(PackageState.EXPIRED.value),
                    PackageModel.gsi2pk.set(item_key("STATE", PackageState.EXPIRED.value)),
                ],
                condition=(PackageModel.state == PackageState.DRAFT.value)
                & self._expirable(now, abandoned_before),
            )
            return True
        except UpdateError as exc:
            if _code(exc) == CONDITION_FAILED:
                return False
            raise

    def expired_drafts(
        self, now: datetime, abandoned_before: datetime, limit: int = 100
    ) -> list[PackageRecord]:
        """Drafts to expire, oldest first (see ``_expirable``)."""
        result = PackageModel.by_state.query(
            item_key("STATE", PackageState.DRAFT.value),
            filter_condition=self._expirable(now, abandoned_before),
            limit=limit,
        )
        return [_to_record(i) for i in result]

    def unpublished_seals(self, limit: int = 100) -> list[PackageRecord]:
        """Sealed packages whose seal event is not confirmed published (the outbox)."""
        return [_to_record(i) for i in PackageModel.outbox.query(OUTBOX, limit=limit)]

    def mark_published(self, package_id: str) -> None:
        """Take a package out of the outbox."""
        PackageModel(item_key("PKG", package_id), PKG_SK).update(
            actions=[PackageModel.gsi3pk.remove(), PackageModel.gsi3sk.remove()]
        )

    def record_link(self, package_id: str, link: dict[str, Any]) -> None:
        """Record the State Hub link outcome on the package (its state does not change)."""
        PackageModel(item_key("PKG", package_id), PKG_SK).update(
            actions=[PackageModel.state_hub_link.set(link)]
        )

    # -- blobs -------------------------------------------------------------------------------

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
            if _code(exc) != CONDITION_FAILED:
                raise

    # -- tokens ------------------------------------------------------------------------------

    def put_token(self, token_hash: str, token: TokenModel) -> None:
        """Store an issued token's hash and grants."""
        token.pk, token.sk = "TOKEN", token_hash
        token.save(condition=TokenModel.pk.does_not_exist())

    def find_token(self, token_hash: str) -> TokenModel | None:
        """The token item for a hash, if issued and not revoked."""
        try:
            token = TokenModel.get("TOKEN", token_hash, consistent_read=True)
        except DoesNotExist:
            return None
        return None if token.revoked else token

    def revoke_token(self, token_id: str) -> bool:
        """Revoke an issued token by id."""
        for token in TokenModel.query("TOKEN", filter_condition=TokenModel.token_id == token_id):
            token.update(actions=[TokenModel.revoked.set(True)])
            return True
        return False

    def list_tokens(self) -> list[TokenModel]:
        """Issued tokens (hashes only)."""
        return list(TokenModel.query("TOKEN"))


def utcnow() -> datetime:
    """Aware UTC now."""
    return datetime.now(UTC)
