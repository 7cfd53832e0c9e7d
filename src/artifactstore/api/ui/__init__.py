"""The package browser: server-rendered pages under ``/ui`` (Jinja2, autoescaped), same app.

The pages read through the service layer with the same tokens as the API: signing in keeps
the token in an HttpOnly, SameSite=Strict cookie scoped to ``/ui``, checked on every page by
``auth.authenticate`` (a read token is enough; the pages change nothing). Every answer carries
a strict Content-Security-Policy: scripts, styles and images only from this app, no inline
script or style, no framing.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Coroutine
from functools import lru_cache
from importlib import resources
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlencode

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute

from artifactstore.api.auth import Principal, authenticate
from artifactstore.api.file_answers import file_answer
from artifactstore.domain.packages import PackageState
from artifactstore.domain.paths import validate_path
from artifactstore.errors import ArtifactStoreError, AuthError, InvalidInput
from artifactstore.service import browse, diff, reading
from artifactstore.service.factory import services

COOKIE = "artifactstore_ui"
PAGE_SIZE = 50
FILES_PAGE = 500
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
STATIC = {"ui.css": "text/css; charset=utf-8", "ui.js": "text/javascript; charset=utf-8"}


class SecuredRoute(APIRoute):
    """Adds the security headers to every answer of a ``/ui`` route."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def secured(request: Request) -> Response:
            response = await handler(request)
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return secured


router = APIRouter(prefix="/ui", route_class=SecuredRoute, include_in_schema=False)


@lru_cache(maxsize=1)
def _env() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("artifactstore.api.ui", "templates"),
        autoescape=True,  # every template, whatever its name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["size"] = human_size
    env.filters["short"] = lambda d: str(d)[:19] + "…" if d and len(str(d)) > 20 else str(d or "")
    env.filters["json"] = lambda v: json.dumps(v, ensure_ascii=False)
    env.filters["q"] = lambda v: quote(str(v), safe="/")
    env.filters["signed"] = lambda n: f"+{human_size(n)}" if n > 0 else f"-{human_size(-n)}"
    return env


def human_size(n: int) -> str:
    """1536 → "1.5 KiB"."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """One page from its template, with the app's root path for links."""
    base = request.scope.get("root_path", "") + "/ui"
    body = _env().get_template(name).render(base=base, request=request, **context)
    return HTMLResponse(body, status_code=status)


def _signed_in(request: Request) -> Principal | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    try:
        principal = authenticate(services(), f"Bearer {token}")
    except AuthError:
        return None
    return principal if "read" in principal.scopes else None


def _to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    base = request.scope.get("root_path", "") + "/ui"
    return RedirectResponse(f"{base}/login?{urlencode({'next': target})}", status_code=303)


def _error_page(request: Request, exc: ArtifactStoreError) -> HTMLResponse:
    from artifactstore.api.errors import status_for

    status = status_for(exc)
    return render(
        request, "error.html", status=status, status_code=status, code=exc.code, message=exc.message
    )


def page(
    view: Callable[..., Response],
) -> Callable[..., Response]:
    """Signed-in pages: to the login form without a valid cookie; our errors as a page."""
    import functools

    @functools.wraps(view)
    def wrapped(request: Request, *args: Any, **kwargs: Any) -> Response:
        if _signed_in(request) is None:
            return _to_login(request)
        try:
            return view(request, *args, **kwargs)
        except ArtifactStoreError as exc:
            return _error_page(request, exc)

    return wrapped


# --- signing in ---------------------------------------------------------------------------


def _safe_next(value: str | None, base: str) -> str:
    if value and value.startswith("/ui/") and not value.startswith("//") and "\\" not in value:
        return value
    return base + "/"


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> Response:
    """The sign-in form: one field, ``token``."""
    return render(request, "login.html", next=next or "", message=None)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    """Check the token as the API would; keep it in an HttpOnly, SameSite=Strict cookie."""
    form = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=10)
    token = (form.get("token") or [""])[0].strip()
    next_page = (form.get("next") or [""])[0]
    message = None
    principal: Principal | None = None
    if not token:
        message = "Enter a token."
    else:
        try:
            principal = authenticate(services(), f"Bearer {token}")
        except AuthError:
            message = "That token is not valid: it is unknown or has been revoked."
    if principal is None or message:
        return render(request, "login.html", status=401, next=next_page, message=message)
    base = request.scope.get("root_path", "") + "/ui"
    response = RedirectResponse(_safe_next(next_page, base), status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        path=base,
        httponly=True,
        samesite="strict",
        secure=_https(request),
    )
    return response


def _https(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "")
    return request.url.scheme == "https" or forwarded.split(",")[0].strip() == "https"


@router.post("/logout")
def logout(request: Request) -> Response:
    """Forget the cookie."""
    base = request.scope.get("root_path", "") + "/ui"
    response = RedirectResponse(f"{base}/login", status_code=303)
    response.delete_cookie(
        COOKIE, path=base, httponly=True, samesite="strict", secure=_https(request)
    )
    return response


@router.get("/static/{name}")
def static(name: str) -> Response:
    """The stylesheet and the small script (no build step, nothing from elsewhere)."""
    if name not in STATIC:
        return Response("not found", status_code=404, media_type="text/plain")
    data = resources.files("artifactstore.api.ui").joinpath("static", name).read_bytes()
    return Response(data, media_type=STATIC[name], headers={"Cache-Control": "public, max-age=300"})


# --- pages --------------------------------------------------------------------------------

Opt = Annotated[str | None, Query(max_length=1024)]


def _blank(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


@router.get("/", response_class=HTMLResponse)
@page
def index(
    request: Request,
    producer: Opt = None,
    state: Opt = None,
    retention_class: Opt = None,
    schema: Opt = None,
    key: Opt = None,
    cursor: Opt = None,
) -> Response:
    """Packages, newest first, filtered and paged."""
    filters = {
        "producer": _blank(producer),
        "state": _blank(state),
        "retention_class": _blank(retention_class),
        "schema": _blank(schema),
        "key": _blank(key),
    }
    if filters["state"] not in (None, *(s.value for s in PackageState)):
        raise InvalidInput(f"unknown state {filters['state']!r}", code="invalid_parameter")
    if filters["producer"] is None and filters["state"] is None:
        filters["state"] = PackageState.SEALED.value  # the catalog lists by state or producer
    listing = browse.list_packages(services(), **filters, limit=PAGE_SIZE, cursor=_blank(cursor))
    next_query = (
        urlencode({**{k: v for k, v in filters.items() if v}, "cursor": listing.next_cursor})
        if listing.next_cursor
        else None
    )
    return render(
        request,
        "index.html",
        items=listing.items,
        filters=filters,
        states=[s.value for s in PackageState],
        next_query=next_query,
    )


@router.get("/packages/{package_id}", response_class=HTMLResponse)
@page
def package_page(request: Request, package_id: str, files_cursor: Opt = None) -> Response:
    """One package: state, history, metadata, digest, retention, links and a page of files."""
    shown = browse.package_page(services(), package_id, FILES_PAGE, _blank(files_cursor))
    record, files = shown.record, shown.files
    api_base = str(request.base_url).rstrip("/")
    return render(
        request,
        "package.html",
        p=record,
        view=shown.view,
        metadata_rows=browse.metadata_rows(record.metadata),
        tree=browse.file_tree(list(files.items)),
        next_files=files.next_cursor,
        first_page=files_cursor is None,
        retention=shown.retention,
        api_base=api_base,
    )


@router.get("/packages/{package_id}/files/{path:path}", response_class=HTMLResponse)
@page
def file_page(request: Request, package_id: str, path: str) -> Response:
    """One file: text and JSON inline (verified, up to a limit), anything else as a link."""
    read = browse.read_file(services(), package_id, validate_path(path))
    text = _text(read.data)
    pretty = False
    if text is not None and path.endswith(".json"):
        try:
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
            pretty = True
        except ValueError:
            pass
    return render(
        request,
        "file.html",
        p=read.record,
        f=read.entry,
        text=text,
        pretty=pretty,
        too_big=read.data is None,
        limit=browse.INLINE_LIMIT,
    )


@router.get("/packages/{package_id}/raw/{path:path}")
@page
def raw_file(request: Request, package_id: str, path: str) -> Response:
    """The file's bytes: 302 to the same short-lived URL the API hands out (a packed file's
    bytes are answered here, as the API does)."""
    return file_answer(reading.file_source(services(), package_id, validate_path(path)))


@router.get("/diff", response_class=HTMLResponse)
@page
def diff_page(
    request: Request,
    from_id: Annotated[str | None, Query(alias="from", max_length=64)] = None,
    to_id: Annotated[str | None, Query(alias="to", max_length=64)] = None,
) -> Response:
    """Files added, removed and changed, the size delta and the metadata that differs."""
    if not from_id or not to_id:
        return render(request, "diff_form.html", from_id=from_id or "", to_id=to_id or "")
    result = diff.diff_packages(services(), from_id, to_id)
    return render(request, "diff.html", d=result, r=result.diff)


@router.get("/diff/file", response_class=HTMLResponse)
@page
def file_diff_page(
    request: Request,
    path: Annotated[str, Query(max_length=4096)],
    from_id: Annotated[str, Query(alias="from", max_length=64)],
    to_id: Annotated[str, Query(alias="to", max_length=64)],
) -> Response:
    """A changed text file as a line diff (both sides verified, each up to the inline limit)."""
    svc = services()
    old = browse.read_file(svc, from_id, validate_path(path))
    new = browse.read_file(svc, to_id, validate_path(path))
    a, b = _text(old.data), _text(new.data)
    lines: list[str] | None = None
    if a is not None and b is not None:
        lines = list(
            difflib.unified_diff(
                a.splitlines(), b.splitlines(), f"{from_id}/{path}", f"{to_id}/{path}", lineterm=""
            )
        )
    return render(
        request,
        "file_diff.html",
        path=path,
        from_id=from_id,
        to_id=to_id,
        lines=lines,
        old=old,
        new=new,
    )


def _text(data: bytes | None) -> str | None:
    """UTF-8 text without NUL characters, else None (shown as a binary file)."""
    if data is None:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if "\x00" in text else text
