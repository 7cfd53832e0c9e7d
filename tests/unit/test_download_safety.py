"""``download`` never writes outside DEST_DIR, whatever symlinks DEST_DIR already holds, and
never writes more than a file's size (issue 14, item 4)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from artifactstore.client.download import PARTIAL_DIR, Planned, download_package, stream_verified
from artifactstore.domain.digests import Digest
from artifactstore.errors import IntegrityError, InvalidInput
from tests.unit.cli_fake_api import FakeApi
from tests.unit.test_cli_client_flows import SCHEMA, client_for, make_run


def stored(tmp_path: Path) -> tuple[FakeApi, str, Path]:
    """A sealed package of ``make_run``'s files in the fake API; its run folder."""
    from artifactstore.client.ingest import ingest_run

    run = make_run(tmp_path / "run")
    api = FakeApi()
    with client_for(api) as client:
        package_id = ingest_run(client, run, SCHEMA, environ={}).package_id
    return api, package_id, run


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_a_symlinked_folder_in_dest_is_refused_and_nothing_lands_outside(tmp_path: Path) -> None:
    api, package_id, _ = stored(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "logs").symlink_to(outside)

    with client_for(api) as client, pytest.raises(InvalidInput) as refused:
        download_package(client, package_id, dest, concurrency=1)

    assert refused.value.code == "unsafe_destination"
    assert refused.value.details == {"path": "logs"}
    assert "logs: a symlink in the destination" in refused.value.message
    assert list(outside.iterdir()) == []
    assert not (dest / PARTIAL_DIR).exists()


def test_a_symlinked_partial_folder_is_refused(tmp_path: Path) -> None:
    api, package_id, _ = stored(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / PARTIAL_DIR).symlink_to(outside)

    with client_for(api) as client, pytest.raises(InvalidInput) as refused:
        download_package(client, package_id, dest)

    assert refused.value.code == "unsafe_destination"
    assert refused.value.details == {"path": PARTIAL_DIR}
    assert list(outside.iterdir()) == []
    assert (dest / PARTIAL_DIR).is_symlink()  # left as it was, never removed through


def test_planted_symlinks_at_temporary_names_are_never_written_through(tmp_path: Path) -> None:
    api, package_id, run = stored(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    dest = tmp_path / "dest"
    partial = dest / PARTIAL_DIR
    partial.mkdir(parents=True)
    # The names temporaries used to get (the BLAKE3 of the path), each a link to the victim.
    for path in snapshot(run):
        name = Digest.of_bytes(path.encode("utf-8")).hex + ".part"
        (partial / name).symlink_to(victim)

    with client_for(api) as client:
        result = download_package(client, package_id, dest)

    assert victim.read_bytes() == b"precious"
    assert result.downloaded == 5
    assert snapshot(dest) == snapshot(run)


def test_a_final_name_that_is_a_symlink_is_replaced_not_followed(tmp_path: Path) -> None:
    api, package_id, run = stored(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "run.json").symlink_to(victim)

    with client_for(api) as client:
        download_package(client, package_id, dest)

    assert victim.read_bytes() == b"precious"
    assert not (dest / "run.json").is_symlink()
    assert (dest / "run.json").read_bytes() == (run / "run.json").read_bytes()


def test_a_file_where_a_folder_belongs_is_refused(tmp_path: Path) -> None:
    api, package_id, _ = stored(tmp_path)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "tools").write_bytes(b"mine")

    with client_for(api) as client, pytest.raises(InvalidInput) as refused:
        download_package(client, package_id, dest, ["tools/*"])

    assert refused.value.code == "unsafe_destination"
    assert "tools: not a folder in the destination" in refused.value.message
    assert (dest / "tools").read_bytes() == b"mine"


def test_a_body_longer_than_its_file_is_cut_off_unwritten(tmp_path: Path) -> None:
    api, package_id, _ = stored(tmp_path)
    entry = next(f for f in api.packages[package_id].manifest.files if f.path == "run.json")
    right = api.blobs[str(entry.digest)]
    api.blobs[str(entry.digest)] = right + b"x" * (4 << 20)
    sink = io.BytesIO()

    with client_for(api) as client, pytest.raises(IntegrityError) as refused:
        stream_verified(client, package_id, Planned(entry), sink)

    assert f"sent more than its {entry.size} bytes" in refused.value.message
    assert len(sink.getvalue()) <= entry.size
    dest = tmp_path / "dest"
    with client_for(api) as client, pytest.raises(IntegrityError):
        download_package(client, package_id, dest, ["run.json"])
    assert not (dest / "run.json").exists()


def test_dest_itself_may_be_a_symlink_the_user_chose(tmp_path: Path) -> None:
    api, package_id, run = stored(tmp_path)
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)

    with client_for(api) as client:
        download_package(client, package_id, tmp_path / "link")

    assert snapshot(real) == snapshot(run)
    assert os.access(real / "tools" / "rerun.sh", os.X_OK)
