"""Each moto patch in ``localdev/`` still works around a bug the pinned moto has.

The probes run on unpatched moto in a fresh interpreter (``python -m localdev.motoserver
--check-patches``): this process may have patched moto already. When a moto upgrade fixes a
bug, its test here fails: drop that patch and its probe.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from localdev.motoserver import ObsoletePatch, check_patches

ROOT = Path(__file__).resolve().parents[2]

PATCHES = {
    # localdev/moto_s3.py
    "moto_s3.notification_versions": "notifications name no version and no sequencer",
    "moto_s3.multipart_single_notification": "CompleteMultipartUpload notifies twice",
    "moto_s3.copy_if_none_match": "CopyObject ignores If-None-Match: *",
    "moto_s3.copy_lock_without_checksum": "CopyObject with lock headers wants a checksum",
    "moto_s3.delete_marker_tagging": "DeleteObjectTagging on a delete marker is a 500",
    # localdev/moto_dynamodb.py
    "moto_dynamodb.transact_write_items": "a cancelled transaction loses others' writes",
    "moto_dynamodb.query_partition": "a query on the table's key walks the whole table",
}


@pytest.fixture(scope="module")
def probed() -> dict[str, bool | None]:
    """``{patch: bug still there}`` from unpatched moto."""
    done = subprocess.run(
        [sys.executable, "-m", "localdev.motoserver", "--check-patches"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    found: dict[str, bool | None] = json.loads(done.stdout)
    assert done.returncode == (0 if all(found.values()) else 1), done.stderr
    return found


def test_every_patch_has_a_probe(probed: dict[str, bool | None]) -> None:
    assert set(probed) == set(PATCHES)


@pytest.mark.parametrize("patch", sorted(PATCHES))
def test_the_pinned_moto_still_has_the_bug(probed: dict[str, bool | None], patch: str) -> None:
    assert probed[patch] is True, f"moto fixed it ({PATCHES[patch]}): drop the patch {patch}"


def test_a_fixed_bug_is_reported_loudly(caplog: pytest.LogCaptureFixture) -> None:
    def fixed() -> bool:
        """A bug moto has fixed."""
        return False

    def present() -> bool:
        """A bug moto still has."""
        return True

    with caplog.at_level(logging.WARNING), pytest.warns(ObsoletePatch) as warned:
        found = check_patches("moto_x", {"gone": fixed, "kept": present})
    assert found == {"gone": False, "kept": True}
    (warning,) = warned
    assert "moto_x.gone" in str(warning.message)
    assert "the patch can go: A bug moto has fixed." in str(warning.message)
    assert [r.getMessage() for r in caplog.records] == [str(warning.message)]


def test_a_probe_that_no_longer_runs_is_reported_loudly() -> None:
    def broken() -> bool:
        """A probe of moto internals that moved."""
        raise AttributeError("no such internal")

    with pytest.warns(ObsoletePatch, match=r"moto_x\.moved: its probe failed .*review the patch"):
        assert check_patches("moto_x", {"moved": broken}) == {"moved": None}
