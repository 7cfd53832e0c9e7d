"""DEST_DIR of a download: each folder opened once while it is held, never more descriptors
than FOLDERS_HELD kept, and a held folder swapped for a symlink never written through."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

import pytest

from artifactstore.client import destination
from artifactstore.client.destination import PARTIAL_DIR, Destination
from artifactstore.domain.digests import Digest
from artifactstore.domain.manifest import FileEntry
from artifactstore.errors import InvalidInput


def entry(path: str, body: bytes) -> FileEntry:
    return FileEntry(path, len(body), Digest.of_bytes(body))


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def place_all(dest: Destination, files: dict[str, bytes]) -> None:
    for path, body in files.items():

        def write(sink: BinaryIO, body: bytes = body) -> None:
            sink.write(body)

        dest.place(entry(path, body), write)


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The folders ``_open_folder`` was asked for, in order."""
    asked: list[str] = []
    real = destination._open_folder

    def recording(parent_fd: int, name: str, shown: str) -> int:
        asked.append(shown)
        return real(parent_fd, name, shown)

    monkeypatch.setattr(destination, "_open_folder", recording)
    return asked


def test_each_folder_is_opened_once_while_held(tmp_path: Path, opened: list[str]) -> None:
    files = {f"logs/{k % 3}/case-{k}.txt": f"body {k}".encode() for k in range(30)}
    with Destination(tmp_path / "dest") as dest:
        place_all(dest, files)
        assert all(dest.present(entry(p, b)) for p, b in files.items())
        dest.forget_folders()
        assert dest.present(entry("logs/0/case-0.txt", b"body 0"))

    assert opened == [PARTIAL_DIR, "logs", "logs/0", "logs/1", "logs/2", "logs", "logs/0"]
    assert {p: (tmp_path / "dest" / p).read_bytes() for p in files} == files
    assert not (tmp_path / "dest" / PARTIAL_DIR).exists()


def test_past_the_folders_held_each_file_opens_and_closes_its_own(
    tmp_path: Path, opened: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(destination, "FOLDERS_HELD", 2)
    files = {f"a/{k}/deep/f.txt": f"body {k}".encode() for k in range(4)}
    before = open_descriptors()
    with Destination(tmp_path / "dest") as dest:
        place_all(dest, files)
        place_all(dest, files)  # the same folders again: "a" and "a/0" held, the rest reopened
        assert open_descriptors() == before + 2 + 2  # DEST_DIR, its partial folder, two held

    assert open_descriptors() == before
    held, each_time = ["a", "a/0"], ["a/0/deep", "a/1", "a/1/deep", "a/2", "a/2/deep", "a/3"]
    assert opened == [PARTIAL_DIR, *held, *each_time, "a/3/deep", *each_time, "a/3/deep"]
    assert {p: (tmp_path / "dest" / p).read_bytes() for p in files} == files


def test_a_held_folder_swapped_for_a_symlink_is_never_written_through(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "dest"
    with Destination(root) as dest:
        place_all(dest, {"logs/one.txt": b"one"})
        (root / "logs").rename(root / "moved")
        (root / "logs").symlink_to(outside)
        place_all(dest, {"logs/two.txt": b"two"})  # by descriptor, into the folder checked

        assert list(outside.iterdir()) == []
        assert sorted(p.name for p in (root / "moved").iterdir()) == ["one.txt", "two.txt"]
        dest.forget_folders()  # opened afresh: now the symlink is seen, and refused
        with pytest.raises(InvalidInput, match="logs: a symlink in the destination"):
            place_all(dest, {"logs/three.txt": b"three"})
    assert list(outside.iterdir()) == []
