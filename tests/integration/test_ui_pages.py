"""The package browser (``/ui``): sign-in, pages, escaping, CSP, through the app on moto."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from localdev.stack import LocalStack

from artifactstore.api.app import create_app
from tests.integration.conftest import configured_for
from tests.integration.flow import AUTH, Harness
from tests.integration.sealing import seal

XSS = "<img src=x onerror=alert(1)>.txt"
TOKEN = "test-admin-token"


@pytest.fixture(scope="module")
def h(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    with configured_for(stack, tmp_path_factory.mktemp("ui") / "storage", "*:*=local") as cfg:
        yield Harness.start(cfg)


@pytest.fixture(scope="module")
def runs(h: Harness) -> tuple[dict[str, object], dict[str, object]]:
    old = seal(
        h,
        {
            "logs/run.log": b"step 1 ok\nstep 2 FAILED\n",
            "data.json": b'{"b":1,"a":[1,2]}',
            "bin/blob.bin": b"\x00\x01\x02",
            XSS: b"<script>alert(2)</script>",
        },
        result_status="failed",
        extra={"nested": {"deep": "<b>x</b>"}},
    )
    new = seal(
        h,
        {
            "logs/run.log": b"step 1 ok\nstep 2 ok\n",
            "data.json": b'{"b":1,"a":[1,2]}',
            "new.txt": b"new",
        },
        result_status="passed",
        extra={"nested": {"deep": "y"}},
    )
    return old, new


def browser(h: Harness) -> TestClient:
    client = TestClient(create_app(), base_url="http://testserver")
    answer = client.post("/ui/login", data={"token": TOKEN}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return client


def test_login_sets_a_strict_cookie_and_logout_forgets_it(h: Harness) -> None:
    client = TestClient(create_app())
    form = client.get("/ui/login")
    assert form.status_code == 200 and 'name="token"' in form.text
    assert "script-src 'self'" in form.headers["content-security-policy"]
    answer = client.post("/ui/login", data={"token": TOKEN}, follow_redirects=False)
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert "Secure" not in cookie  # plain HTTP here
    assert answer.headers["location"] == "/ui/"
    assert client.get("/ui/").status_code == 200
    out = client.post("/ui/logout", follow_redirects=False)
    assert out.status_code == 303 and 'artifactstore_ui=""' in out.headers["set-cookie"]
    client.cookies.clear()
    gone = client.get("/ui/", follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"].startswith("/ui/login?next=")


def test_secure_cookie_over_https(h: Harness) -> None:
    client = TestClient(create_app(), base_url="https://testserver")
    answer = client.post("/ui/login", data={"token": TOKEN}, follow_redirects=False)
    assert "Secure" in answer.headers["set-cookie"]


def test_wrong_token_is_a_clear_message(h: Harness) -> None:
    client = TestClient(create_app())
    answer = client.post("/ui/login", data={"token": "nope"}, follow_redirects=False)
    assert answer.status_code == 401
    assert "not valid" in answer.text and "set-cookie" not in answer.headers
    client.cookies.set("artifactstore_ui", "nope", path="/ui")
    assert client.get("/ui/", follow_redirects=False).status_code == 303


def test_next_goes_only_to_ui_pages(h: Harness) -> None:
    client = TestClient(create_app())
    evil = client.post(
        "/ui/login", data={"token": TOKEN, "next": "//evil.example/"}, follow_redirects=False
    )
    assert evil.headers["location"] == "/ui/"


def test_index_lists_and_filters(h: Harness, runs: tuple[dict[str, object], ...]) -> None:
    old, new = runs
    client = browser(h)
    page = client.get("/ui/")
    assert page.status_code == 200
    assert page.text.index(str(new["idempotency_key"])) < page.text.index(
        str(old["idempotency_key"])
    )
    one = client.get("/ui/", params={"producer": "guide-board", "key": old["idempotency_key"]})
    assert str(old["package_id"]) in one.text and str(new["package_id"]) not in one.text
    none = client.get("/ui/", params={"retention_class": "no-such-class"})
    assert "No packages match" in none.text
    kept = client.get(
        "/ui/", params={"retention_class": "release-evidence", "schema": "guide-board.run.v1"}
    )
    assert str(new["package_id"]) in kept.text


def test_package_page(h: Harness, runs: tuple[dict[str, object], ...]) -> None:
    old, _ = runs
    page = browser(h).get(f"/ui/packages/{old['package_id']}")
    assert page.status_code == 200
    text = page.text
    assert str(old["manifest_digest"]) in text
    assert "b3sum --no-names" in text and str(old["manifest_digest"])[7:] in text
    assert "release-evidence" in text and "GOVERNANCE" in text
    assert '<details open class="folder"><summary>logs/</summary>' in text
    assert "&lt;b&gt;x&lt;/b&gt;" in text and "<b>x</b>" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;.txt" in text and "<img" not in text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "<script>" not in text.replace('<script src="/ui/static/ui.js" defer></script>', "")


def test_file_pages(h: Harness, runs: tuple[dict[str, object], ...]) -> None:
    old, _ = runs
    client = browser(h)
    base = f"/ui/packages/{old['package_id']}/files/"
    log = client.get(base + "logs/run.log")
    assert log.status_code == 200 and "step 2 FAILED" in log.text and "Verified" in log.text
    data = client.get(base + "data.json")
    assert "&#34;a&#34;: [\n    1," in data.text
    binary = client.get(base + "bin/blob.bin")
    assert "Binary file" in binary.text
    xss = client.get(base + quote(XSS))
    assert xss.status_code == 200
    assert (
        "&lt;script&gt;alert(2)&lt;/script&gt;" in xss.text and "alert(2)</script>" not in xss.text
    )
    raw = client.get(f"/ui/packages/{old['package_id']}/raw/logs/run.log", follow_redirects=False)
    assert raw.status_code == 302
    missing = client.get(base + "nope.txt")
    assert missing.status_code == 404 and "file_not_found" in missing.text
    assert "content-security-policy" in missing.headers


def test_diff_pages(h: Harness, runs: tuple[dict[str, object], ...]) -> None:
    old, new = runs
    client = browser(h)
    page = client.get("/ui/diff", params={"from": old["package_id"], "to": new["package_id"]})
    assert page.status_code == 200
    assert "1 added, 2 removed, 1 changed" in page.text
    assert "/result_status" in page.text and "/extra/nested/deep" in page.text
    assert "&lt;img src=x onerror=alert(1)&gt;.txt" in page.text
    line = client.get(
        "/ui/diff/file",
        params={"from": old["package_id"], "to": new["package_id"], "path": "logs/run.log"},
    )
    assert '<span class="del">-step 2 FAILED</span>' in line.text
    assert '<span class="add">+step 2 ok</span>' in line.text
    form = client.get("/ui/diff")
    assert form.status_code == 200 and 'name="from"' in form.text


def test_static_assets(h: Harness) -> None:
    client = TestClient(create_app())
    css = client.get("/ui/static/ui.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert client.get("/ui/static/ui.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/ui/static/../app.py").status_code == 404
    assert client.get("/ui/static/other.js").status_code == 404


def test_api_routes_still_json(h: Harness) -> None:
    assert h.client.get("/packages", headers=AUTH).status_code == 200
