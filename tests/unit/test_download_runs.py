"""Packed files of a plan page are read in runs: one ranged GET per neighbourhood of a pack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from artifactstore.client.download import Planned, coalesce, download_package
from artifactstore.client.ingest import ingest_run
from artifactstore.domain.digests import Digest
from artifactstore.domain.manifest import FileEntry
from artifactstore.errors import IntegrityError, ServerError
from tests.unit.cli_fake_api import FakeApi
from tests.unit.test_cli_client_flows import SCHEMA, client_for, make_run


def planned(path: str, url: str, offset: int, size: int) -> Planned:
    entry = FileEntry(path, size, Digest.of_bytes(path.encode()))
    return Planned(entry, url, offset)


def spans(runs: list) -> list[tuple[str, int, int, list[str]]]:  # type: ignore[type-arg]
    return [(r.url, r.start, r.end, [p.entry.path for p in r.files]) for r in runs]


def test_neighbours_share_a_run_and_a_wide_gap_or_another_pack_starts_one() -> None:
    page = [
        planned("c", "pack-1", 250, 50),
        planned("a", "pack-1", 0, 100),
        planned("b", "pack-1", 100, 100),  # touching a: same run; c after a 50-byte gap
        planned("far", "pack-1", 10_000, 10),
        planned("z", "pack-2", 0, 10),
    ]
    assert spans(coalesce(page, gap=64, most=1 << 20)) == [
        ("pack-1", 0, 300, ["a", "b", "c"]),
        ("pack-1", 10_000, 10_010, ["far"]),
        ("pack-2", 0, 10, ["z"]),
    ]
    # With no gap allowed, c reads on its own.
    assert spans(coalesce(page, gap=0, most=1 << 20))[:2] == [
        ("pack-1", 0, 200, ["a", "b"]),
        ("pack-1", 250, 300, ["c"]),
    ]


def test_a_run_never_passes_its_size_and_one_blob_at_two_paths_is_read_once() -> None:
    page = [planned(f"f{i}", "pack", i * 100, 100) for i in range(10)]
    page.append(planned("again", "pack", 300, 100))  # f3's blob at another path
    runs = coalesce(page, gap=0, most=400)
    assert [(r.start, r.end) for r in runs] == [(0, 400), (400, 800), (800, 1000)]
    assert sum(len(r.files) for r in runs) == 11
    assert [p.entry.path for p in runs[0].files] == ["f0", "f1", "f2", "f3", "again"]


# -- over HTTP: the fake API's plans place every file in one pack, read by range ------------


def _stored(tmp_path: Path, **fake: Any) -> tuple[FakeApi, str, Path]:
    api = FakeApi(packed=True, **fake)
    run = make_run(tmp_path / "run")
    with client_for(api) as client:
        package_id = ingest_run(client, run, SCHEMA, environ={}).package_id
    return api, package_id, run


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_a_packed_package_downloads_with_one_ranged_get_per_run(tmp_path: Path) -> None:
    api, package_id, run = _stored(tmp_path)
    api.requests.clear()
    with client_for(api) as client:
        result = download_package(client, package_id, tmp_path / "dest")
    assert _files(tmp_path / "dest") == _files(run)
    assert result.downloaded == result.file_count == len(_files(run))
    storage = [r for r in api.requests if r[1].startswith("/_storage/")]
    assert storage == [("GET", f"/_storage/pack/{package_id}")]  # one run: all neighbours


@pytest.mark.parametrize(
    ("fake", "message"),
    [
        ({"range_answer": "whole"}, "storage answered the whole object, not bytes 0.."),
        ({"range_answer": "longer"}, "storage sent more than "),
        ({"pack_tamper": 0}, "received"),
    ],
    ids=["range-ignored", "longer-than-the-range", "tampered-byte"],
)
def test_wrong_ranges_and_wrong_bytes_stop_the_download_and_write_nothing(
    tmp_path: Path, fake: dict[str, Any], message: str
) -> None:
    api, package_id, _ = _stored(tmp_path, **fake)
    dest = tmp_path / "dest"
    with client_for(api) as client, pytest.raises(IntegrityError) as refused:
        download_package(client, package_id, dest)
    assert message in refused.value.message
    assert _files(dest) == {}


def test_an_empty_packed_file_alone_asks_storage_for_nothing(tmp_path: Path) -> None:
    api, package_id, _ = _stored(tmp_path, range_answer="whole")  # any range asked would fail
    api.requests.clear()
    with client_for(api) as client:
        result = download_package(client, package_id, tmp_path / "dest", [".guide-board/*"])
    assert (tmp_path / "dest" / ".guide-board" / "state").read_bytes() == b""
    assert result.downloaded == 1
    assert not [r for r in api.requests if r[1].startswith("/_storage/")]


def test_a_download_cut_off_midway_resumes_with_only_what_is_missing(tmp_path: Path) -> None:
    api, package_id, run = _stored(tmp_path, plan_page=2, range_budget=1)
    dest = tmp_path / "dest"
    with client_for(api) as client, pytest.raises(ServerError):
        download_package(client, package_id, dest, concurrency=1)
    first = _files(dest)
    assert len(first) == 2  # the first page's run landed; nothing half-written is left
    assert all(run.joinpath(path).read_bytes() == data for path, data in first.items())

    api.range_budget = None
    with client_for(api) as client:
        result = download_package(client, package_id, dest, concurrency=1)
    assert _files(dest) == _files(run)
    assert (result.downloaded, result.already_present) == (len(_files(run)) - 2, 2)
