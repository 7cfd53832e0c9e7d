"""Local-files storage backend: the S3 key layout under a folder, for offline work.

Uploads arrive over HTTP through signed URLs our own API serves (``/local-storage/{key}``),
signed and checked by ``signing.UrlSigner``, so clients use one code path for both backends.

Every write goes to a temp file in the target's folder, is fsynced and published with
``os.link``, which fails when the name exists: blobs and manifests are write-once even between
racing promoters, and so is an upload (a second PUT of other bytes is ``upload_exists``, 409).

An upload's "version" is its file's identity (device, inode, size and mtime, the mtime stamped
with random nanoseconds when received): ``open_upload`` returns the identity of the file it
opened, and ``promote``/``delete_upload`` act only on that file. ``promote`` first links the
upload to a private name, checks that name's identity and publishes the blob from it, so the
blob holds exactly the bytes the verifier hashed, never a file that replaced them meanwhile.

Retention: a local folder has nothing like Object Lock and no lifecycle rules. Promoted blobs
and manifests are made read-only (mode 0444) against slips, and nothing expires here; retention
classes only take effect on the S3 backend.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from artifactstore.adapters.local import files as local_files
from artifactstore.adapters.local.signing import UrlSigner
from artifactstore.adapters.local.upload_writer import write_upload_once
from artifactstore.domain.digests import Digest
from artifactstore.domain.keys import (
    attestation_key,
    blob_key,
    bundle_key,
    is_upload_key,
    manifest_key,
    pack_key,
    parse_bundle_key,
    require_bundle_size,
    require_upload_key,
    upload_key,
)
from artifactstore.domain.packs import Pack
from artifactstore.domain.protection import Protection
from artifactstore.domain.retention import RetentionClass
from artifactstore.errors import InvalidInput, NotFound
from artifactstore.ports.storage import OpenUpload, UploadPart, UploadTarget

OCTET_STREAM = "application/octet-stream"
_KEY_RE = re.compile(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*")

Notify = Callable[[str, int], None]


class LocalFilesStorage:
    """Blobs, manifests and pending uploads in a local folder, same keys as on S3."""

    name = "local"

    def __init__(
        self,
        root: Path,
        *,
        signing_key: bytes,
        public_url: str,
        url_ttl: int,
        notify: Notify | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = Path(root)
        self.public_url = public_url.rstrip("/")
        self.url_ttl = url_ttl
        self.notify = notify
        # The signer's clock, kept here too: tests sign URLs against the backend's own now.
        self._clock = clock
        self._signer = UrlSigner(signing_key, public_url=public_url, url_ttl=url_ttl, clock=clock)

    # -- signed URLs (see ``signing``) ----------------------------------------------------

    def signature(self, method: str, key: str, size: int, expires: int) -> str:
        """HMAC-SHA256 over method, key, size and expiry (hex)."""
        return self._signer.signature(method, key, size, expires)

    def signed_url(self, method: str, key: str, size: int, expires_in: int) -> str:
        """A ``/local-storage/{key}`` URL valid for ``expires_in`` s, at most ``url_ttl``."""
        return self._signer.signed_url(method, key, size, expires_in)

    def verify_signature(self, method: str, key: str, size: int, expires: int, sig: str) -> None:
        """Raise ``invalid_signature`` or ``upload_url_expired``/``download_url_expired``."""
        self._signer.verify_signature(method, key, size, expires, sig)

    # -- uploads ---------------------------------------------------------------------------

    def upload_target(self, package_id: str, digest: Digest, size: int) -> UploadTarget:
        """One signed PUT for any size: bytes stream to disk, so no multipart is needed."""
        return self._target(upload_key(package_id, digest), digest, size)

    def bundle_target(self, package_id: str, bundle_id: str, size: int) -> UploadTarget:
        """One signed PUT of a bundle, received by the same route as a blob's."""
        require_bundle_size(bundle_id, size)
        return self._target(bundle_key(package_id, bundle_id), f"bundle:{bundle_id}", size)

    def _target(self, key: str, digest: Digest | str, size: int) -> UploadTarget:
        return UploadTarget(
            digest=digest,
            size=size,
            key=key,
            url=self.signed_url("PUT", key, size, self.url_ttl),
            headers={"Content-Type": OCTET_STREAM, "Content-Length": str(size)},
            expires_in=self.url_ttl,
        )

    def multipart_parts(
        self, package_id: str, digest: Digest, size: int, upload_id: str
    ) -> Sequence[UploadPart]:
        """Local targets are never multipart."""
        raise InvalidInput(
            "the local backend has no multipart uploads",
            code="multipart_not_supported",
            details={"digest": str(digest), "upload_id": upload_id},
        )

    def complete_multipart(
        self, package_id: str, digest: Digest, upload_id: str, etags: Sequence[str]
    ) -> None:
        """Local targets are never multipart."""
        raise InvalidInput(
            "the local backend has no multipart uploads",
            code="multipart_not_supported",
            details={"key": upload_key(package_id, digest), "upload_id": upload_id},
        )

    def discard_upload_pack(self, pack: Digest, version: str | None) -> None:
        """Never called: local uploads are promoted by hard link, never into upload packs."""
        raise ValueError(f"the local backend has no upload packs (asked to discard {pack})")

    def receive_upload(self, key: str, size: int, stream: Iterable[bytes]) -> str:
        """Write exactly ``size`` bytes of ``stream`` to the upload ``key`` (a blob's or a
        bundle's), then notify.

        Returns the bytes' BLAKE3 hex (the ETag). More or fewer bytes are ``size_mismatch``
        and leave nothing behind. Write-once: while the key holds an upload (until the verifier
        promotes or rejects it) the same bytes again are a no-op answered alike (a client's
        retry), other bytes are ``upload_exists`` and change nothing.
        """
        if not is_upload_key(key):
            raise InvalidInput(
                f"not an upload key: {key!r}", code="not_an_upload_key", details={"key": key}
            )
        etag = write_upload_once(self.path_for(key), key, size, stream)
        if self.notify is not None:
            self.notify(key, size)
        return etag

    def upload_size(self, key: str) -> int | None:
        """Size of a pending upload, or None."""
        try:
            return self.path_for(key).stat().st_size
        except FileNotFoundError:
            return None

    def open_upload(self, key: str, version: str | None = None) -> OpenUpload:
        """Open a pending upload; its ``version`` is the identity of the file opened (see the
        module), which ``promote`` and ``delete_upload`` then act on. ``upload_not_found``
        when there is none, or (``version`` given) when the file is no longer that one."""
        stream = self._open(key, "upload")
        found = local_files.identity(os.fstat(stream.fileno()))
        if version is not None and found != version:
            stream.close()
            raise _upload_not_found(key, version)
        return OpenUpload(stream, os.fstat(stream.fileno()).st_size, found)

    def delete_upload(self, key: str, version: str | None = None) -> None:
        """Remove a pending upload: any file at ``key``, or (``version`` given) only the file
        of that identity, so a later upload at the same key is kept. Only upload keys."""
        require_upload_key(key)
        path = self.path_for(key)
        if version is None:
            path.unlink(missing_ok=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                if local_files.identity(path.stat()) == version:
                    path.unlink(missing_ok=True)
        # The package's folder (and its bundles' folder), once it holds nothing more.
        folders = [path.parent, path.parent.parent] if parse_bundle_key(key) else [path.parent]
        with contextlib.suppress(OSError):
            for folder in folders:
                folder.rmdir()

    # -- blobs -----------------------------------------------------------------------------

    def delete_blob(self, digest: Digest) -> bool:
        """Remove the blob file (a local file has no lock to refuse it); False when absent."""
        return self._unlink(blob_key(digest))

    def delete_pack(self, pack: Digest) -> bool:
        """Remove the pack file; False when absent."""
        return self._unlink(pack_key(pack))

    def _unlink(self, key: str) -> bool:
        try:
            self.path_for(key).unlink()
        except FileNotFoundError:
            return False
        return True

    def has_blob(self, digest: Digest) -> bool:
        """Whether the blob file exists."""
        return self.path_for(blob_key(digest)).is_file()

    def open_blob(self, digest: Digest) -> BinaryIO:
        """Stream a blob."""
        return self._open(blob_key(digest), "blob")

    def read_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of any stored file."""
        with self._open(key, "object") as handle:
            handle.seek(start)
            return handle.read(max(0, end - start))

    def promote(
        self,
        key: str,
        digest: Digest,
        retention: RetentionClass,
        version: str | None = None,
        size: int | None = None,
        now: datetime | None = None,
    ) -> Protection:
        """Hard-link exactly that ``version`` of the upload (the file the verifier hashed) as
        the blob (write-once), then drop that upload.

        The upload is first linked to a private name, whose identity is checked: a file that
        replaced the one hashed is never published (``upload_not_found``: the version checked
        is gone), and is left for its own verification. A held blob is kept as it is.
        """
        source = self.path_for(key)
        target = self.path_for(blob_key(digest))
        if not target.exists():
            taken = local_files.temp_name(source)
            try:
                os.link(source, taken)
            except FileNotFoundError:  # gone: a concurrent promoter took it, or never there
                if not target.exists():
                    raise _upload_not_found(key, version) from None
            else:
                try:
                    if version is not None and local_files.identity(taken.stat()) != version:
                        raise _upload_not_found(key, version)
                    taken.chmod(local_files.READ_ONLY)
                    local_files.publish(taken, target)
                finally:
                    taken.unlink(missing_ok=True)
        self.delete_upload(key, version)
        return _kept(Protection.asked(retention, now or datetime.now(UTC)))

    def put_blob(
        self, digest: Digest, data: bytes, retention: RetentionClass, now: datetime | None = None
    ) -> Protection:
        """Write verified bytes as the blob once (temp file, fsync, link); held already: kept."""
        return self._write_kept(blob_key(digest), data, retention, now)

    def put_pack(
        self, pack: Pack, retention: RetentionClass, now: datetime | None = None
    ) -> Protection:
        """Write a pack once, as ``put_blob`` a blob."""
        return self._write_kept(pack_key(pack.digest), pack.data, retention, now)

    def _write_kept(
        self, key: str, data: bytes, retention: RetentionClass, now: datetime | None
    ) -> Protection:
        target = self.path_for(key)
        if not target.exists():
            with local_files.atomic_writer(target) as handle:
                handle.write(data)
        return _kept(Protection.asked(retention, now or datetime.now(UTC)))

    def protect(
        self, digest: Digest, asked: Protection, known: Protection | None
    ) -> Protection | None:
        """Nothing to change in the file (see ``_kept``), only whether it is there: it is now
        kept as the union of what it was and what is asked."""
        return self._kept_file(blob_key(digest), asked, known)

    def protect_pack(
        self, pack: Digest, asked: Protection, known: Protection | None
    ) -> Protection | None:
        """As ``protect``, for a pack."""
        return self._kept_file(pack_key(pack), asked, known)

    def _kept_file(
        self, key: str, asked: Protection, known: Protection | None
    ) -> Protection | None:
        if not self.path_for(key).is_file():
            return None
        return _kept(asked) if known is None else known.upgraded(asked)

    def download_url(self, digest: Digest, expires_in: int) -> str:
        """A signed GET served by ``/local-storage/{key}``."""
        return self._get_url(blob_key(digest), expires_in, f"no blob {digest}", str(digest))

    def pack_url(self, pack: Digest, expires_in: int) -> str:
        """A signed GET of the pack (ranges of it are served too)."""
        return self._get_url(pack_key(pack), expires_in, f"no pack {pack}", str(pack))

    def _get_url(self, key: str, expires_in: int, missing: str, digest: str) -> str:
        try:
            size = self.path_for(key).stat().st_size
        except FileNotFoundError:
            raise NotFound(missing, code="blob_not_found", details={"digest": digest}) from None
        return self.signed_url("GET", key, size, expires_in)

    # -- manifests -------------------------------------------------------------------------

    def put_manifest(self, digest: Digest, data: bytes, retention: RetentionClass) -> None:
        """Write a manifest once; writing it again is a no-op."""
        if Digest.of_bytes(data) != digest:
            raise InvalidInput(
                f"manifest bytes do not hash to {digest}",
                code="manifest_digest_mismatch",
                details={"digest": str(digest), "actual": str(Digest.of_bytes(data))},
            )
        target = self.path_for(manifest_key(digest))
        if not target.exists():
            with local_files.atomic_writer(target) as handle:
                handle.write(data)

    def get_manifest(self, digest: Digest) -> bytes:
        """A manifest's canonical bytes."""
        with self._open(manifest_key(digest), "manifest") as handle:
            return handle.read()

    def put_attestation(self, package_id: str, data: bytes, retention: RetentionClass) -> bool:
        """Write a package's envelope once (a hard link that fails when the name exists)."""
        return local_files.create_once(self.path_for(attestation_key(package_id)), data)

    def get_attestation(self, package_id: str) -> bytes | None:
        """A package's envelope, or None while there is none."""
        try:
            return self.path_for(attestation_key(package_id)).read_bytes()
        except FileNotFoundError:
            return None

    # -- paths -----------------------------------------------------------------------------

    def path_for(self, key: str) -> Path:
        """The file for ``key``; keys with empty, ``.`` or ``..`` segments are refused."""
        if not _KEY_RE.fullmatch(key) or any(part in (".", "..") for part in key.split("/")):
            raise InvalidInput(f"not a storage key: {key!r}", code="invalid_key")
        return self.root / key

    def _open(self, key: str, what: str) -> BinaryIO:
        try:
            return self.path_for(key).open("rb")
        except FileNotFoundError:
            raise NotFound(
                f"no such {what}: {key}", code=f"{what}_not_found", details={"key": key}
            ) from None


def _upload_not_found(key: str, version: str | None) -> NotFound:
    what = "no upload" if version is None else f"no upload of version {version}"
    return NotFound(
        f"{what} at {key} (promoted, deleted or replaced meanwhile)",
        code="upload_not_found",
        details={"key": key, "version": version},
    )


def _kept(asked: Protection) -> Protection:
    """How a local blob is kept: exactly as asked, recorded in the catalog (the sweep deletes
    an expiring one once nothing relies on it), though a local file is not immutable the way
    an S3 Object Lock is: a lock here is a promise of time only."""
    return Protection(asked.expiring, asked.lock_mode, asked.retain_until, asked.expires_at)
