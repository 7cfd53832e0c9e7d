"""Path rules at the HTTP edge: invisible characters, and bodies of very deep paths."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from localdev.stack import LocalStack

from artifactstore.api.app import MAX_BODY_BYTES
from tests.integration import api_support
from tests.integration.api_support import Api, assert_error, package_body
from tests.integration.flow import AUTH, digest_of

JSON = {**AUTH, "Content-Type": "application/json"}
DEEP = "/".join(["d"] * 494)  # 987 bytes: a file name fits under the 1019-byte limit


@pytest.fixture(scope="module")
def api(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    for configured in api_support.api_for(stack, tmp_path_factory.mktemp("paths")):
        configured.register_pilot_schema()
        yield configured


@pytest.mark.parametrize(
    ("path", "character"),
    [
        ("logs/gpj.\u202eexe", "U+202E"),  # RIGHT-TO-LEFT OVERRIDE: displays as "exe.jpg"
        ("logs/run\u200b.log", "U+200B"),  # ZERO WIDTH SPACE: looks like logs/run.log
        ("logs/\u2066run.log", "U+2066"),  # LEFT-TO-RIGHT ISOLATE
        ("\U000e0041.txt", "U+E0041"),  # TAG LATIN CAPITAL LETTER A
    ],
)
def test_invisible_format_characters_are_refused(api: Api, path: str, character: str) -> None:
    body = package_body()
    body["files"][1] = {"path": path, "size": 1, "digest": digest_of(b"a")}
    before = api.stored()

    error = assert_error(api.post("/packages", body), 422, "invalid_path")

    assert error["details"] == {"path": path}
    assert f"invisible Unicode format character {character}" in error["message"]
    assert api.stored() == before


def test_a_body_of_thousands_of_500_segment_paths_is_answered(api: Api) -> None:
    # As much as the API takes (5.5 MB) of paths 495 segments deep, the last one a file that is
    # also a folder.
    body = package_body()
    files = [
        {"path": f"{DEEP}/f{i:05d}", "size": 1, "digest": digest_of(b"a")} for i in range(4_900)
    ]
    files.append({"path": DEEP, "size": 1, "digest": digest_of(b"a")})
    body["files"] = [*body["files"][:1], *files]
    raw = json.dumps(body).encode()
    assert 5_000_000 < len(raw) < MAX_BODY_BYTES
    before = api.stored()

    answer = api.client.post("/packages", content=raw, headers=JSON)

    error = assert_error(answer, 422, "path_prefix_conflict")
    assert error["details"] == {"file": DEEP, "nested": f"{DEEP}/f00000"}
    assert api.stored() == before
