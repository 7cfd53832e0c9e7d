"""DEST_DIR of a download: files written through fresh temporaries, never through a symlink.

DEST_DIR may hold things the package did not put there, symlinks included: every folder below
DEST_DIR is opened with ``O_NOFOLLOW`` relative to its parent's descriptor (a symlinked folder
is refused as ``unsafe_destination``, never followed), temporaries get unpredictable names and
are created with ``O_EXCL|O_NOFOLLOW``, and a final name that is a symlink is replaced by the
rename, never written through (nor read or chmod-ed through by the resume check, which also
never blocks on a FIFO); a folder at a final name is refused, kept as it is.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from artifactstore.domain.digests import StreamingHasher
from artifactstore.domain.manifest import FileEntry
from artifactstore.errors import IntegrityError, InvalidInput

PARTIAL_DIR = ".artifactstore-partial"
CHUNK = 1 << 20
# Folder descriptors held open at once: a page of files lands in a few folders, each opened
# once instead of once per file (a 100,000-file download walked 200,000 folder chains), and
# well under the usual limit of 1,024 descriptors. Folders past it are opened per file.
FOLDERS_HELD = 256
_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_PRESENT_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def file_modes() -> tuple[int, int]:
    """(plain, executable) file modes, 644 and 755 as the umask allows: only the executable
    bit travels with a package."""
    # Reading the umask means setting it: done once, before any thread creates a file or a
    # folder (a folder made while it is 0 would be world-writable).
    umask = os.umask(0)
    os.umask(umask)
    plain = 0o666 & ~umask
    return plain, plain | ((plain & 0o444) >> 2)


def temporary_name() -> str:
    """A fresh, unpredictable name for a temporary in the partial folder."""
    return f"{secrets.token_hex(16)}.part"


def check_digest(entry: FileEntry, hasher: StreamingHasher) -> None:
    """Raise unless ``hasher`` saw exactly the entry's bytes."""
    if hasher.size != entry.size or hasher.digest() != entry.digest:
        raise IntegrityError(
            f"{entry.path}: received {hasher.size} bytes with digest {hasher.digest()}, "
            f"expected {entry.size} bytes with {entry.digest}",
            details={"path": entry.path, "expected": str(entry.digest)},
        )


def _unsafe(path: str, what: str, refusal: str = "write through it") -> InvalidInput:
    return InvalidInput(
        f"{path}: {what} in the destination; refusing to {refusal} "
        "(remove it, or download to another folder)",
        code="unsafe_destination",
        details={"path": path},
    )


def _open_folder(parent_fd: int, name: str, shown: str) -> int:
    """The folder ``name`` in ``parent_fd``, made if missing, never through a symlink."""
    for _ in range(3):
        try:
            return os.open(name, _FOLDER_FLAGS, dir_fd=parent_fd)
        except FileNotFoundError:
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o777, dir_fd=parent_fd)
        except OSError as exc:  # ELOOP for a symlink (O_NOFOLLOW), ENOTDIR for a file
            try:
                mode = os.stat(name, dir_fd=parent_fd, follow_symlinks=False).st_mode
            except FileNotFoundError:
                continue
            if stat.S_ISLNK(mode):
                raise _unsafe(shown, "a symlink") from exc
            if not stat.S_ISDIR(mode):
                raise _unsafe(shown, "not a folder") from exc
            raise
    raise _unsafe(shown, "a folder that keeps disappearing")


class Destination:
    """DEST_DIR opened for a download, with its partial folder; safe for many threads.

    Folders are opened once and their descriptors kept until :meth:`forget_folders` (call it
    when no file is being written) or :meth:`close`. A folder swapped for a symlink after it
    was opened changes nothing: writes go by descriptor into the folder that was checked.
    """

    def __init__(self, dest: Path) -> None:
        # DEST_DIR itself may be a symlink: the user chose it (only what is below is checked)
        dest.mkdir(parents=True, exist_ok=True)
        self.path = dest
        self._plain_mode, self._executable_mode = file_modes()
        self._folders: dict[tuple[str, ...], int] = {}
        self._opening = threading.Lock()
        self._dest_fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            self._partial_fd = _open_folder(self._dest_fd, PARTIAL_DIR, PARTIAL_DIR)
        except BaseException:
            os.close(self._dest_fd)
            raise

    def __enter__(self) -> Destination:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close every descriptor and remove the partial folder with any leftovers in it."""
        self.forget_folders()
        os.close(self._partial_fd)
        os.close(self._dest_fd)
        # Leftovers only ever live there, never under a final name; a rerun starts afresh.
        # (rmtree never follows symlinks; the folder was checked not to be one.)
        shutil.rmtree(self.path / PARTIAL_DIR, ignore_errors=True)

    def forget_folders(self) -> None:
        """Close the folder descriptors held so far (no file may be in flight)."""
        with self._opening:
            folders, self._folders = self._folders, {}
        for fd in folders.values():
            os.close(fd)

    def present(self, entry: FileEntry) -> bool:
        """Whether a regular file with the entry's bytes is already at its final name (a
        resumed download); its mode is then set as the entry says.

        Opened ``O_NOFOLLOW`` (a symlink is never read nor chmod-ed through) and
        ``O_NONBLOCK`` (a FIFO planted at the name would block a plain open forever);
        anything but a regular file is not present, and the rename replaces it.
        """
        parts = entry.path.split("/")
        folder_fd, owned = self._folder(parts)
        try:
            fd = os.open(parts[-1], _PRESENT_FLAGS, dir_fd=folder_fd)
        except OSError:
            return False
        finally:
            if owned:
                os.close(folder_fd)
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size != entry.size:
            os.close(fd)  # (fdopen refuses folders)
            return False
        with os.fdopen(fd, "rb") as handle:
            hasher = StreamingHasher()
            while block := handle.read(CHUNK):
                hasher.update(block)
            if hasher.digest() != entry.digest:
                return False
            os.fchmod(handle.fileno(), self._mode(entry))
        return True

    def place(self, entry: FileEntry, write: Callable[[BinaryIO], object]) -> None:
        """Write a file through a fresh temporary, then rename it to its final name."""
        parts = entry.path.split("/")
        folder_fd, owned = self._folder(parts)
        try:
            temp = temporary_name()
            try:
                fd = os.open(temp, _TEMP_FLAGS, 0o600, dir_fd=self._partial_fd)
            except FileExistsError as exc:  # 128 random bits taken: something raced us there
                raise _unsafe(f"{PARTIAL_DIR}/{temp}", "an entry at a fresh random name") from exc
            try:
                with os.fdopen(fd, "wb") as sink:
                    write(sink)
                    os.fchmod(sink.fileno(), self._mode(entry))
                # rename replaces whatever has the final name (a symlink too), never follows it
                os.replace(temp, parts[-1], src_dir_fd=self._partial_fd, dst_dir_fd=folder_fd)
            except BaseException as exc:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp, dir_fd=self._partial_fd)
                if isinstance(exc, IsADirectoryError):
                    raise _unsafe(entry.path, "a folder", "replace it with a file") from exc
                raise
        finally:
            if owned:
                os.close(folder_fd)

    def _mode(self, entry: FileEntry) -> int:
        return self._executable_mode if entry.executable else self._plain_mode

    def _folder(self, parts: list[str]) -> tuple[int, bool]:
        """The descriptor of the folder holding ``parts`` and whether the caller must close
        it (only when more than FOLDERS_HELD folders are held)."""
        key = tuple(parts[:-1])
        if not key:
            return self._dest_fd, False
        fd = self._folders.get(key)  # one dict read: atomic under the GIL
        if fd is not None:
            return fd, False
        with self._opening:
            held = len(key)  # the deepest folder of the chain already held
            while held and key[:held] not in self._folders:
                held -= 1
            fd = self._folders[key[:held]] if held else self._dest_fd
            owned = False
            try:
                for depth in range(held + 1, len(key) + 1):
                    inner = _open_folder(fd, key[depth - 1], "/".join(key[:depth]))
                    if owned:
                        os.close(fd)
                    fd, owned = inner, len(self._folders) >= FOLDERS_HELD
                    if not owned:
                        self._folders[key[:depth]] = fd
            except BaseException:
                if owned:
                    os.close(fd)
                raise
            return fd, owned
