"""``download`` over real HTTP (the fake API on a loopback port), the CLI's exit codes and exact
error lines included: nothing is ever written outside DEST_DIR, nor more than a file's size
(issue 14, item 4). ``test_download_safety.py`` holds the in-process cases."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from artifactstore.client import destination, download
from artifactstore.client.api import ApiClient
from artifactstore.client.download import PARTIAL_DIR, download_package
from artifactstore.client.ingest import ingest_run
from artifactstore.domain.digests import Digest
from artifactstore.domain.manifest import FileEntry
from artifactstore.errors import IntegrityError, InvalidInput
from tests.unit.cli_fake_api import TOKEN, FakeApi, serve
from tests.unit.test_cli_client_flows import SCHEMA, make_run

CLI = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "artifactstore"
REFUSAL = "refusing to write through it (remove it, or download to another folder)"


class Served:
    """A sealed package of ``make_run``'s files, served over real HTTP."""

    def __init__(self, api: FakeApi, url: str, package_id: str, run: Path) -> None:
        self.api, self.url, self.package_id, self.run = api, url, package_id, run

    def client(self) -> ApiClient:
        return ApiClient(self.url, TOKEN, retries=0, backoff=0)

    def cli(self, dest: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("ARTIFACTSTORE_")}
        env = {
            **clean,
            "ARTIFACTSTORE_API_URL": self.url,
            "ARTIFACTSTORE_API_TOKEN": TOKEN,
            "ARTIFACTSTORE_CLIENT_RETRIES": "0",
        }
        return subprocess.run(
            [str(CLI), "download", self.package_id, str(dest), *args],
            cwd=dest.parent,  # no .env there
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def files(self) -> list[FileEntry]:
        return list(self.api.packages[self.package_id].manifest.files)

    def entry(self, path: str) -> FileEntry:
        return next(f for f in self.files() if f.path == path)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    api = FakeApi()
    with serve(api) as url:
        run = make_run(tmp_path / "run")
        (run / "deep" / "er").mkdir(parents=True)
        (run / "deep" / "er" / "notes.txt").write_bytes(b"two levels down\n")
        with ApiClient(url, TOKEN, retries=0, backoff=0) as client:
            package_id = ingest_run(client, run, SCHEMA, environ={}).package_id
        yield Served(api, url, package_id, run)


def tree(root: Path) -> dict[str, bytes | str]:
    """Every entry below ``root``, never followed: files' bytes, links' targets, folders."""
    found: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        name = str(path.relative_to(root))
        if path.is_symlink():
            found[name] = f"-> {os.readlink(path)}"
        elif path.is_dir():
            found[name] = "/"
        else:
            found[name] = path.read_bytes()
    return found


# (a) a symlinked folder inside DEST_DIR


def test_cli_refuses_a_symlinked_folder_and_writes_nothing_outside(
    served: Served, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "logs").symlink_to(outside)

    done = served.cli(dest)

    assert done.returncode == 2, done.stderr
    assert done.stderr == f"error: logs: a symlink in the destination; {REFUSAL}\n"
    assert done.stdout == ""
    assert list(outside.iterdir()) == []
    assert (dest / "logs").is_symlink() and os.readlink(dest / "logs") == str(outside)
    assert not (dest / PARTIAL_DIR).exists()


def test_a_symlinked_folder_deeper_down_is_refused(served: Served, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    (dest / "deep").mkdir(parents=True)
    # A link below a real folder: the walk checks every component, not just the top one.
    (dest / "deep" / "er").symlink_to(outside)

    with served.client() as client, pytest.raises(InvalidInput) as refused:
        download_package(client, served.package_id, dest, ["deep/*"])

    assert refused.value.code == "unsafe_destination"
    assert refused.value.details == {"path": "deep/er"}
    assert refused.value.message == f"deep/er: a symlink in the destination; {REFUSAL}"
    assert list(outside.iterdir()) == []


# (b) predictable temporary names


def test_temporary_names_are_fresh_and_unpredictable(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    used: list[str] = []
    real = destination.temporary_name

    def recording() -> str:
        used.append(real())
        return used[-1]

    monkeypatch.setattr(destination, "temporary_name", recording)
    dest_one, dest_two = tmp_path / "one", tmp_path / "two"
    with served.client() as client:
        download_package(client, served.package_id, dest_one)
        download_package(client, served.package_id, dest_two)

    count = len(served.files())
    assert len(used) == 2 * count and len(set(used)) == 2 * count  # same paths twice: new names
    assert all(re.fullmatch(r"[0-9a-f]{32}\.part", name) for name in used)
    # The names temporaries used to get (the BLAKE3 of the path) are never used.
    old_scheme = {Digest.of_bytes(f.path.encode()).hex + ".part" for f in served.files()}
    assert not set(used) & old_scheme


@pytest.mark.parametrize("dangling", [False, True], ids=["to-a-file", "dangling"])
def test_a_symlink_planted_at_the_exact_temporary_name_is_refused(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dangling: bool
) -> None:
    # Suppose the attacker guessed the name anyway: O_CREAT|O_EXCL|O_NOFOLLOW still refuses it.
    victim = tmp_path / "victim.txt"
    if not dangling:
        victim.write_bytes(b"precious")
    dest = tmp_path / "dest"
    partial = dest / PARTIAL_DIR
    partial.mkdir(parents=True)
    name = "0123456789abcdef0123456789abcdef.part"
    (partial / name).symlink_to(victim)
    monkeypatch.setattr(destination, "temporary_name", lambda: name)

    with served.client() as client, pytest.raises(InvalidInput) as refused:
        download_package(client, served.package_id, dest, ["run.json"])

    assert refused.value.code == "unsafe_destination"
    assert refused.value.details == {"path": f"{PARTIAL_DIR}/{name}"}
    assert refused.value.message == (
        f"{PARTIAL_DIR}/{name}: an entry at a fresh random name in the destination; {REFUSAL}"
    )
    if dangling:  # a plain O_CREAT would have made the victim through the link
        assert not victim.exists() and not victim.is_symlink()
    else:
        assert victim.read_bytes() == b"precious"
    assert not (dest / "run.json").exists()
    assert not partial.exists()  # cleaned up (the link removed, never followed)


# (c) a body longer than the file's size


def test_an_over_long_body_is_cut_off_at_the_files_size(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = served.entry("run.json")
    right = served.api.blobs[str(entry.digest)]
    served.api.blobs[str(entry.digest)] = right + b"x" * (3 << 20)  # crosses several chunks
    written: list[int] = []
    real = download.stream_verified

    def measuring(
        client: ApiClient,
        package_id: str,
        planned: download.Planned,
        sink: BinaryIO,
        received: Callable[[int], None] = lambda _n: None,
    ) -> None:
        try:
            real(client, package_id, planned, sink, received)
        finally:
            sink.flush()
            written.append(os.fstat(sink.fileno()).st_size)

    monkeypatch.setattr(download, "stream_verified", measuring)
    dest = tmp_path / "dest"

    with served.client() as client, pytest.raises(IntegrityError) as refused:
        download_package(client, served.package_id, dest, ["run.json"])

    assert refused.value.message == f"run.json: the server sent more than its {entry.size} bytes"
    assert written and written[0] <= entry.size
    assert not (dest / "run.json").exists()
    assert tree(dest) == {}


def test_cli_exits_1_on_an_over_long_body(served: Served, tmp_path: Path) -> None:
    entry = served.entry("run.json")
    served.api.blobs[str(entry.digest)] += b"x" * 4096
    dest = tmp_path / "dest"

    done = served.cli(dest, "--include", "run.json")

    assert done.returncode == 1, done.stderr
    assert done.stderr == f"error: run.json: the server sent more than its {entry.size} bytes\n"
    assert tree(dest) == {}


# What may sit at a final name


def test_a_fifo_at_a_final_name_is_replaced_without_hanging(served: Served, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    os.mkfifo(dest / "run.json")  # a plain open() for reading would block forever

    done = served.cli(dest, timeout=30)

    assert done.returncode == 0, done.stderr
    assert (dest / "run.json").read_bytes() == (served.run / "run.json").read_bytes()


def test_a_symlink_to_a_folder_at_a_final_name_is_replaced(served: Served, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "run.json").symlink_to(outside)

    done = served.cli(dest)

    assert done.returncode == 0, done.stderr
    assert list(outside.iterdir()) == []
    assert not (dest / "run.json").is_symlink()
    assert (dest / "run.json").read_bytes() == (served.run / "run.json").read_bytes()


def test_a_folder_at_a_final_name_is_refused_and_kept(served: Served, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    (dest / "run.json").mkdir(parents=True)
    (dest / "run.json" / "mine.txt").write_bytes(b"mine")

    done = served.cli(dest, "--include", "run.json")

    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        "error: run.json: a folder in the destination; refusing to replace it with a file "
        "(remove it, or download to another folder)\n"
    )
    assert tree(dest) == {"run.json": "/", "run.json/mine.txt": b"mine"}


def test_dest_dir_given_as_a_symlink_is_used(served: Served, tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)

    done = served.cli(tmp_path / "link")

    assert done.returncode == 0, done.stderr
    assert {k: v for k, v in tree(real).items() if v != "/"} == {
        k: v for k, v in tree(served.run).items() if v != "/"
    }
