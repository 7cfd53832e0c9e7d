"""The package browser (``/ui``) in a real browser: Playwright driving Debian's ``chromium``.

A person's walk against the local stack (``make dev`` on free ports): a wrong token, then the
right one; filter the list, open a package, collapse and expand a folder, read a log; compare two
runs and open the line diff of the changed log. A file named like markup stays text and never
runs script, with the CSP on and (in a context that bypasses it) on escaping alone; no page
reports a CSP violation.

Playwright's own browser download is never used: the tests launch the system ``chromium`` and
skip when it or the ``playwright`` package is missing (``.ci/run`` installs the browser).

With ``ARTIFACTSTORE_UPDATE_SCREENSHOTS=1`` the tests also write ``docs/ui-package.png`` and
``docs/ui-diff.png`` (shown in ``docs/ui.md``); otherwise they only check the pages render.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from tests.e2e.conftest import ROOT, SCHEMA, Stack, finalized_run

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, Response


XSS = "<img src=x onerror=alert(1)>.txt"
TOKEN = "dev-token"  # the local stack's (tests/e2e/conftest.py)
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # without these Chromium keeps trying to reach Google, which a closed network makes slow
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = os.environ.get("ARTIFACTSTORE_UPDATE_SCREENSHOTS") == "1"
DOCS = ROOT / "docs"
TIMEOUT_MS = 15_000


def _no_browser() -> str:
    """Why the tests cannot run here, or ""."""
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install -e '.[dev]')"
    if shutil.which("chromium") is None:
        return "no chromium on PATH (apt-get install chromium; .ci/run does it as root)"
    return ""


NO_BROWSER = _no_browser()
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xdist_group("ui-browser"),  # one worker: one browser, one pair of runs
    # checked before any fixture, so a machine without a browser starts no stack for these
    pytest.mark.skipif(bool(NO_BROWSER), reason=NO_BROWSER or "a browser is available"),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium under Playwright, or a skip saying which of the two is missing."""
    chromium = shutil.which("chromium")
    if NO_BROWSER or chromium is None:
        pytest.skip(NO_BROWSER or "no chromium on PATH")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Runs:
    """Two sealed runs of the same producer, ``old`` then ``new``."""

    old_id: str
    new_id: str
    old_key: str
    new_key: str


def _ingest(stack: Stack, run: Path) -> str:
    done = stack.cli("guide-board", "ingest", run, "--schema", SCHEMA)
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)["package_id"])


def _metadata(run: Path, **changes: str) -> None:
    data = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**data, **changes}))


@pytest.fixture(scope="module")
def runs(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """Yesterday's run, then today's: one log changed, one file added, one removed, the result
    changed, and a file named like markup; both ingested with the real CLI."""
    old = tmp_path_factory.mktemp("ui-old")
    old_key = finalized_run(old, "ui-browser")
    _metadata(old, result_status="passed")
    (old / "logs").mkdir()
    (old / "logs" / "run.log").write_text("step 1 ok\nstep 2 ok\nstep 3 ok\n")
    (old / "logs" / "setup.log").write_text("setup done\n")
    (old / "notes.txt").write_text("only in the old run\n")
    (old / "report.json").write_text(json.dumps({"cases": 3, "failed": 0}))

    new = tmp_path_factory.mktemp("ui-new")
    new_key = finalized_run(new, "ui-browser")
    _metadata(new, result_status="failed")
    (new / "logs").mkdir()
    (new / "logs" / "run.log").write_text("step 1 ok\nstep 2 FAILED: timeout\nstep 3 ok\n")
    (new / "logs" / "setup.log").write_text("setup done\n")
    (new / "report.json").write_text(json.dumps({"cases": 3, "failed": 0}))
    (new / "added.txt").write_text("only in the new run\n")
    (new / XSS).write_text("<script>alert(2)</script>\n")
    return Runs(_ingest(stack, old), _ingest(stack, new), old_key, new_key)


@dataclass
class Watched:
    """A page whose dialogs, page errors and CSP console messages are recorded."""

    page: Page
    dialogs: list[str] = field(default_factory=list)
    csp: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    documents: list[Response] = field(default_factory=list)

    def problems(self) -> list[str]:
        return [
            *(f"a dialog opened: {m!r}" for m in self.dialogs),
            *(f"CSP violation: {m}" for m in self.csp),
            *(f"page error: {m}" for m in self.errors),
        ]


def _watch(page: Page) -> Watched:
    watched = Watched(page)

    def on_dialog(dialog: Dialog) -> None:
        watched.dialogs.append(dialog.message)  # the test fails at teardown
        dialog.dismiss()

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            watched.csp.append(message.text)

    def on_response(response: Response) -> None:
        if response.request.resource_type == "document":
            watched.documents.append(response)

    page.on("dialog", on_dialog)
    page.on("console", on_console)
    page.on("pageerror", lambda error: watched.errors.append(str(error)))
    page.on("response", on_response)
    page.set_default_timeout(TIMEOUT_MS)
    return watched


def _open(browser: Browser, *, bypass_csp: bool = False) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=bypass_csp)
    try:
        watched = _watch(context.new_page())
        yield watched
        assert watched.problems() == []
        for response in watched.documents:
            if bypass_csp:
                continue
            policy = response.headers.get("content-security-policy", "")
            assert "default-src 'none'" in policy and "script-src 'self'" in policy, response.url
    finally:
        context.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Watched]:
    """A fresh browser context (no cookie) with its page watched; problems fail the test."""
    yield from _open(browser)


@pytest.fixture
def page_without_csp(browser: Browser) -> Iterator[Watched]:
    """The same, ignoring the pages' CSP: what escaping alone must hold."""
    yield from _open(browser, bypass_csp=True)


def _sign_in(page: Page, stack: Stack, token: str = TOKEN) -> None:
    page.goto(f"{stack.api_url}/ui/login")
    page.get_by_label("Token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def _screenshot(page: Page, name: str) -> None:
    """Write docs/NAME when asked to; otherwise only check the page renders to an image."""
    png = page.screenshot(full_page=True, animations="disabled")
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    if SCREENSHOTS:
        (DOCS / name).write_bytes(png)


def test_sign_in_filter_open_a_package_a_folder_and_a_log(
    stack: Stack, runs: Runs, page: Watched
) -> None:
    from playwright.sync_api import expect

    p = page.page
    # a page before signing in sends the browser to the form
    p.goto(f"{stack.api_url}/ui/")
    expect(p).to_have_url(re.compile(r"/ui/login"))

    _sign_in(p, stack, "not-a-real-token")
    expect(p.locator("#login-error")).to_contain_text("That token is not valid")
    expect(p.get_by_role("heading", name="Sign in")).to_be_visible()

    _sign_in(p, stack)
    expect(p.get_by_role("heading", name="Packages")).to_be_visible()

    # filter by producer and run id: exactly yesterday's run
    p.get_by_label("Producer", exact=True).fill("guide-board")
    p.get_by_label("Run id", exact=True).fill(runs.old_key)
    p.get_by_role("button", name="Filter").click()
    expect(p).to_have_url(re.compile(r"key=" + re.escape(runs.old_key)))
    rows = p.locator("table.packages tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("sealed")
    p.get_by_role("link", name=runs.old_key).click()

    expect(p).to_have_url(re.compile(rf"/ui/packages/{runs.old_id}$"))
    expect(p.get_by_role("heading", level=1)).to_contain_text(runs.old_key)
    expect(p.locator("table.metadata")).to_contain_text("result_status")
    expect(p.locator("#b3sum")).to_contain_text("b3sum --no-names")

    # collapse every folder (ui.js, allowed by the CSP), then expand logs/ by hand
    run_log = p.get_by_role("link", name="run.log", exact=True)
    expect(run_log).to_be_visible()
    p.get_by_role("button", name="Collapse all").click()
    expect(run_log).to_be_hidden()
    p.locator("details.folder > summary", has_text="logs/").click()
    expect(run_log).to_be_visible()
    run_log.click()

    expect(p.locator("h1.path")).to_have_text("logs/run.log")
    expect(p.locator("#content")).to_have_text("step 1 ok\nstep 2 ok\nstep 3 ok\n")
    expect(p.get_by_text("Verified: these bytes hash to the digest above")).to_be_visible()
    expect(p.get_by_role("link", name="Download")).to_be_visible()


def test_package_page_shows_a_markup_file_name_as_text(
    stack: Stack, runs: Runs, page: Watched
) -> None:
    from playwright.sync_api import expect

    p = page.page
    _sign_in(p, stack)
    p.goto(f"{stack.api_url}/ui/packages/{runs.new_id}")
    expect(p.get_by_role("link", name=XSS, exact=True)).to_be_visible()
    expect(p.locator("main img")).to_have_count(0)
    _screenshot(p, "ui-package.png")

    p.get_by_role("link", name=XSS, exact=True).click()
    expect(p.locator("h1.path")).to_have_text(XSS)
    expect(p.locator("#content")).to_have_text("<script>alert(2)</script>\n")
    expect(p.locator("main script")).to_have_count(0)


def test_escaping_alone_holds_with_the_csp_bypassed(
    stack: Stack, runs: Runs, page_without_csp: Watched
) -> None:
    from playwright.sync_api import expect

    p = page_without_csp.page
    _sign_in(p, stack)
    for path in (
        f"/ui/packages/{runs.new_id}",
        f"/ui/diff?from={runs.old_id}&to={runs.new_id}",
        f"/ui/?producer=guide-board&key={runs.new_key}",
    ):
        p.goto(stack.api_url + path)
        expect(p.locator("main img")).to_have_count(0)
    p.get_by_role("link", name=runs.new_key).click()
    p.get_by_role("link", name=XSS, exact=True).click()
    expect(p.locator("#content")).to_have_text("<script>alert(2)</script>\n")
    p.wait_for_timeout(300)  # an injected onerror/script would have fired by now
    assert page_without_csp.dialogs == []


def test_diff_of_two_runs_and_the_line_diff_of_the_changed_log(
    stack: Stack, runs: Runs, page: Watched
) -> None:
    from playwright.sync_api import expect

    p = page.page
    _sign_in(p, stack)
    p.get_by_role("link", name="Diff", exact=True).click()
    p.get_by_label("From package id").fill(runs.old_id)
    p.get_by_label("To package id").fill(runs.new_id)
    p.get_by_role("button", name="Compare").click()

    expect(p.get_by_role("heading", name="Diff", exact=True)).to_be_visible()
    expect(p.locator("#summary")).to_contain_text("2 added, 1 removed, 2 changed")
    added = p.locator("tr.added")
    expect(added).to_have_count(2)
    expect(added.filter(has_text="added.txt")).to_have_count(1)
    expect(added.filter(has_text=XSS)).to_have_count(1)
    expect(p.locator("tr.removed")).to_have_text(re.compile(r"notes\.txt"))
    changed = p.locator("tr.changed")
    expect(changed.filter(has_text="logs/run.log")).to_have_count(1)
    status = p.locator("table.metadata tr", has_text="/result_status")
    expect(status).to_contain_text("passed")
    expect(status).to_contain_text("failed")
    expect(p.locator("main img")).to_have_count(0)
    _screenshot(p, "ui-diff.png")

    p.get_by_role("link", name="logs/run.log", exact=True).click()
    expect(p.locator("h1.path")).to_have_text("logs/run.log")
    expect(p.locator("#linediff .del")).to_contain_text("-step 2 ok")
    expect(p.locator("#linediff .add")).to_contain_text("+step 2 FAILED: timeout")
    p.get_by_role("link", name="← the diff").click()
    expect(p.locator("#summary")).to_be_visible()


def test_the_csp_refuses_injected_inline_script_and_the_watch_sees_it(
    stack: Stack, runs: Runs, page: Watched
) -> None:
    """The control for the checks above: script markup that got in is refused by the CSP, and
    the refusal reaches the console messages the other tests assert are absent."""
    p = page.page
    _sign_in(p, stack)
    p.goto(f"{stack.api_url}/ui/packages/{runs.new_id}")
    p.evaluate(
        """() => {
            const s = document.createElement("script");
            s.textContent = "alert('injected')";
            document.body.appendChild(s);
            const img = document.createElement("img");
            img.setAttribute("src", "x");
            img.setAttribute("onerror", "alert('injected')");
            document.body.appendChild(img);
        }"""
    )
    p.wait_for_timeout(500)
    assert page.dialogs == []
    assert len(page.csp) >= 1, "Chromium reported no CSP refusal"
    page.csp.clear()  # seen: the teardown's check is for refusals nobody provoked
