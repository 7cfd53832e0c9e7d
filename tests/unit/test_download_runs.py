"""Packed files of a plan page are read in runs: one ranged GET per neighbourhood of a pack."""

from __future__ import annotations

from artifactstore.client.download import Planned, coalesce
from artifactstore.domain.digests import Digest
from artifactstore.domain.manifest import FileEntry


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
