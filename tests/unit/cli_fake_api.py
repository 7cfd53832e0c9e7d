"""A small in-memory artifact-store that speaks docs/api.md, for the client library's tests.

It answers ``httpx.Request`` objects (through ``httpx.MockTransport`` in process, or through
``serve()`` on a loopback port for subprocess tests), keeps blobs in memory, verifies every
upload's BLAKE3 like the verifier does and seals on finalize. Storage is at ``/_storage/...`` on
the same base URL, reached without the bearer token, as presigned URLs are.
"""

from __future__ import annotations

import fnmatch
import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import httpx

from artifactstore.domain.bundles import BUNDLE_MAX_MEMBERS, BUNDLE_MEMBER_MAX, bundle_id
from artifactstore.domain.digests import Digest
from artifactstore.domain.manifest import FileEntry, Manifest, canonical_json

TOKEN = "test-token"


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def _error(status: int, code: str, message: str, details: Any = None) -> httpx.Response:
    return _json(status, {"error": {"code": code, "message": message, "details": details}})


@dataclass
class Package:
    package_id: str
    key: str
    manifest: Manifest
    state: str = "draft"
    rejected: dict[str, str] = field(default_factory=dict)
    finalized: bool = False
    body: dict[str, Any] = field(default_factory=dict)
    snapshot: list[FileEntry] = field(default_factory=list)


@dataclass
class FakeApi:
    """The contract, minus durability: enough to drive ingest, download and the commands."""

    base_url: str = "http://fake.test"
    page_size: int = 1000
    multipart_threshold: int = 1 << 40
    part_size: int = 4
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    packages: dict[str, Package] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    parts: dict[tuple[str, int], bytes] = field(default_factory=dict)
    bytes_received: int = 0
    requests: list[tuple[str, str]] = field(default_factory=list)
    on_create: Callable[[], object] | None = None
    wrong_manifest_digest: bool = False  # a catalog that disagrees with the stored bytes
    put_budget: int | None = None  # after this many storage PUTs, refuse connections
    bundles_supported: bool = True  # False: a service from before bundles (422 on bundle_below)
    bundles: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # id -> members
    bundle_puts: list[list[str]] = field(default_factory=list)  # members of each bundle stored
    on_bundle: Callable[[list[str]], object] | None = None  # before a bundle request is answered
    page_bundle_below: list[int] = field(default_factory=list)  # per upload-targets page
    refuse_bundle_puts: int = 0  # answer this many bundle PUTs 403, as an expired URL is
    attestations: dict[str, bytes] = field(default_factory=dict)  # package id -> envelope
    signing_keys: list[dict[str, Any]] = field(default_factory=list)  # GET /signing-keys
    plan_page: int = 1000  # files per download-plan page
    plan_lies: dict[str, str] = field(default_factory=dict)  # path -> digest a plan claims
    # Plans place every file in one pack per package (its distinct blobs in digest order),
    # read by range; how storage answers a range can be made wrong.
    packed: bool = False
    range_answer: str = "right"  # right | whole (Range ignored) | longer (206 with extra bytes)
    pack_tamper: int | None = None  # flip this byte of the pack as served
    range_budget: int | None = None  # after this many ranged GETs, refuse connections
    lock: threading.Lock = field(default_factory=threading.Lock)

    def transport(self) -> httpx.MockTransport:
        """An httpx transport answering from this fake."""
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Route one request."""
        path = unquote(request.url.path)
        with self.lock:
            self.requests.append((request.method, path))
        if path.startswith("/_storage/"):
            return self._storage(request, path)
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return _error(401, "unauthorized", "missing or unknown token")
        for method, pattern, handler in self._routes():
            match = re.fullmatch(pattern, path)
            if match and request.method == method:
                with self.lock:
                    return handler(request, *match.groups())
        return _error(404, "not_found", f"no route {request.method} {path}")

    def _routes(self) -> list[tuple[str, str, Callable[..., httpx.Response]]]:
        return [
            ("GET", r"/metadata-schemas/([^/]+)", self._get_schema),
            ("POST", r"/metadata-schemas", self._post_schema),
            ("POST", r"/packages", self._create),
            ("GET", r"/packages/([^/]+)/upload-targets", self._targets_page),
            ("POST", r"/packages/([^/]+)/multipart/complete", self._complete),
            ("POST", r"/packages/([^/]+)/bundles", self._bundle),
            ("POST", r"/packages/([^/]+)/finalize", self._finalize),
            ("GET", r"/packages/([^/]+)/manifest", self._manifest),
            ("GET", r"/packages/([^/]+)/attestation", self._attestation),
            ("GET", r"/signing-keys", self._signing_keys),
            ("GET", r"/packages/([^/]+)/download-plan", self._plan),
            ("GET", r"/packages/([^/]+)/files/(.+)", self._file),
            ("GET", r"/packages/([^/]+)", self._package),
            ("GET", r"/packages", self._list),
        ]

    # --- schemas -------------------------------------------------------------------------

    def _get_schema(self, _request: httpx.Request, slug: str) -> httpx.Response:
        if slug not in self.schemas:
            return _error(404, "schema_not_found", f"no schema {slug}")
        return _json(200, {"slug": slug, "json_schema": self.schemas[slug]})

    def _post_schema(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        slug, schema = body["slug"], body["json_schema"]
        if slug in self.schemas:
            if canonical_json(self.schemas[slug]) != canonical_json(schema):
                return _error(409, "schema_conflict", f"{slug} holds another body")
            return _json(200, {"slug": slug, "json_schema": schema, "created": False})
        self.schemas[slug] = schema
        return _json(201, {"slug": slug, "json_schema": schema, "created": True})

    # --- packages ------------------------------------------------------------------------

    def _create(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        below = body.get("bundle_below", 0)
        if "bundle_below" in body and not self.bundles_supported:
            loc = ["body", "bundle_below"]
            detail = {"loc": loc, "code": "unknown_field", "message": "Extra inputs"}
            return _error(422, "unknown_field", "body/bundle_below: Extra inputs", [detail])
        if not isinstance(below, int) or not 0 <= below <= BUNDLE_MEMBER_MAX + 1:
            return _error(422, "invalid_value", "bundle_below out of range")
        if body["schema"] not in self.schemas:
            return _error(422, "schema_not_found", "unknown schema")
        files = [FileEntry.from_json(f) for f in body["files"]]
        manifest = Manifest.build(
            body["producer"], body["idempotency_key"], body["schema"], body["metadata"], files
        )
        existing = next(
            (p for p in self.packages.values() if p.key == manifest.idempotency_key), None
        )
        if self.on_create is not None:
            self.on_create()
        if existing is not None:
            if existing.manifest.digest() != manifest.digest():
                return _error(
                    409,
                    "idempotency_conflict",
                    "other content",
                    {"package_id": existing.package_id},
                )
            return _json(200, self._answer(existing, below))
        package = Package(
            f"00000000-0000-0000-0000-{len(self.packages) + 1:012d}",
            manifest.idempotency_key,
            manifest,
            body=body,
        )
        self.packages[package.package_id] = package
        return _json(201, self._answer(package, below))

    def _missing(self, package: Package) -> list[FileEntry]:
        seen: dict[str, FileEntry] = {}
        for f in package.manifest.files:
            if str(f.digest) not in self.blobs:
                seen.setdefault(str(f.digest), f)
        return list(seen.values())

    def _target(self, package: Package, entry: FileEntry) -> dict[str, Any]:
        base = f"{self.base_url}/_storage/{package.package_id}/{entry.digest.hex}"
        target: dict[str, Any] = {
            "digest": str(entry.digest),
            "size": entry.size,
            "method": "PUT",
            "headers": {"Content-Type": "application/octet-stream"},
            "expires_in": 900,
        }
        if entry.size < self.multipart_threshold:
            target["url"] = base
            return target
        target["upload_id"] = "up-" + entry.digest.hex[:8]
        target["parts"] = [
            {
                "part_number": n + 1,
                "url": f"{base}/{n + 1}",
                "offset": off,
                "size": min(self.part_size, entry.size - off),
            }
            for n, off in enumerate(range(0, entry.size, self.part_size))
        ]
        return target

    def _page(self, package: Package, start: int, below: int) -> tuple[dict[str, Any], str | None]:
        # Cursors index the list as it was when the answer was made, as a real cursor would.
        if start == 0:
            package.snapshot = self._missing(package)
        missing = package.snapshot
        page = missing[start : start + self.page_size]
        more = start + self.page_size < len(missing)
        lists: dict[str, Any] = {
            "upload_targets": [self._target(package, f) for f in page if f.size >= below]
        }
        if self.bundles_supported:
            small = [f for f in page if f.size < below]
            lists["bundle_blobs"] = [{"digest": str(f.digest), "size": f.size} for f in small]
        return lists, (str(start + self.page_size) if more else None)

    def _answer(self, package: Package, below: int) -> dict[str, Any]:
        if package.state == "sealed":
            return {
                **self._view(package),
                "reused_existing": True,
                "upload_targets": [],
                "next_upload_targets_cursor": None,
                "missing_blobs": 0,
            }
        lists, cursor = self._page(package, 0, below)
        return {
            **self._view(package),
            "reused_existing": False,
            **lists,
            "next_upload_targets_cursor": cursor,
            "missing_blobs": len(self._missing(package)),
        }

    def _view(self, package: Package) -> dict[str, Any]:
        sealed = package.state == "sealed"
        return {
            "package_id": package.package_id,
            "producer": package.manifest.producer,
            "idempotency_key": package.key,
            "state": package.state,
            "manifest_digest": self._digest_of(package) if sealed else None,
            "file_count": len(package.manifest.files),
            "total_bytes": package.manifest.total_bytes,
            "run_dir": package.body.get("run_dir"),
            "links": package.body.get("links"),
        }

    def _digest_of(self, package: Package) -> str:
        return (
            "blake3:" + "0" * 64 if self.wrong_manifest_digest else str(package.manifest.digest())
        )

    def _targets_page(self, request: httpx.Request, package_id: str) -> httpx.Response:
        params = request.url.params
        below = int(params.get("bundle_below", 0))
        self.page_bundle_below.append(below)
        below = below if self.bundles_supported else 0
        lists, cursor = self._page(self.packages[package_id], int(params["cursor"]), below)
        return _json(200, {**lists, "next_cursor": cursor})

    def _bundle(self, request: httpx.Request, package_id: str) -> httpx.Response:
        if not self.bundles_supported:
            return _error(404, "not_found", "no route")
        package = self.packages.get(package_id)
        if package is None:
            return _error(404, "package_not_found", f"no package {package_id}")
        if package.state != "draft":
            return _error(409, "not_a_draft", "only a draft takes uploads")
        asked = [str(d) for d in json.loads(request.content)["blobs"]]
        sizes = {str(f.digest): f.size for f in package.manifest.files}
        if not 1 <= len(asked) <= BUNDLE_MAX_MEMBERS:
            return _error(422, "too_many_blobs", f"{len(asked)} blobs")
        if len(set(asked)) != len(asked):
            return _error(422, "duplicate_blob", "a blob listed twice")
        if any(d not in sizes for d in asked):
            return _error(422, "blob_not_listed", "not in this draft")
        if any(sizes[d] > BUNDLE_MEMBER_MAX for d in asked):
            return _error(422, "blob_too_big_for_bundle", "too big")
        if self.on_bundle is not None:
            self.on_bundle(asked)
        kept = [d for d in asked if d not in self.blobs]
        if not kept:
            return _json(200, {"bundle_id": None, "blobs": [], "size": 0, "upload_target": None})
        name = bundle_id([Digest.parse(d) for d in kept])
        self.bundles[name] = [(d, sizes[d]) for d in kept]
        size = sum(sizes[d] for d in kept)
        target = {
            "digest": f"bundle:{name}",
            "size": size,
            "method": "PUT",
            "url": f"{self.base_url}/_storage/{package_id}/bundles/{name}",
            "headers": {"Content-Type": "application/octet-stream"},
            "expires_in": 900,
        }
        return _json(201, {"bundle_id": name, "blobs": kept, "size": size, "upload_target": target})

    def _verify_bundle(self, package: Package, name: str, data: bytes) -> httpx.Response:
        """Split a bundle by the members handed out for it; check each as the verifier does."""
        members = self.bundles[name]
        if self.refuse_bundle_puts > 0:
            self.refuse_bundle_puts -= 1
            return _error(403, "AccessDenied", "Request has expired")
        if len(data) != sum(size for _d, size in members):
            for digest, _size in members:
                package.rejected[digest] = f"size {len(data)}"
            return httpx.Response(200)
        offset = 0
        for digest, size in members:
            self._verify(package, Digest.parse(digest), data[offset : offset + size])
            offset += size
        self.bundle_puts.append([d for d, _s in members])
        return httpx.Response(200)

    def _complete(self, request: httpx.Request, package_id: str) -> httpx.Response:
        body = json.loads(request.content)
        digest = Digest.parse(body["digest"])
        data = b"".join(self.parts.pop((digest.hex, p["part_number"])) for p in body["parts"])
        self._verify(self.packages[package_id], digest, data)
        return _json(200, {"digest": str(digest)})

    def _verify(self, package: Package, digest: Digest, data: bytes) -> None:
        seen = Digest.of_bytes(data)
        if seen == digest:
            self.blobs[str(digest)] = data
            package.rejected.pop(str(digest), None)
        else:
            package.rejected[str(digest)] = str(seen)
        self._maybe_seal(package)

    def _maybe_seal(self, package: Package) -> None:
        if package.finalized and not self._missing(package) and not package.rejected:
            package.state = "sealed"

    def _finalize(self, _request: httpx.Request, package_id: str) -> httpx.Response:
        package = self.packages[package_id]
        if package.rejected:
            rejected = [{"digest": d, "seen_digest": s} for d, s in package.rejected.items()]
            return _error(409, "files_rejected", "rejected", {"rejected": rejected})
        package.finalized = True
        self._maybe_seal(package)
        if package.state == "sealed":
            return _json(200, self._view(package))
        return _json(
            202,
            {
                "package_id": package_id,
                "state": "draft",
                "waiting_for": len(self._missing(package)),
            },
        )

    def _package(self, _request: httpx.Request, package_id: str) -> httpx.Response:
        if package_id not in self.packages:
            return _error(404, "package_not_found", f"no package {package_id}")
        return _json(200, self._view(self.packages[package_id]))

    def _list(self, _request: httpx.Request) -> httpx.Response:
        return _json(
            200, {"items": [self._view(p) for p in self.packages.values()], "next_cursor": None}
        )

    def _manifest(self, _request: httpx.Request, package_id: str) -> httpx.Response:
        raw = self.packages[package_id].manifest.canonical_bytes()
        return httpx.Response(200, content=raw, headers={"content-type": "application/json"})

    def _attestation(self, _request: httpx.Request, package_id: str) -> httpx.Response:
        if package_id not in self.packages:
            return _error(404, "package_not_found", f"no package {package_id}")
        if package_id not in self.attestations:
            return _error(404, "attestation_pending", f"package {package_id} is not attested yet")
        return httpx.Response(200, content=self.attestations[package_id])

    def _signing_keys(self, _request: httpx.Request) -> httpx.Response:
        return _json(200, {"keys": self.signing_keys})

    def _plan(self, request: httpx.Request, package_id: str) -> httpx.Response:
        globs = request.url.params.get_list("include")
        after = request.url.params.get("cursor")
        files = sorted(self.packages[package_id].manifest.files, key=lambda f: f.path)
        chosen = [
            f
            for f in files
            if (after is None or f.path > after)
            and (not globs or any(fnmatch.fnmatchcase(f.path, g) for g in globs))
        ]
        page = chosen[: self.plan_page]
        base = f"{request.url.scheme}://{request.url.netloc.decode()}"
        offsets = self._pack_offsets(package_id) if self.packed else {}
        views = [
            {
                **f.to_json(),
                "digest": self.plan_lies.get(f.path, str(f.digest)),
                "url": f"{base}/_storage/pack/{package_id}"
                if self.packed
                else f"{base}/_storage/blob/{f.digest.hex}",
                "offset": offsets.get(f.digest.hex),
            }
            for f in page
        ]
        more = len(chosen) > len(page)
        return _json(200, {"files": views, "next_cursor": page[-1].path if more else None})

    def _pack_offsets(self, package_id: str) -> dict[str, int]:
        offsets: dict[str, int] = {}
        at = 0
        for hex_digest in sorted({f.digest.hex for f in self.packages[package_id].manifest.files}):
            offsets[hex_digest] = at
            at += len(self.blobs["blake3:" + hex_digest])
        return offsets

    def _pack(self, package_id: str) -> bytes:
        data = bytearray()
        for hex_digest in self._pack_offsets(package_id):
            data += self.blobs["blake3:" + hex_digest]
        if self.pack_tamper is not None:
            data[self.pack_tamper] ^= 0xFF
        return bytes(data)

    def _ranged(self, request: httpx.Request, data: bytes) -> httpx.Response:
        match = re.fullmatch(r"bytes=(\d+)-(\d+)", request.headers.get("range", ""))
        if match is None or self.range_answer == "whole":
            return httpx.Response(200, content=data)
        start, last = int(match[1]), int(match[2])
        extra = b"x" * 4096 if self.range_answer == "longer" else b""
        return httpx.Response(206, content=data[start : last + 1] + extra)

    def _file(self, _request: httpx.Request, package_id: str, path: str) -> httpx.Response:
        entry = next(f for f in self.packages[package_id].manifest.files if f.path == path)
        return httpx.Response(302, headers={"location": f"/_storage/blob/{entry.digest.hex}"})

    # --- storage -------------------------------------------------------------------------

    def _storage(self, request: httpx.Request, path: str) -> httpx.Response:
        parts = path.split("/")[2:]
        if request.method == "GET" and parts[0] == "blob":
            return httpx.Response(200, content=self.blobs["blake3:" + parts[1]])
        if request.method == "GET" and parts[0] == "pack":
            with self.lock:
                if self.range_budget is not None:
                    if self.range_budget <= 0:
                        raise httpx.ConnectError("storage is gone", request=request)
                    self.range_budget -= 1
            return self._ranged(request, self._pack(parts[1]))
        with self.lock:
            if self.put_budget is not None:
                if self.put_budget <= 0:
                    raise httpx.ConnectError("storage is gone", request=request)
                self.put_budget -= 1
        data = request.read()
        if len(data) != int(request.headers["content-length"]):
            return _error(400, "incomplete_body", "short body")
        with self.lock:
            self.bytes_received += len(data)
            package = self.packages[parts[0]]
            if len(parts) == 3 and parts[1] == "bundles":
                return self._verify_bundle(package, parts[2], data)
            if len(parts) == 3:
                self.parts[(parts[1], int(parts[2]))] = data
                return httpx.Response(200, headers={"ETag": f'"{parts[1][:6]}-{parts[2]}"'})
            self._verify(package, Digest(parts[1]), data)
        return httpx.Response(200)


@contextmanager
def serve(api: FakeApi) -> Iterator[str]:
    """Serve ``api`` over real HTTP on a free loopback port; yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_args: Any) -> None:
            pass

        def _any(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            request = httpx.Request(
                self.command, api.base_url + self.path, headers=dict(self.headers), content=body
            )
            try:
                response = api.handle(request)
            except httpx.ConnectError:
                self.close_connection = True
                return
            content = response.read()
            self.send_response(response.status_code)
            for key, value in response.headers.items():
                if key.lower() not in ("content-length", "transfer-encoding"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_PUT = do_POST = _any  # noqa: N815

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    api.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api.base_url
    finally:
        server.shutdown()
        server.server_close()
