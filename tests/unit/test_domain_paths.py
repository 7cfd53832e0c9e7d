"""Property tests for the path rules and for "files sorted by UTF-8 bytes"."""

from __future__ import annotations

import unicodedata
from itertools import pairwise

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from artifactstore.domain.digests import Digest
from artifactstore.domain.manifest import FileEntry, Manifest
from artifactstore.domain.paths import (
    CONTROL_CHARACTER,
    FORMAT_CHARACTER,
    INVISIBLE_CHARACTERS,
    MAX_PATH_BYTES,
    check_path_set,
    validate_path,
)
from artifactstore.errors import InvalidInput

# Characters that sit on the rules' edges, mixed into otherwise arbitrary text.
TRICKY = (
    "/\\.\x00\t\n\x1f\x7f\x85\x9f e\u0301\u00e9\u212b\uff21\U0001f600\ud800"
    "\u202e\u200b\u200d\ufeff\U000e0041"
)
any_char = st.one_of(st.sampled_from(TRICKY), st.characters(exclude_categories=()))
any_text = st.text(any_char, max_size=40)


def is_valid_by_contract(path: str) -> bool:
    """The contract's rules, written independently of the code under test."""
    try:
        size = len(path.encode("utf-8"))
    except UnicodeEncodeError:
        return False
    controls = any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in path)
    invisible = any(unicodedata.category(c) == "Cf" for c in path)
    return (
        0 < size <= MAX_PATH_BYTES
        and not path.startswith("/")
        and "\\" not in path
        and not controls
        and not invisible
        and unicodedata.normalize("NFC", path) == path
        and all(segment not in ("", ".", "..") for segment in path.split("/"))
    )


segment_char = st.characters(
    exclude_categories=("Cc", "Cf", "Cs"), exclude_characters="/\\", codec="utf-8"
).filter(
    # Python 3.11 knows Unicode 14; the rule refuses Cf as of 15.1 (U+13439 and others are
    # format characters only from 15.0 on), so a newer one is no valid segment character.
    lambda c: not FORMAT_CHARACTER.match(c)
)
segment = (
    st.text(segment_char, min_size=1, max_size=12)
    .map(lambda s: unicodedata.normalize("NFC", s))
    .filter(lambda s: s not in (".", ".."))
)
valid_path = st.lists(segment, min_size=1, max_size=6).map("/".join)


@given(any_text)
@example("a/./b")
@example("a/../b")
@example("a//b")
@example("/a")
@example("a/")
@example("e\u0301")
@example("\u212b")  # ANGSTROM SIGN: NFC turns it into U+00C5
@example("a\x85b")  # C1 control (NEL)
@example("x" * MAX_PATH_BYTES)
@example("é" * (MAX_PATH_BYTES // 2 + 1))
def test_validate_path_accepts_exactly_the_contract_paths(path: str) -> None:
    if is_valid_by_contract(path):
        assert validate_path(path) == path
    else:
        with pytest.raises(InvalidInput) as info:
            validate_path(path)
        assert info.value.code == "invalid_path"


@given(valid_path)
def test_generated_valid_paths_pass_unchanged(path: str) -> None:
    if len(path.encode("utf-8")) <= MAX_PATH_BYTES:
        assert validate_path(path) == path


@given(
    valid_path,
    st.sampled_from(["\\", "\x00", "\t", "\x7f", "\x85", "//", "/./", "/../"]),
    st.data(),
)
def test_any_forbidden_piece_anywhere_is_refused(
    path: str, piece: str, data: st.DataObject
) -> None:
    at = data.draw(st.integers(0, len(path)))
    with pytest.raises(InvalidInput) as info:
        validate_path(path[:at] + piece + path[at:])
    assert info.value.code == "invalid_path"


@pytest.mark.parametrize("value", [None, 3, b"a", ["a"]])
def test_non_string_paths_are_refused(value: object) -> None:
    with pytest.raises(InvalidInput) as info:
        validate_path(value)
    assert info.value.code == "invalid_path"


small_path = st.lists(st.sampled_from(["a", "b", "é", "\uff21"]), min_size=1, max_size=3).map(
    "/".join
)


@given(st.lists(small_path, max_size=8))
def test_check_path_set_refuses_duplicates_then_file_folder_conflicts(paths: list[str]) -> None:
    distinct = set(paths)
    duplicate = len(distinct) != len(paths)
    conflict = any(other.startswith(p + "/") for p in distinct for other in distinct)
    if not duplicate and not conflict:
        check_path_set(paths)
        return
    with pytest.raises(InvalidInput) as info:
        check_path_set(paths)
    assert info.value.code == ("duplicate_path" if duplicate else "path_prefix_conflict")


def test_check_path_set_names_both_sides_of_a_conflict() -> None:
    with pytest.raises(InvalidInput) as info:
        check_path_set(["logs", "logs/run.log"])
    assert info.value.code == "path_prefix_conflict"
    assert info.value.details == {"file": "logs", "nested": "logs/run.log"}
    with pytest.raises(InvalidInput) as dup:
        check_path_set(["x", "y", "x"])
    assert dup.value.details == {"paths": ["x"]}


def test_a_sibling_with_a_common_prefix_is_no_conflict() -> None:
    check_path_set(["log", "logs/run.log", "log.txt"])


DEEP = "/".join(["d"] * 499)


@pytest.mark.parametrize(
    ("paths", "details"),
    [
        ([DEEP, DEEP + "/f"], {"file": DEEP, "nested": DEEP + "/f"}),
        ([DEEP + "/f", DEEP], {"file": DEEP, "nested": DEEP + "/f"}),
        (["d", DEEP + "/f"], {"file": "d", "nested": DEEP + "/f"}),
        ([DEEP + "/f", "d/d"], {"file": "d/d", "nested": DEEP + "/f"}),
    ],
)
def test_conflicts_are_found_at_any_depth_in_either_order(
    paths: list[str], details: dict[str, str]
) -> None:
    with pytest.raises(InvalidInput) as info:
        check_path_set(paths)
    assert info.value.code == "path_prefix_conflict"
    assert info.value.details == details


def test_thousands_of_500_segment_paths_share_their_folders() -> None:
    # Linear in the paths' total length (bench/paths.py times it against the old rule): siblings
    # 500 folders deep, a sibling folder beside them, and a file at each level of one branch.
    siblings = [f"{DEEP}/f{i}" for i in range(2_000)]
    ladder = ["/".join(["e"] * depth + ["f"]) for depth in range(500)]
    check_path_set([*siblings, f"{DEEP}x/f", *ladder])


# Leaves start with "f", folders with "d": no generated file can be another one's folder.
leaf = segment.map(lambda s: "f" + s)
folder = segment.map(lambda s: "d" + s)
file_path = st.tuples(st.lists(folder, max_size=3), leaf).map(lambda t: "/".join([*t[0], t[1]]))
ZERO = Digest("0" * 64)


@given(st.lists(file_path, min_size=1, max_size=12, unique=True), st.data())
def test_manifest_files_are_sorted_by_utf8_bytes_whatever_the_input_order(
    paths: list[str], data: st.DataObject
) -> None:
    paths = [p for p in paths if len(p.encode("utf-8")) <= MAX_PATH_BYTES]
    shuffled = data.draw(st.permutations(paths))

    built = Manifest.build("p", "k", "s", {}, [FileEntry(p, 0, ZERO) for p in shuffled])
    ordered = [f.path.encode("utf-8") for f in built.files]

    assert all(a < b for a, b in pairwise(ordered))
    assert sorted(ordered) == ordered
    straight = Manifest.build("p", "k", "s", {}, [FileEntry(p, 0, ZERO) for p in paths])
    assert built.canonical_bytes() == straight.canonical_bytes()


def test_manifest_refuses_an_invalid_path_even_from_a_file_entry() -> None:
    with pytest.raises(InvalidInput) as info:
        Manifest.build("p", "k", "s", {}, [FileEntry("a\\b", 0, ZERO)])
    assert info.value.code == "invalid_path"


def test_the_control_character_regex_is_unicode_category_cc_on_every_code_point() -> None:
    # The path rule was ``unicodedata.category(ch) == "Cc"`` per character; the regex must
    # agree with it everywhere, or a path could pass one and fail the other.
    disagree = [
        hex(cp)
        for cp in range(0x110000)
        if bool(CONTROL_CHARACTER.fullmatch(chr(cp))) != (unicodedata.category(chr(cp)) == "Cc")
    ]
    assert disagree == []


def test_the_format_character_regex_is_unicode_category_cf_on_every_code_point() -> None:
    # Written out as of Unicode 15.1 (Python 3.13); an older Python's Unicode leaves some of
    # those code points unassigned, never in another category.
    disagree = [
        hex(cp)
        for cp in range(0x110000)
        if bool(FORMAT_CHARACTER.fullmatch(chr(cp))) != (unicodedata.category(chr(cp)) == "Cf")
        and unicodedata.category(chr(cp)) != "Cn"
    ]
    assert disagree == []


def test_the_invisible_characters_are_what_the_two_regexes_match() -> None:
    # The set a non-ASCII path is checked against in one pass, before the regexes name what
    # they found (the tests above hold each regex to its Unicode category).
    matched = [
        cp
        for cp in range(0x110000)
        if CONTROL_CHARACTER.fullmatch(chr(cp)) or FORMAT_CHARACTER.fullmatch(chr(cp))
    ]
    assert sorted(map(ord, INVISIBLE_CHARACTERS)) == matched


def test_an_ascii_character_is_printable_exactly_when_it_is_not_a_control_character() -> None:
    # What lets _shape_problem check an ASCII path with str.isprintable.
    assert [chr(cp) for cp in range(0x80) if not chr(cp).isprintable()] == [
        chr(cp) for cp in range(0x80) if unicodedata.category(chr(cp)) == "Cc"
    ]


def test_ascii_text_has_no_format_character_and_is_always_nfc() -> None:
    # What lets _shape_problem skip both scans for an ASCII path.
    ascii_text = "".join(chr(cp) for cp in range(0x80))
    assert not any(unicodedata.category(c) == "Cf" for c in ascii_text)
    assert FORMAT_CHARACTER.search(ascii_text) is None
    assert all(unicodedata.is_normalized("NFC", c) for c in ascii_text)
    assert unicodedata.normalize("NFC", ascii_text) == ascii_text


def reference_shape_problem(path: str) -> str | None:
    """The shape rule character by character with unicodedata (the reference)."""
    if path.startswith("/"):
        return "absolute (leading '/')"
    if "\\" in path:
        return "contains a backslash"
    if any(unicodedata.category(ch) == "Cc" for ch in path):
        return "contains a NUL or control character"
    if invisible := [ch for ch in path if unicodedata.category(ch) == "Cf"]:
        return f"contains the invisible Unicode format character U+{ord(invisible[0]):04X}"
    if unicodedata.normalize("NFC", path) != path:
        return "not in Unicode NFC form"
    for piece in path.split("/"):
        if piece in ("", ".", ".."):
            return f"has an empty, '.' or '..' segment ({piece!r})"
    return None


@given(any_text)
@example("a\x9fb")
@example("a\xa0b")  # NO-BREAK SPACE: category Zs, allowed
@example("a\u200bb")  # ZERO WIDTH SPACE: category Cf, refused
@example("gpj.\u202eexe")  # RIGHT-TO-LEFT OVERRIDE: shows as "exe.jpg"
@example("\u212b/\x00")  # not NFC and a NUL: the control character is named first
@example("\u212b/\u2066")  # not NFC and a format character: the format character first
def test_validate_path_gives_the_reference_rules_answer_and_message(path: str) -> None:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return  # refused before the shape rules, by both
    expected = (
        reference_shape_problem(path) if 0 < len(path.encode("utf-8")) <= MAX_PATH_BYTES else ""
    )
    if expected is None:
        assert validate_path(path) == path
        return
    with pytest.raises(InvalidInput) as info:
        validate_path(path)
    if expected:
        assert info.value.message == f"invalid path {path!r}: {expected}"
