"""Keeping S3 objects as their retention asks: Object Lock, expiry tags, renewal and race repair."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from artifactstore.adapters.s3.errors import (
    GONE_CODES,
    error_code,
    translate,
)
from artifactstore.adapters.s3.presigning import (
    MIN_PART_SIZE,
    OCTET_STREAM,
    SINGLE_COPY_LIMIT,
)
from artifactstore.domain.protection import Protection, lock_mode_of, needs_upgrade

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

EPHEMERAL_TAGGING = "retention=ephemeral"
EPHEMERAL_TAG = {"Key": "retention", "Value": "ephemeral"}


def retention_args(protection: Protection) -> dict[str, Any]:
    """Object Lock retention for a locked protection, the expiry tag for an expiring one."""
    args: dict[str, Any] = {}
    if protection.lock_mode and protection.retain_until:
        args["ObjectLockMode"] = protection.lock_mode
        args["ObjectLockRetainUntilDate"] = protection.retain_until
    if protection.expiring:
        args["Tagging"] = EPHEMERAL_TAGGING
        args["TaggingDirective"] = "REPLACE"
    return args


def protect_key(
    client: S3Client,
    bucket: str,
    key: str,
    asked: Protection,
    known: Protection | None,
    copy_threshold: int = SINGLE_COPY_LIMIT,
) -> Protection | None:
    """Keep the object at ``key`` at least as ``asked`` (``BlobStorage.protect``)."""
    if not needs_upgrade(known, asked):
        return known
    if known is None or (asked.expiring and known.expiring and known.expires_at is None):
        known = _unknowns_read(client, bucket, key, asked)
        if known is None or not needs_upgrade(known, asked):
            return known
    target = known.upgraded(asked)
    try:
        if target.expiring and target.expires_at != known.expires_at:
            return _renew(client, bucket, key, target, copy_threshold)
        if known.expiring and not target.expiring:
            # The bucket's lifecycle rule expires by tag; a blob carries no other tag.
            client.delete_object_tagging(Bucket=bucket, Key=key)
        if target.retain_until != known.retain_until:
            target = _extend_lock(client, bucket, key, target, asked)
    except ClientError as exc:
        if error_code(exc) in GONE_CODES:
            return None
        raise translate(exc, key, "blob") from exc
    return target


def _unknowns_read(client: S3Client, bucket: str, key: str, asked: Protection) -> Protection | None:
    """What ``protect_key`` must know of a blob whose record leaves it unknown."""
    if asked.retain_until is None and not asked.expiring:
        return Protection(True)  # unrecorded: it may carry the expiry tag; no request
    # Its lock end (a lock is extended, never shortened) or its creation date (when it
    # expires) is needed: one HeadObject, which also tells a blob gone.
    return head_protection(client, bucket, key, asked.expire_days)


def head_protection(
    client: S3Client, bucket: str, key: str, expire_days: int | None = None
) -> Protection | None:
    """The object's lock as stored (HeadObject; its tags unknown, so taken as expiring, from
    its creation plus ``expire_days`` when given), or None when there is no object."""
    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if error_code(exc) in GONE_CODES:
            return None
        raise translate(exc, key, "blob") from exc
    expires_at = None
    if expire_days is not None:
        # The rule's days are taken to be the asking class's (one lifecycle rule per bucket).
        expires_at = head["LastModified"] + timedelta(days=expire_days)
    return Protection(
        True,
        lock_mode_of(head.get("ObjectLockMode")),
        head.get("ObjectLockRetainUntilDate"),
        expires_at,
    )


def _renew(
    client: S3Client, bucket: str, key: str, target: Protection, copy_threshold: int
) -> Protection:
    """Copy an expiring blob onto itself: a new current version, created now, so the
    lifecycle's days count from now; tagged as before, and locked at least as before.

    HeadObject first: its size picks the copy (CopyObject takes up to 5 GiB), and its lock,
    which the catalog's record may lag, goes on the copy (Object Lock is not copied). A package
    of a kept class may take the expiry tag off while the copy runs (its DeleteObjectTagging
    reaching the old version after the copy read its tags): the old version's tags are read
    once the copy is current and, if the tag is gone, it is taken off the copy too, so the blob
    never expires under a kept package.
    """
    head = client.head_object(Bucket=bucket, Key=key)
    stored = head.get("ObjectLockRetainUntilDate")
    if stored is not None and (target.retain_until is None or stored > target.retain_until):
        mode = lock_mode_of(head.get("ObjectLockMode")) or target.lock_mode
        target = replace(target, lock_mode=mode, retain_until=stored)
    lock = retention_args(replace(target, expiring=False))
    source_version = head.get("VersionId")
    if head["ContentLength"] > copy_threshold:
        from boto3.s3.transfer import TransferConfig

        config = TransferConfig(
            multipart_threshold=copy_threshold,
            multipart_chunksize=max(copy_threshold // 8, MIN_PART_SIZE),
        )
        # A multipart copy takes no TaggingDirective: the tag is given, as on a promotion.
        args = {"ContentType": OCTET_STREAM, **lock, **retention_args(Protection(True))}
        client.copy({"Bucket": bucket, "Key": key}, bucket, key, ExtraArgs=args, Config=config)
    else:
        answer = client.copy_object(
            Bucket=bucket,
            Key=key,
            CopySource={"Bucket": bucket, "Key": key},
            # S3 refuses a copy onto itself that changes nothing: the metadata is "replaced"
            # by what it was (a blob has its content type and nothing else).
            MetadataDirective="REPLACE",
            ContentType=OCTET_STREAM,
            # COPY, not REPLACE with the tag: a tag taken off meanwhile stays off.
            TaggingDirective="COPY",
            **lock,
        )
        source_version = answer.get("CopySourceVersionId") or source_version
    if source_version:
        tags = client.get_object_tagging(Bucket=bucket, Key=key, VersionId=source_version)
        if EPHEMERAL_TAG not in tags["TagSet"]:
            return _kept_meanwhile(client, bucket, key, source_version, target)
    return target


def _kept_meanwhile(
    client: S3Client, bucket: str, key: str, source_version: str, target: Protection
) -> Protection:
    """A kept class's protection reached the version a renewal copied after the copy read it:
    apply it to the copy too. Its tag removal, and then any lock it extended (``protect_key``
    untags before it locks), so the copy is kept at least as that caller recorded."""
    client.delete_object_tagging(Bucket=bucket, Key=key)
    target = replace(target, expiring=False, expires_at=None)
    head = client.head_object(Bucket=bucket, Key=key, VersionId=source_version)
    found = head.get("ObjectLockRetainUntilDate")
    if found is not None and (target.retain_until is None or found > target.retain_until):
        mode = target.lock_mode or lock_mode_of(head.get("ObjectLockMode"))
        longer = replace(target, lock_mode=mode, retain_until=found)
        target = _extend_lock(client, bucket, key, longer, replace(longer, expiring=True))
    return target


def _extend_lock(
    client: S3Client, bucket: str, key: str, target: Protection, asked: Protection
) -> Protection:
    """PutObjectRetention to ``target``. S3 refuses to shorten a lock: when a concurrent
    caller (or one whose catalog record is not written yet) locked it longer, the lock found
    stands if it covers ``asked``."""
    if target.lock_mode is None or target.retain_until is None:
        return target
    try:
        client.put_object_retention(
            Bucket=bucket,
            Key=key,
            Retention={"Mode": target.lock_mode, "RetainUntilDate": target.retain_until},
        )
        return target
    except ClientError as exc:
        if error_code(exc) in GONE_CODES:
            raise
        found = head_protection(client, bucket, key)
        if found is None or not found.covers(replace(asked, expiring=True)):
            raise
        return replace(found, expiring=target.expiring)
