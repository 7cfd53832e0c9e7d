"""Presigned uploads: single PUTs bound to key and size, multipart parts signed as read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, overload

from artifactstore.adapters.s3.errors import mapped
from artifactstore.ports.storage import UploadPart

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MiB = 1024**2
GiB = 1024**3
MAX_PARTS = 10_000
MIN_PART_SIZE = 8 * MiB
MAX_OBJECT_SIZE = 5 * 1024**4
# CopyObject takes up to 5 GiB in one request; above that the managed copy goes multipart.
SINGLE_COPY_LIMIT = 5 * GiB
OCTET_STREAM = "application/octet-stream"


def part_size_for(size: int) -> int:
    """Smallest power-of-two MiB part size (at least 8 MiB) that fits ``size`` in 10,000 parts."""
    part = MIN_PART_SIZE
    while part * MAX_PARTS < size:
        part *= 2
    return part


def presigned_put(client: S3Client, bucket: str, key: str, size: int, ttl: int) -> str:
    """A PUT URL bound to key, Content-Length and Content-Type (SigV4 signs both headers)."""
    params = {"Bucket": bucket, "Key": key, "ContentLength": size, "ContentType": OCTET_STREAM}
    with mapped(key, "upload"):
        return client.generate_presigned_url("put_object", Params=params, ExpiresIn=ttl)


class PresignedParts(Sequence[UploadPart]):
    """Every part of one multipart upload, each URL presigned when it is first read.

    A 5 TiB blob has 10,000 parts, and an answer carries only the parts that fit its byte
    budget (``service.targets``): presigning (local work, no request) happens for those only.
    """

    def __init__(
        self, client: S3Client, bucket: str, key: str, upload_id: str, size: int, ttl: int
    ) -> None:
        self.client, self.bucket, self.key = client, bucket, key
        self.upload_id, self.size, self.ttl = upload_id, size, ttl
        self.part_size = part_size_for(size)
        self._count = max(1, -(-size // self.part_size))

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> UploadPart: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[UploadPart]: ...

    def __getitem__(self, index: int | slice) -> UploadPart | Sequence[UploadPart]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._count))]
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError(index)
        offset = index * self.part_size
        length = min(self.part_size, self.size - offset)
        with mapped(self.key, "upload"):
            url = self.client.generate_presigned_url(
                "upload_part",
                Params={
                    "Bucket": self.bucket,
                    "Key": self.key,
                    "UploadId": self.upload_id,
                    "PartNumber": index + 1,
                    "ContentLength": length,
                },
                ExpiresIn=self.ttl,
            )
        return UploadPart(index + 1, url, offset, length)
