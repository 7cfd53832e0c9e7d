"""The package browser's pure helpers: metadata rows, the file tree, sizes, autoescaping."""

from __future__ import annotations

from artifactstore.api.ui import _env, human_size
from artifactstore.domain.digests import Digest
from artifactstore.domain.manifest import FileEntry
from artifactstore.domain.packages import BlobStatus, PackageFile
from artifactstore.service.browse import file_tree, metadata_rows


def test_metadata_rows_nested_in_order() -> None:
    rows = metadata_rows({"b": {"y/z": [1, {"k": None}], "x": {}}, "a": "1"})
    assert rows == [
        ("/a", 0, False, "1"),
        ("/b", 0, True, {"y/z": [1, {"k": None}], "x": {}}),
        ("/b/x", 1, False, {}),
        ("/b/y~1z", 1, True, [1, {"k": None}]),
        ("/b/y~1z/0", 2, False, 1),
        ("/b/y~1z/1", 2, True, {"k": None}),
        ("/b/y~1z/1/k", 3, False, None),
    ]


def test_file_tree_groups_folders() -> None:
    def f(path: str) -> PackageFile:
        return PackageFile(FileEntry(path, 1, Digest.of_bytes(path.encode())), BlobStatus.VERIFIED)

    root = file_tree([f("a/b/c.txt"), f("a/d.txt"), f("top.txt")])
    assert [x.entry.path for x in root.files] == ["top.txt"]
    (a,) = root.walk()
    assert a.path == "a" and [x.entry.path for x in a.files] == ["a/d.txt"]
    assert [b.path for b in a.walk()] == ["a/b"]


def test_sizes() -> None:
    assert human_size(0) == "0 B"
    assert human_size(1536) == "1.5 KiB"
    assert human_size(5 * 1024**4) == "5.0 TiB"


def test_every_template_autoescapes() -> None:
    env = _env()
    for name in env.list_templates():
        source = env.loader.get_source(env, name)[0]
        assert "|safe" not in source.replace(" ", "") and "autoescape false" not in source, name
    assert env.from_string("{{ v }}").render(v="<img src=x>") == "&lt;img src=x&gt;"
