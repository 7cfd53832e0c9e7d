"""Writing a received upload's bytes to its file, exactly once and exactly its declared size.

The bytes go to a temp file beside the target, hashed as they stream, fsynced, stamped (see
``files.identity``) and made read-only, then linked to the target name: a hard link fails when
the name exists, so racing PUTs never overwrite each other and readers never see half a file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from artifactstore.adapters.local import files as local_files
from artifactstore.domain.digests import StreamingHasher
from artifactstore.errors import Conflict, InvalidInput


def write_upload_once(path: Path, key: str, size: int, stream: Iterable[bytes]) -> str:
    """Write exactly ``size`` bytes of ``stream`` to ``path`` (the file of upload ``key``).

    Returns the bytes' BLAKE3 hex (the ETag). More or fewer bytes are ``size_mismatch``; the
    same bytes already at ``path`` are a no-op, other bytes there are ``upload_exists``. On any
    refusal nothing is left behind and ``path`` is unchanged.
    """
    hasher = StreamingHasher()
    temp = local_files.temp_name(path)
    try:
        with local_files.create_beside(temp) as handle:
            for chunk in stream:
                hasher.update(chunk)
                # Checked before writing, so an endless stream is cut off at ``size`` bytes.
                if hasher.size > size:
                    raise _size_mismatch(key, size, f"more than {size}")
                handle.write(chunk)
            if hasher.size != size:
                raise _size_mismatch(key, size, str(hasher.size))
            handle.flush()
            os.fsync(handle.fileno())
        etag = hasher.digest().hex
        local_files.stamp(temp)
        temp.chmod(local_files.READ_ONLY)
        if not local_files.link_upload(temp, path, etag):
            raise Conflict(
                f"upload {key} already holds other bytes; wait for the verifier's verdict, "
                "then upload through a fresh target",
                code="upload_exists",
                details={"key": key},
            )
    finally:
        temp.unlink(missing_ok=True)
    return etag


def _size_mismatch(key: str, size: int, received: str) -> InvalidInput:
    return InvalidInput(
        f"upload {key} must be exactly {size} bytes; received {received}",
        code="size_mismatch",
        details={"key": key, "expected": size, "received": received},
    )
