"""The catalog adapter: conditional writes and transactions over the single table."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pynamodb.exceptions import (
    DoesNotExist,
    TransactWriteError,
    UpdateError,
    VerboseClientError,
)
from pynamodb.expressions.condition import Condition, Or
from pynamodb.transactions import TransactWrite

from artifactstore.adapters.dynamodb.blobs import HeldBlobStore
from artifactstore.adapters.dynamodb.bundles import BundleStore
from artifactstore.adapters.dynamodb.contents import ContentsStore
from artifactstore.adapters.dynamodb.file_list_store import FileListStore
from artifactstore.adapters.dynamodb.models import draft_ttl, item_key
from artifactstore.adapters.dynamodb.packs import PackStore
from artifactstore.adapters.dynamodb.schemas_tokens import SchemaAndTokenStore
from artifactstore.adapters.dynamodb.shards import shard_count
from artifactstore.adapters.dynamodb.support import (
    CONDITION_FAILED,
    PKG_SK,
    KeyTaken,
    StaleWrite,
    cursor_of,
    error_code,
    start_key,
)
from artifactstore.domain.manifest import canonical_json
from artifactstore.domain.packages import (
    PackageRecord,
    PackageState,
    Page,
)
from artifactstore.errors import NotFound

if TYPE_CHECKING:  # the templates: every read and write goes through ``self.models``
    from artifactstore.adapters.dynamodb.models import KeyClaimModel, PackageModel

_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
OUTBOX = "OUTBOX"
EXPIRING = item_key("EXPIRY", "PKG")  # the expiry index's partition of sealed packages


def _to_record(item: PackageModel) -> PackageRecord:
    return PackageRecord(
        package_id=item.package_id,
        producer=item.producer,
        idempotency_key=item.idempotency_key,
        retention_class=item.retention_class,
        schema=item.schema,
        metadata=json.loads(item.metadata),
        backend=item.backend,
        fingerprint=item.content_digest,
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
        expiry_due=item.expiry_due,
        expired_at=item.expired_at,
    )


def _claim_that_won(claims: type[KeyClaimModel], exc: TransactWriteError) -> KeyClaimModel | None:
    """The claim whose existence cancelled a create (DynamoDB returns it: ALL_OLD), if that
    is why it was cancelled."""
    reasons = exc.cause.cancellation_reasons if isinstance(exc.cause, VerboseClientError) else []
    first = reasons[0] if reasons else None
    if first is None or first.code != "ConditionalCheckFailed" or not first.raw_item:
        return None
    return claims.from_raw_data(first.raw_item)


def _order_key(when: datetime, package_id: str) -> str:
    return f"{when.isoformat()}#{package_id}"


class DynamoCatalog(
    ContentsStore, HeldBlobStore, PackStore, FileListStore, BundleStore, SchemaAndTokenStore
):
    """The catalog on one DynamoDB table; every state change is conditional."""

    # -- packages ----------------------------------------------------------------------------

    def _package_model(self, record: PackageRecord) -> PackageModel:
        m = self.models
        order = _order_key(record.created_at, record.package_id)
        # A large list (declared, when sent in parts) spreads over several keys; fixed for good.
        shards = shard_count(record.file_count)
        return m.PackageModel(
            item_key("PKG", record.package_id),
            PKG_SK,
            package_id=record.package_id,
            producer=record.producer,
            idempotency_key=record.idempotency_key,
            retention_class=record.retention_class,
            schema=record.schema,
            metadata=canonical_json(record.metadata).decode(),
            backend=record.backend,
            content_digest=record.fingerprint,
            state=record.state.value,
            file_count=record.file_count,
            total_bytes=record.total_bytes,
            blob_count=record.blob_count,
            verified_count=record.verified_count,
            files_in_parts=record.files_in_parts,
            file_shards=shards if shards > 1 else None,
            created_at=record.created_at,
            expires_at=record.expires_at,
            run_dir=record.run_dir,
            links=record.links or None,
            # DynamoDB removes a draft a month after it expired; sealing removes the TTL.
            ttl=draft_ttl(record.expires_at),
            gsi1pk=item_key("PRODUCER", record.producer),
            gsi1sk=order,
            gsi2pk=item_key("STATE", record.state.value),
            gsi2sk=order,
        )

    def create_package(self, record: PackageRecord) -> None:
        """Claim (producer, key) and create the package in one transaction, or raise KeyTaken."""
        m = self.models
        claim = m.KeyClaimModel(
            item_key("KEY", record.producer, record.idempotency_key),
            "KEY",
            package_id=record.package_id,
            content_digest=record.fingerprint,
            ttl=draft_ttl(record.expires_at),
        )
        try:
            with TransactWrite(connection=self._connection()) as tx:
                tx.save(
                    claim, condition=m.KeyClaimModel.pk.does_not_exist(), return_values="ALL_OLD"
                )
                tx.save(self._package_model(record), condition=m.PackageModel.pk.does_not_exist())
        except TransactWriteError as exc:
            winner = _claim_that_won(m.KeyClaimModel, exc)
            if winner is None:
                raise
            raise KeyTaken(winner.package_id, winner.content_digest) from exc

    def create_package_replacing(self, record: PackageRecord, expired_package_id: str) -> None:
        """Point a key whose package expired (or is gone: DynamoDB's TTL deleted it) at a new
        draft, both in one transaction."""
        m = self.models
        claim = m.KeyClaimModel(item_key("KEY", record.producer, record.idempotency_key), "KEY")
        try:
            with TransactWrite(connection=self._connection()) as tx:
                tx.update(
                    claim,
                    actions=[
                        m.KeyClaimModel.package_id.set(record.package_id),
                        m.KeyClaimModel.content_digest.set(record.fingerprint),
                        m.KeyClaimModel.ttl.set(draft_ttl(record.expires_at)),
                    ],
                    condition=m.KeyClaimModel.package_id == expired_package_id,
                )
                tx.save(self._package_model(record), condition=m.PackageModel.pk.does_not_exist())
        except TransactWriteError as exc:
            raise StaleWrite("the key was claimed by another request") from exc

    def find_claim(self, producer: str, key: str) -> tuple[str, str] | None:
        """(package_id, fingerprint) named by (producer, key), if any."""
        m = self.models
        try:
            claim = m.KeyClaimModel.get(item_key("KEY", producer, key), "KEY", consistent_read=True)
        except DoesNotExist:
            return None
        return claim.package_id, claim.content_digest

    def _package_item(self, package_id: str) -> PackageModel:
        m = self.models
        if not _UUID_RE.fullmatch(package_id):
            raise NotFound(f"no package {package_id!r}", code="package_not_found")
        try:
            return m.PackageModel.get(item_key("PKG", package_id), PKG_SK, consistent_read=True)
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
        m = self.models
        condition = None
        if state is not None and producer is not None:
            condition = m.PackageModel.state == state
        if key is not None:
            key_condition = m.PackageModel.idempotency_key == key
            condition = key_condition if condition is None else condition & key_condition
        # Newest first from the producer's index, or else from the state's.
        index, (hash_attr, range_attr), partition = (
            (m.PackageModel.by_producer, ("gsi1pk", "gsi1sk"), item_key("PRODUCER", producer))
            if producer is not None
            else (
                m.PackageModel.by_state,
                ("gsi2pk", "gsi2sk"),
                item_key("STATE", state or PackageState.SEALED.value),
            )
        )
        start = start_key(cursor, {hash_attr: partition}, (range_attr, "pk", "sk"))
        result = index.query(
            partition,
            scan_index_forward=False,
            filter_condition=condition,
            limit=limit,
            last_evaluated_key=start,
        )
        items = [_to_record(i) for i in result]
        return Page(items, cursor_of(result.last_evaluated_key))

    def request_finalize(self, package_id: str) -> None:
        """Record that the client is done uploading (idempotent)."""
        m = self.models
        try:
            m.PackageModel(item_key("PKG", package_id), PKG_SK).update(
                actions=[m.PackageModel.finalize_requested.set(True)],
                condition=m.PackageModel.pk.exists(),
            )
        except UpdateError as exc:
            if error_code(exc) == CONDITION_FAILED:
                raise NotFound(f"no package {package_id}", code="package_not_found") from exc
            raise

    def seal(
        self,
        record: PackageRecord,
        manifest_digest: str,
        now: datetime,
        expiry_due: datetime | None = None,
    ) -> bool:
        """draft → sealed, once: False when another sealer won or the package moved on.

        First the key claim and the file chunks lose their TTL (a sealed package is kept
        forever), then the package item, in its conditional update. In that order, a sealed
        package never has an item DynamoDB would delete; a seal that then loses (the draft
        expired meanwhile) leaves a claim and chunks without TTL beside a package item with
        one: a claim whose package is gone counts as expired (``create_or_resume``).
        """
        m = self.models
        self._keep_claim(record)
        self.keep_file_list(record.package_id)
        order = _order_key(record.created_at, record.package_id)
        expiry = []
        if expiry_due is not None:
            expiry = [
                m.PackageModel.expiry_due.set(expiry_due),
                m.PackageModel.gsi4pk.set(EXPIRING),
                m.PackageModel.gsi4sk.set(_order_key(expiry_due, record.package_id)),
            ]
        try:
            m.PackageModel(item_key("PKG", record.package_id), PKG_SK).update(
                actions=[
                    m.PackageModel.state.set(PackageState.SEALED.value),
                    m.PackageModel.manifest_digest.set(manifest_digest),
                    m.PackageModel.sealed_at.set(now),
                    m.PackageModel.gsi2pk.set(item_key("STATE", PackageState.SEALED.value)),
                    m.PackageModel.gsi3pk.set(OUTBOX),
                    m.PackageModel.gsi3sk.set(order),
                    m.PackageModel.ttl.remove(),
                    *expiry,
                ],
                condition=(m.PackageModel.state == PackageState.DRAFT.value)
                & (m.PackageModel.verified_count == record.blob_count)
                & (m.PackageModel.rejected_count == 0)
                & (m.PackageModel.finalize_requested == True)  # noqa: E712 - a DynamoDB condition
                & (m.PackageModel.files_complete == True),  # noqa: E712
            )
            return True
        except UpdateError as exc:
            if error_code(exc) == CONDITION_FAILED:
                return False
            raise

    def _keep_claim(self, record: PackageRecord) -> None:
        """Remove the TTL of the key claim, while it names this package."""
        m = self.models
        claim = m.KeyClaimModel(item_key("KEY", record.producer, record.idempotency_key), "KEY")
        try:
            claim.update(
                actions=[m.KeyClaimModel.ttl.remove()],
                condition=m.KeyClaimModel.package_id == record.package_id,
            )
        except UpdateError as exc:
            if error_code(exc) != CONDITION_FAILED:
                raise

    def _expirable(self, now: datetime, abandoned_before: datetime) -> Condition:
        """Past its TTL, or abandoned by a creator that never finished its file list."""
        m = self.models
        abandoned: Condition = (m.PackageModel.files_complete == False) & (  # noqa: E712
            m.PackageModel.created_at < abandoned_before
        )
        return Or(m.PackageModel.expires_at < now, abandoned)

    def expire(self, package_id: str, now: datetime, abandoned_before: datetime) -> bool:
        """draft → expired (see ``_expirable``); False if it sealed or expired meanwhile."""
        m = self.models
        try:
            m.PackageModel(item_key("PKG", package_id), PKG_SK).update(
                actions=[
                    m.PackageModel.state.set(PackageState.EXPIRED.value),
                    m.PackageModel.expired_at.set(now),
                    m.PackageModel.gsi2pk.set(item_key("STATE", PackageState.EXPIRED.value)),
                ],
                condition=(m.PackageModel.state == PackageState.DRAFT.value)
                & self._expirable(now, abandoned_before),
            )
            return True
        except UpdateError as exc:
            if error_code(exc) == CONDITION_FAILED:
                return False
            raise

    def expired_drafts(
        self, now: datetime, abandoned_before: datetime, limit: int = 100
    ) -> list[PackageRecord]:
        """Drafts to expire, oldest first (see ``_expirable``)."""
        m = self.models
        result = m.PackageModel.by_state.query(
            item_key("STATE", PackageState.DRAFT.value),
            filter_condition=self._expirable(now, abandoned_before),
            limit=limit,
        )
        return [_to_record(i) for i in result]

    def due_packages(self, now: datetime, limit: int) -> list[PackageRecord]:
        """Sealed packages whose expiry is due before ``now``, earliest first."""
        m = self.models
        found = m.PackageModel.expiry.query(
            EXPIRING, m.PackageModel.gsi4sk < now.isoformat(), limit=limit
        )
        return [_to_record(i) for i in found]

    def expire_sealed(self, package_id: str, now: datetime) -> bool:
        """sealed → expired, once its expiry is due; it leaves the expiry index."""
        m = self.models
        try:
            m.PackageModel(item_key("PKG", package_id), PKG_SK).update(
                actions=[
                    m.PackageModel.state.set(PackageState.EXPIRED.value),
                    m.PackageModel.expired_at.set(now),
                    m.PackageModel.gsi2pk.set(item_key("STATE", PackageState.EXPIRED.value)),
                    m.PackageModel.gsi4pk.remove(),
                    m.PackageModel.gsi4sk.remove(),
                ],
                condition=(m.PackageModel.state == PackageState.SEALED.value)
                & (m.PackageModel.expiry_due <= now),
            )
            return True
        except UpdateError as exc:
            if error_code(exc) == CONDITION_FAILED:
                return False
            raise

    def unpublished_seals(self, limit: int = 100) -> list[PackageRecord]:
        """Sealed packages whose seal event is not confirmed published (the outbox)."""
        m = self.models
        return [_to_record(i) for i in m.PackageModel.outbox.query(OUTBOX, limit=limit)]

    def mark_published(self, package_id: str) -> None:
        """Take a package out of the outbox."""
        m = self.models
        self._update_package(
            package_id, [m.PackageModel.gsi3pk.remove(), m.PackageModel.gsi3sk.remove()]
        )

    def record_link(self, package_id: str, link: dict[str, Any]) -> None:
        """Record the State Hub link outcome on the package (its state does not change)."""
        m = self.models
        self._update_package(package_id, [m.PackageModel.state_hub_link.set(link)])


def utcnow() -> datetime:
    """Aware UTC now."""
    return datetime.now(UTC)
