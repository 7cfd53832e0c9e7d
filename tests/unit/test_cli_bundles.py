"""Small blobs travel in bundles: the client against the contract fake, which checks each one."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest

from artifactstore.client.api import ApiClient
from artifactstore.client.bundles import group_bundles
from artifactstore.client.ingest import creation_body, ingest_run
from artifactstore.client.uploads import LocalBlob
from artifactstore.domain.bundles import BUNDLE_MAX_BYTES, BUNDLE_MAX_MEMBERS
from artifactstore.domain.digests import Digest
from artifactstore.domain.rundir import scan_run_directory
from artifactstore.errors import IntegrityError
from tests.unit.cli_fake_api import TOKEN, FakeApi, serve
from tests.unit.test_cli_client_flows import SCHEMA, offline_digest
from tests.unit.test_cli_commands import cli

BELOW = 1024  # files under 1 KiB go in bundles in these tests
TIMEOUT = 10.0  # the fake seals at once; a blob never sent fails fast instead of hanging


def make_run(root: Path, small: int = 40, big: int = 4096) -> Path:
    """A run with ``small`` distinct small files, two files sharing bytes, and one big file."""
    root.mkdir(parents=True)
    run = {
        "run_id": f"bundles-{root.name}",
        "target_profile_ref": "t",
        "assessment_profile_ref": "a",
        "result_status": "passed",
    }
    (root / "run.json").write_text(json.dumps(run))
    (root / "logs").mkdir()
    for n in range(small):
        (root / "logs" / f"{n:03d}.log").write_bytes(f"line {n}\n".encode() * (n + 1))
    (root / "same-a.txt").write_bytes(b"same bytes\n")
    (root / "same-b.txt").write_bytes(b"same bytes\n")
    (root / "empty").write_bytes(b"")
    (root / "big.bin").write_bytes(os.urandom(big))
    return root


def client_for(api: FakeApi, bundle_below: int = BELOW) -> ApiClient:
    transport = api.transport()
    return ApiClient(
        api.base_url, TOKEN, retries=0, backoff=0, transport=transport, bundle_below=bundle_below
    )


def puts(api: FakeApi) -> list[str]:
    return [path for method, path in api.requests if method == "PUT"]


def small_blobs(run: Path) -> dict[str, bytes]:
    files = [p.read_bytes() for p in run.rglob("*") if p.is_file() and p.stat().st_size < BELOW]
    return {str(Digest.of_bytes(data)): data for data in files}


def small_digests(run: Path) -> set[str]:
    return set(small_blobs(run))


class Recorded:
    """An ``IngestProgress`` that adds everything up."""

    def __init__(self) -> None:
        self.files_total = self.bytes_total = self.files_done = self.bytes_done = 0

    def phase(self, name: str) -> None:
        pass

    def add_total(self, blobs: int, size: int) -> None:
        self.files_total += blobs
        self.bytes_total += size

    def advance(self, size: int) -> None:
        self.bytes_done += size

    def blob_done(self) -> None:
        self.files_done += 1


def test_small_files_go_in_one_bundle_and_the_big_one_alone(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    api = FakeApi()
    progress = Recorded()
    with client_for(api) as client:
        result = ingest_run(client, run, SCHEMA, progress=progress, environ={}, timeout=TIMEOUT)
    assert result.manifest_digest == offline_digest(run)
    assert api.packages[result.package_id].state == "sealed"
    assert api.packages[result.package_id].body["bundle_below"] == BELOW
    # 40 logs + run.json + one shared content + the empty file: 43 small blobs, one bundle.
    assert [len(members) for members in api.bundle_puts] == [43]
    assert set(api.bundle_puts[0]) == small_digests(run)
    big = Digest.of_bytes((run / "big.bin").read_bytes())
    assert sorted(p.split("/")[3] for p in puts(api)) == sorted([big.hex, "bundles"])
    assert result.bytes_sent == api.bytes_received == sum(len(b) for b in api.blobs.values())
    # Bundled members count in the progress like single uploads: every file and byte is done.
    assert (progress.files_done, progress.bytes_done) == (44, result.bytes_sent)
    assert (progress.files_total, progress.bytes_total) == (44, result.bytes_sent)


def test_bundles_fill_across_pages_and_each_page_request_asks_for_them(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    api = FakeApi(page_size=5)  # nine pages of missing blobs
    with client_for(api) as client:
        result = ingest_run(client, run, SCHEMA, concurrency=3, environ={}, timeout=TIMEOUT)
    assert result.manifest_digest == offline_digest(run)
    pages = [p for m, p in api.requests if p.endswith("/upload-targets")]
    assert len(pages) == 8
    assert api.page_bundle_below == [BELOW] * 8
    assert [len(members) for members in api.bundle_puts] == [43]


def test_bundle_below_zero_sends_every_blob_alone(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    api = FakeApi(page_size=5)
    with client_for(api, bundle_below=0) as client:
        result = ingest_run(client, run, SCHEMA, environ={}, timeout=TIMEOUT)
    assert result.manifest_digest == offline_digest(run)
    assert "bundle_below" not in api.packages[result.package_id].body
    assert api.bundles == {} and api.page_bundle_below == [0] * 8
    assert len(puts(api)) == 44


def test_a_service_without_bundles_gets_single_uploads(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    api = FakeApi(bundles_supported=False)
    with client_for(api) as client:
        result = ingest_run(client, run, SCHEMA, environ={}, timeout=TIMEOUT)
    assert result.manifest_digest == offline_digest(run)
    # The first creation is refused for its unknown field; the second goes without it.
    assert [p for m, p in api.requests if m == "POST" and p == "/packages"] == ["/packages"] * 2
    assert "bundle_below" not in api.packages[result.package_id].body
    assert api.bundles == {} and len(puts(api)) == 44


def test_members_the_service_drops_are_not_sent(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    api = FakeApi()
    stored_elsewhere = {
        str(Digest.of_bytes(p.read_bytes())): p.read_bytes()
        for p in sorted((run / "logs").iterdir())[::3]
    }
    # Another package stores a third of the logs while this one waits for its bundle.
    api.on_bundle = lambda _asked: api.blobs.update(stored_elsewhere)
    with client_for(api) as client:
        result = ingest_run(client, run, SCHEMA, environ={}, timeout=TIMEOUT)
    assert result.manifest_digest == offline_digest(run)
    assert set(api.bundle_puts[0]) == small_digests(run) - set(stored_elsewhere)
    assert result.bytes_sent == api.bytes_received
    assert result.bytes_sent == sum(len(b) for b in api.blobs.values()) - sum(
        len(b) for b in stored_elsewhere.values()
    )


def test_a_bundle_whose_members_are_all_stored_is_not_put(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", small=3)
    api = FakeApi()
    small = small_blobs(run)
    api.on_bundle = lambda _asked: api.blobs.update(small)
    progress = Recorded()
    with client_for(api) as client:
        result = ingest_run(client, run, SCHEMA, progress=progress, environ={}, timeout=TIMEOUT)
    assert result.manifest_digest == offline_digest(run)
    assert [p for p in puts(api) if "/bundles/" in p] == []
    assert len(puts(api)) == 1  # the big file
    assert (progress.files_done, progress.bytes_done) == (
        progress.files_total,
        progress.bytes_total,
    )


def test_an_expired_bundle_url_is_asked_for_again(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    api = FakeApi(refuse_bundle_puts=1)
    with client_for(api) as client:
        result = ingest_run(client, run, SCHEMA, environ={}, timeout=TIMEOUT)
    assert result.manifest_digest == offline_digest(run)
    assert [p for m, p in api.requests if p.endswith("/bundles")] == [
        f"/packages/{result.package_id}/bundles"
    ] * 2
    # The bundle alone asked again: the package was not created (or resumed) a second time.
    assert [p for m, p in api.requests if m == "POST" and p == "/packages"] == ["/packages"]
    assert [len(members) for members in api.bundle_puts] == [43]


def test_a_file_changed_after_hashing_stops_its_bundle(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    log = run / "logs" / "007.log"
    api = FakeApi()
    api.on_bundle = lambda _asked: log.write_bytes(log.read_bytes().upper())
    with client_for(api) as client, pytest.raises(IntegrityError) as caught:
        ingest_run(client, run, SCHEMA, environ={}, timeout=TIMEOUT)
    assert caught.value.code == "file_changed"
    assert "logs/007.log" in caught.value.message
    (package,) = api.packages.values()
    assert api.bundle_puts == [] and package.rejected == {} and package.state == "draft"
    assert not any(data.endswith(b"LINE 7\n") for data in api.blobs.values())


@pytest.mark.parametrize("order", ["as_listed", "reversed"])
def test_the_fake_checks_bundle_bytes_in_member_order(tmp_path: Path, order: str) -> None:
    """The fake is strict, so a client sending members out of order fails the tests above."""
    run = make_run(tmp_path / "run", small=2)
    scan = scan_run_directory(run)
    entries = scan.hash()
    body = creation_body(scan.run_id, "ephemeral", "s", scan.metadata, entries, run, {})
    api = FakeApi(schemas={"s": {}})
    with httpx.Client(transport=api.transport(), base_url=api.base_url) as http:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        draft = http.post("/packages", json={**body, "bundle_below": BELOW}, headers=auth).json()
        listed = [b["digest"] for b in draft["bundle_blobs"]]
        answer = http.post(
            f"/packages/{draft['package_id']}/bundles", json={"blobs": listed}, headers=auth
        ).json()
        by_digest = {str(e.digest): (run / e.path).read_bytes() for e in entries}
        members = answer["blobs"] if order == "as_listed" else answer["blobs"][::-1]
        data = b"".join(by_digest[d] for d in members)
        put = http.put(answer["upload_target"]["url"], content=data)
    assert put.status_code == 200
    rejected = api.packages[draft["package_id"]].rejected
    if order == "as_listed":
        assert rejected == {} and set(listed) <= set(api.blobs)
    else:
        assert rejected and not set(rejected) & set(api.blobs)


def blob(n: int, size: int) -> LocalBlob:
    return LocalBlob(f"f{n}", Path(f"f{n}"), size, Digest.of_bytes(n.to_bytes(4, "big")))


def test_grouping_keeps_order_and_both_limits() -> None:
    many = [blob(n, 1) for n in range(2 * BUNDLE_MAX_MEMBERS + 500)]
    assert [len(g) for g in group_bundles(many)] == [BUNDLE_MAX_MEMBERS, BUNDLE_MAX_MEMBERS, 500]
    assert [b for g in group_bundles(many) for b in g] == many
    mib = [blob(n, 1 << 20) for n in range(130)]
    assert [len(g) for g in group_bundles(mib)] == [64, 64, 2]
    assert all(sum(b.size for b in g) <= BUNDLE_MAX_BYTES for g in group_bundles(mib))
    assert group_bundles([many[0], many[1], many[0]]) == [[many[0], many[1]]]
    assert group_bundles([]) == []


@pytest.mark.parametrize(("setting", "bundled"), [(None, 44), ("0", 0)], ids=["default", "off"])
def test_the_cli_takes_bundle_below_from_the_environment(
    tmp_path: Path, setting: str | None, bundled: int
) -> None:
    run = make_run(tmp_path / "run")
    api = FakeApi()
    env = {} if setting is None else {"ARTIFACTSTORE_BUNDLE_BELOW": setting}
    with serve(api) as url:
        env.update(ARTIFACTSTORE_API_URL=url, ARTIFACTSTORE_API_TOKEN=TOKEN)
        done = cli("guide-board", "ingest", run, "--schema", SCHEMA, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["manifest_digest"] == offline_digest(run)
    # The default (256 KiB) bundles every blob of this run, the 4 KiB file included.
    assert sum(len(m) for m in api.bundle_puts) == bundled


def test_a_bundle_of_one_empty_file_is_an_empty_put(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", small=3)
    api = FakeApi()
    empty = str(Digest.of_bytes(b""))
    others = {d: data for d, data in small_blobs(run).items() if d != empty}
    api.on_bundle = lambda _asked: api.blobs.update(others)
    with client_for(api) as client:
        result = ingest_run(client, run, SCHEMA, environ={}, timeout=TIMEOUT)
    assert result.manifest_digest == offline_digest(run)
    assert api.bundle_puts == [[empty]] and api.blobs[empty] == b""
