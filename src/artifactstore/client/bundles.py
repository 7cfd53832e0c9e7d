"""Bundles: many small blobs sent as one upload, their bytes concatenated in member order.

The service lists small missing blobs as ``bundle_blobs`` (no URL). The client groups them,
asks ``POST /packages/{id}/bundles`` for one upload target per group, and PUTs the members'
bytes back to back. The answer may drop members already stored meanwhile; the PUT follows the
answer's ``blobs`` order, which is what the verifier splits the bytes by.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from artifactstore.client.api import ApiClient
from artifactstore.client.uploads import CHUNK, LocalBlob, checked_stream
from artifactstore.domain.bundles import BUNDLE_MAX_BYTES, BUNDLE_MAX_MEMBERS
from artifactstore.errors import ServerError

# Codes after which a fresh target (the same bundle requested again) is the cure.
EXPIRED_TARGET = frozenset({"upload_refused", "upload_url_expired"})
BUNDLE_ATTEMPTS = 3


class BundleGrouper:
    """Collects small blobs in the order the service lists them and cuts them into bundles.

    A blob listed twice (on two pages, or as two files with the same bytes) is bundled once.
    """

    def __init__(
        self, max_members: int = BUNDLE_MAX_MEMBERS, max_bytes: int = BUNDLE_MAX_BYTES
    ) -> None:
        self.max_members = max_members
        self.max_bytes = max_bytes
        self._open: list[LocalBlob] = []
        self._open_bytes = 0
        self._seen: set[str] = set()

    def add(self, blobs: Iterable[LocalBlob]) -> list[list[LocalBlob]]:
        """Take more blobs; return the bundles that are now full."""
        full: list[list[LocalBlob]] = []
        for blob in blobs:
            if str(blob.digest) in self._seen:
                continue
            self._seen.add(str(blob.digest))
            too_many = len(self._open) >= self.max_members
            if self._open and (too_many or self._open_bytes + blob.size > self.max_bytes):
                full.append(self.flush())
            self._open.append(blob)
            self._open_bytes += blob.size
        return full

    def flush(self) -> list[LocalBlob]:
        """The bundle being filled (possibly empty), and start a new one."""
        bundle, self._open, self._open_bytes = self._open, [], 0
        return bundle


def group_bundles(
    blobs: Iterable[LocalBlob],
    max_members: int = BUNDLE_MAX_MEMBERS,
    max_bytes: int = BUNDLE_MAX_BYTES,
) -> list[list[LocalBlob]]:
    """All of ``blobs`` cut into bundles, in order (see ``BundleGrouper``)."""
    grouper = BundleGrouper(max_members, max_bytes)
    bundles = grouper.add(blobs)
    last = grouper.flush()
    return [*bundles, last] if last else bundles


def bundle_stream(members: Sequence[LocalBlob], sent: Callable[[int], None]) -> Iterator[bytes]:
    """The members' bytes back to back, each checked against its digest as it streams.

    Small files are gathered into chunks of about ``CHUNK`` so a bundle of a thousand files is
    not a thousand tiny writes. A file that changed since hashing raises before its last bytes
    are yielded, so storage never receives a complete bundle with wrong bytes.
    """
    buffer = bytearray()
    for blob in members:
        for piece in checked_stream(blob, lambda _n: None):
            buffer += piece
            if len(buffer) >= CHUNK:
                yield bytes(buffer)
                sent(len(buffer))
                buffer.clear()
    if buffer:
        yield bytes(buffer)
        sent(len(buffer))


class BundleSender:
    """Requests one bundle's upload target and PUTs its bytes; retried with a fresh target."""

    def __init__(
        self,
        client: ApiClient,
        package_id: str,
        sent: Callable[[int], None],
        done: Callable[[Sequence[LocalBlob], int], None],
    ) -> None:
        self.client = client
        self.package_id = package_id
        self._sent = sent
        self._done = done  # (members, bytes actually PUT for them)

    def send(self, members: Sequence[LocalBlob]) -> None:
        """Store ``members`` through one bundle; members the service already holds are skipped."""
        for attempt in range(BUNDLE_ATTEMPTS):
            kept, target = self._request(members)
            if target is None:
                self._done(members, 0)
                return
            try:
                self._put(kept, target)
            except ServerError as exc:
                if exc.code not in EXPIRED_TARGET or attempt == BUNDLE_ATTEMPTS - 1:
                    raise
                continue  # the presigned URL expired while it waited in the pool: ask again
            self._done(members, sum(b.size for b in kept))
            return

    def _put(self, kept: Sequence[LocalBlob], target: Mapping[str, Any]) -> None:
        self.client.put_upload(
            str(target["url"]),
            dict(target.get("headers") or {}),
            sum(b.size for b in kept),
            lambda: bundle_stream(kept, self._sent),
        )

    def _request(
        self, members: Sequence[LocalBlob]
    ) -> tuple[list[LocalBlob], Mapping[str, Any] | None]:
        """``POST /packages/{id}/bundles``: the members to send, in order, and their target."""
        _status, answer = self.client.post_json(
            f"/packages/{self.package_id}/bundles",
            {"blobs": [str(b.digest) for b in members]},
        )
        by_digest = {str(b.digest): b for b in members}
        listed = [str(d) for d in answer.get("blobs") or []]
        if any(d not in by_digest for d in listed) or len(set(listed)) != len(listed):
            raise ServerError(
                f"the service put blobs this bundle did not ask for in bundle "
                f"{answer.get('bundle_id')}",
                code="unexpected_upload_target",
            )
        kept = [by_digest[d] for d in listed]
        target = answer.get("upload_target")
        if not kept or target is None:
            return [], None
        size = sum(b.size for b in kept)
        if int(answer.get("size", size)) != size or int(target.get("size", size)) != size:
            raise ServerError(
                f"the service sized bundle {answer.get('bundle_id')} at {answer.get('size')} "
                f"bytes; its members hold {size}",
                code="unexpected_upload_target",
            )
        return kept, target
