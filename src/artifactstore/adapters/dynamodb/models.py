"""PynamoDB models of the single catalog table. Key design: ``docs/catalog.md``.

These classes are templates: they define the attributes and indexes of each item type but name
no table, so they cannot read or write (PynamoDB refuses a model without ``table_name``).
``binding.bind_models`` makes, per table, subclasses that do; the catalog holds those.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model


class _Item(Model):
    """Every item of the table has a string ``pk`` and ``sk``. No ``table_name``: a template
    (``binding.bind_models`` names the table)."""

    class Meta:
        region: str | None = None

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class _ByProducer(GlobalSecondaryIndex["PackageModel"]):
    class Meta:
        index_name = "by_producer"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class _ByState(GlobalSecondaryIndex["PackageModel"]):
    class Meta:
        index_name = "by_state"
        projection = AllProjection()

    gsi2pk = UnicodeAttribute(hash_key=True)
    gsi2sk = UnicodeAttribute(range_key=True)


class _Outbox(GlobalSecondaryIndex["PackageModel"]):
    class Meta:
        index_name = "outbox"
        projection = AllProjection()

    gsi3pk = UnicodeAttribute(hash_key=True)
    gsi3sk = UnicodeAttribute(range_key=True)


class SchemaModel(_Item):
    """``pk=SCHEMA``, ``sk=<slug>``: one registered metadata schema."""

    body = UnicodeAttribute()  # RFC 8785 bytes as text, so equality is byte equality
    digest = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()


class KeyClaimModel(_Item):
    """``pk=KEY#<producer>#<key>``: which package a producer's idempotency key names."""

    package_id = UnicodeAttribute()
    content_digest = UnicodeAttribute()
    ttl = NumberAttribute(null=True)  # its draft's TTL; removed when the package seals


class _PackageExpiry(GlobalSecondaryIndex["PackageModel"]):
    class Meta:
        index_name = "expiry"
        projection = AllProjection()

    gsi4pk = UnicodeAttribute(hash_key=True)
    gsi4sk = UnicodeAttribute(range_key=True)


class _BlobExpiry(GlobalSecondaryIndex["BlobModel"]):
    class Meta:
        index_name = "expiry"
        projection = AllProjection()

    gsi4pk = UnicodeAttribute(hash_key=True)
    gsi4sk = UnicodeAttribute(range_key=True)


class PackageModel(_Item):
    """``pk=PKG#<id>``, ``sk=PKG``: identity, state and counters of one package."""

    package_id = UnicodeAttribute()
    producer = UnicodeAttribute()
    idempotency_key = UnicodeAttribute()
    retention_class = UnicodeAttribute()
    schema = UnicodeAttribute()
    metadata = UnicodeAttribute()  # canonical JSON text: numbers kept exactly as parsed
    backend = UnicodeAttribute()
    content_digest = UnicodeAttribute()
    state = UnicodeAttribute()
    file_count = NumberAttribute()
    total_bytes = NumberAttribute()
    blob_count = NumberAttribute()
    verified_count = NumberAttribute(default=0)
    rejected_count = NumberAttribute(default=0)
    finalize_requested = BooleanAttribute(default=False)
    files_complete = BooleanAttribute(default=False)
    files_in_parts = BooleanAttribute(default=False)
    list_writer = UnicodeAttribute(null=True)  # who completes an incomplete file list
    list_writer_at = UTCDateTimeAttribute(null=True)
    # Entries stored as parts of a list sent in parts, each part counted once: at most
    # ``file_count`` (the declared size of the list).
    parts_stored = NumberAttribute(null=True)
    # How many partition keys its chunks, buckets and parts are spread over (``shards.py``),
    # chosen at creation from the declared size; absent: 1, all under ``PKG#<id>``.
    file_shards = NumberAttribute(null=True)
    manifest_digest = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    expires_at = UTCDateTimeAttribute()
    sealed_at = UTCDateTimeAttribute(null=True)
    run_dir = UnicodeAttribute(null=True)
    links: JSONAttribute = JSONAttribute(null=True)
    state_hub_link: JSONAttribute = JSONAttribute(null=True)
    ttl = NumberAttribute(null=True)  # DynamoDB TTL: set on drafts only
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    gsi2pk = UnicodeAttribute()
    gsi2sk = UnicodeAttribute()
    gsi3pk = UnicodeAttribute(null=True)  # sparse: present while a seal event is unpublished
    gsi3sk = UnicodeAttribute(null=True)
    expiry_due = UTCDateTimeAttribute(null=True)  # a sealed package of an expiring class
    expired_at = UTCDateTimeAttribute(null=True)
    # Sparse: ``EXPIRY#PKG`` and ``<expiry_due>#<id>`` while a sealed package waits to expire.
    gsi4pk = UnicodeAttribute(null=True)
    gsi4sk = UnicodeAttribute(null=True)
    by_producer = _ByProducer()
    by_state = _ByState()
    outbox = _Outbox()
    expiry = _PackageExpiry()


class FileChunkModel(_Item):
    """``pk=PKG#<id>[#<shard>]``, ``sk=FILE#<first path>``: a run of a package's files (of one
    shard, ``shards.py``) in path order.

    DynamoDB sorts ``sk`` by UTF-8 bytes, the manifest's order, so the chunks of a list read
    back in order and the chunk holding a path is the last one whose key sorts at or before it.
    """

    files = UnicodeAttribute()  # JSON: [[path, size, digest hex, 0|1 executable], ...]
    ttl = NumberAttribute(null=True)  # its draft's TTL; removed when the package seals


class FilePartModel(_Item):
    """``pk=PKG#<id>[#<shard>]``, ``sk=PART#<part digest>#<n>``: files of one part of a list
    sent in parts.

    ``sk=PART#<part digest>`` (no ``#<n>``, ``files`` empty, always under ``PKG#<id>``) marks the
    part as counted in the package's ``parts_stored``: a part sent again is not counted twice.
    """

    files = UnicodeAttribute()  # the same JSON as a file chunk, in the order sent
    ttl = NumberAttribute(null=True)  # its draft's TTL (parts are deleted once the list is whole)


class BlobBucketModel(_Item):
    """``pk=PKG#<id>[#<shard>]``, ``sk=BLOB#<first hex>``: a run of a package's distinct blobs
    (of one shard, ``shards.py``), by digest.

    Maps keyed by digest hex: each verification updates one entry in a transaction with the
    package's counters.
    """

    size = MapAttribute[str, Any]()  # hex -> size in bytes
    status = MapAttribute[str, Any]()  # hex -> pending | verified | rejected
    seen = MapAttribute[str, Any]()  # hex -> the digest a rejected upload actually had
    # Its draft's TTL, kept after sealing: a sealed package reads no bucket (all verified).
    ttl = NumberAttribute(null=True)


class BundleModel(_Item):
    """``pk=PKG#<id>``, ``sk=BUNDLE#<bundle id>``: the members of one bundle, in byte order."""

    members = UnicodeAttribute()  # JSON: [[digest hex, size], ...]
    ttl = NumberAttribute(null=True)  # its draft's TTL, kept after sealing (as the buckets')


class BlobModel(_Item):
    """``pk=BLOB#<backend>#<hex>``, ``sk=BLOB``: a verified blob a backend holds, at ``size``.

    Its protection (``domain/protection.py``) is recorded so that re-using the blob decides
    without asking storage; items written before it was recorded have no ``expiring``, and
    expiring ones written before expiry dates were have no ``expires_at`` (both: unknown).
    """

    size = NumberAttribute()
    verified_at = UTCDateTimeAttribute()
    first_package_id = UnicodeAttribute()
    expiring = BooleanAttribute(null=True)  # carries the lifecycle's expiry tag
    lock_mode = UnicodeAttribute(null=True)
    retain_until = UTCDateTimeAttribute(null=True)  # Object Lock end; only ever extended
    # An expiring blob's current version expires then at the earliest; only ever moved later.
    expires_at = UTCDateTimeAttribute(null=True)
    # Producers whose upload of these bytes the verifier hashed (proof of possession): they
    # re-use the blob without uploading it; others do only if its protection covers them.
    # Items written before it was recorded have none.
    producers = UnicodeSetAttribute(null=True)
    # The sweep is deleting it: no one may rely on it from then on (``docs/architecture.md``).
    tombstoned_at = UTCDateTimeAttribute(null=True)
    lease_until = UTCDateTimeAttribute(null=True)  # a verifier relies on it until then
    # Held in a pack (its digest hex), ``size`` bytes from ``pack_offset``; absent: its own
    # object. A blob keeps the first place recorded.
    pack = UnicodeAttribute(null=True)
    pack_offset = NumberAttribute(null=True)
    # Sparse: ``EXPIRY#BLOB#<backend>`` and ``<expires_at>#<hex>`` while it is expiring.
    gsi4pk = UnicodeAttribute(null=True)
    gsi4sk = UnicodeAttribute(null=True)
    expiry = _BlobExpiry()


class PackModel(_Item):
    """``pk=PACK#<backend>#<pack hex>``, ``sk=PACK``: the blobs a pack still holds for someone.

    ``live`` gains each blob recorded in the pack (in the same transaction as the blob's item)
    and loses each the sweep deletes; the pack is deleted with its last one.
    """

    live = UnicodeSetAttribute(null=True)  # DynamoDB drops an empty set: absent is none left
    created_at = UTCDateTimeAttribute()


class TokenModel(_Item):
    """``pk=TOKEN``, ``sk=<sha256 of token>``: an issued API token (only its hash is kept)."""

    token_id = UnicodeAttribute()
    name = UnicodeAttribute()
    scopes = ListAttribute[str]()
    producers = ListAttribute[str](null=True)
    created_at = UTCDateTimeAttribute()
    revoked = BooleanAttribute(default=False)


# DynamoDB deletes a draft's items this long after the draft expired (``expires_at``).
TTL_AFTER_EXPIRY = timedelta(days=30)


def draft_ttl(expires_at: datetime) -> int:
    """The TTL (epoch seconds) of a draft expiring at ``expires_at``: its package item, key
    claim and child items all carry it, so DynamoDB deletes them together."""
    return int((expires_at + TTL_AFTER_EXPIRY).timestamp())


def item_key(*parts: Any) -> str:
    """Join key parts with ``#``."""
    return "#".join(str(p) for p in parts)
